"""``from michelangelo.uniflow.plugins.ray import RayTask``."""
from michelangelo.uniflow.core import RayTask  # noqa: F401
