"""ensemble-tui: mission control in the terminal for a team of OpenCode agents."""

__version__ = "0.1.0"
