"""Click verbs of the `ofa-mcu` command, one module per verb (see ofa_mcu/cli.py)."""
