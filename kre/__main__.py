"""`python -m kre` (also what `torchrun -m kre` runs)."""

from .cli import main

main()
