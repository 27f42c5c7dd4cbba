"""`python -m ensemble_tui` runs the command line."""

from ensemble_tui.cli import main

main()
