"""larkflow's shim of ``michelangelo.uniflow``: see ``michelangelo.uniflow.core``."""
