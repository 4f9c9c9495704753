"""Data-parallel training epochs launched with torchrun: `linreg-bench ddp`.

config (what is asked), launcher + processes (torchrun per world size, timeouts, no orphans),
rank (the worker torchrun runs) + comm (the all-reduce timer), parity, records, scaling (the
run end to end), summary + plot (the report's section and figure), command (the CLI).
Nothing heavy is imported here: the report imports `summary` for its section.
"""
