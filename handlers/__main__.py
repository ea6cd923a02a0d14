"""`python -m handlers` runs the `pop` command (what the console script calls)."""

from handlers.cli import main

main()
