"""The `ensemble-tui` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ensemble_tui import __version__
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.server import OpenCodeStartError
from ensemble_tui.opencode.version import UnsupportedVersionError

DESCRIPTION = """\
Mission control in the terminal for a team of OpenCode agents: a lead plans, teammates
work in parallel in their own git worktrees, and their branches come back to your
working directory as unstaged changes.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for `ensemble-tui` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ensemble-tui",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ensemble-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "demo",
        help="watch the real OpenCode driven by a scripted model (no API key needed)",
        description=(
            "Create a throwaway repository, start the real OpenCode with a scripted model "
            "and run an agent turn in a git worktree, printing its events as they happen. "
            "Needs `opencode` on PATH or ENSEMBLE_OPENCODE_BIN (`make demo` installs it)."
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        sys.exit(0)
    try:
        if args.command == "demo":
            from ensemble_tui.demo.first_turn import run_first_turn

            asyncio.run(run_first_turn())
    except (OpenCodeStartError, OpenCodeError, UnsupportedVersionError) as error:
        print(f"ensemble-tui: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
