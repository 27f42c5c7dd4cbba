"""The `ensemble-tui` command line."""

from __future__ import annotations

import argparse
import sys

from ensemble_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for `ensemble-tui` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ensemble-tui",
        description="Mission control in the terminal for a team of OpenCode agents.",
    )
    parser.add_argument("--version", action="version", version=f"ensemble-tui {__version__}")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    parser = build_parser()
    parser.parse_args(argv)
    sys.exit(0)
