"""larkflow's stdlib-only shim of Uber Michelangelo's ``michelangelo`` package (the Uniflow parts)."""
