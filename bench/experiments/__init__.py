"""Experiments, the workflow's step 5: `linreg-bench sweep` over train's own settings."""
