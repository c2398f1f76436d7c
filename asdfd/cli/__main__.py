"""`python -m asdfd.cli ...` (what torchrun launches for multi-GPU distillation)."""

from asdfd.cli import main

main()
