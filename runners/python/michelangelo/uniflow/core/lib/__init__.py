"""larkflow's shim of ``michelangelo.uniflow.core.lib``."""
