"""larkflow's shim of ``michelangelo.uniflow.plugins``."""
