"""``from michelangelo.uniflow.plugins.spark import SparkTask``."""
from michelangelo.uniflow.core import SparkTask  # noqa: F401
