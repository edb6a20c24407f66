"""`python -m ofa_mcu` (and `torchrun -m ofa_mcu`) runs the command-line interface."""

from ofa_mcu.cli import main

main()
