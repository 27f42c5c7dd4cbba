"""The `ensemble-tui` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ensemble_tui import __version__
from ensemble_tui.core.repository import RepositoryError, resolve_repository
from ensemble_tui.opencode.client import OpenCodeError
from ensemble_tui.opencode.server import OpenCodeStartError
from ensemble_tui.opencode.version import UnsupportedVersionError

DESCRIPTION = """\
Mission control in the terminal for a team of OpenCode agents: a lead plans, teammates
work in parallel in their own git worktrees, and their branches come back to your
working directory as unstaged changes.

With no COMMAND, `ensemble-tui [PATH]` opens the screen on the repository at PATH
(default: .), starting `opencode serve` for it, or attaching to one with --url.
"""
USAGE = "ensemble-tui [PATH] [--url URL] [--password PW]\n       ensemble-tui COMMAND ..."
COMMANDS = ("demo", "run", "tui")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for `ensemble-tui` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ensemble-tui",
        usage=USAGE,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ensemble-tui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    screen = commands.add_parser(
        "tui",
        help="open the screen (what `ensemble-tui [PATH]` does)",
        description=(
            "Open the ensemble screen on the repository at PATH: start `opencode serve` for "
            "it (or attach to a running one with --url), start the lead, and steer the team."
        ),
    )
    screen.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="default: ."
    )
    screen.add_argument("--url", help="attach to a running `opencode serve` at this URL")
    screen.add_argument(
        "--password", help="the server's password (default: $OPENCODE_SERVER_PASSWORD)"
    )
    commands.add_parser(
        "demo",
        help="watch the real OpenCode driven by a scripted model (no API key needed)",
        description=(
            "Create a throwaway repository, start the real OpenCode with a scripted model "
            "and run an agent turn in a git worktree, printing its events as they happen. "
            "Needs `opencode` on PATH or ENSEMBLE_OPENCODE_BIN (`make demo` installs it)."
        ),
    )
    run = commands.add_parser(
        "run",
        help="run a team with no screen, printing its feed",
        description=(
            "Start OpenCode for the repository (or attach with --url), create a lead, send "
            "PROMPT and print every team event as it happens. Exits 0 when the lead and "
            "every teammate are idle with nothing waiting for delivery, 1 on error or timeout."
        ),
    )
    run.add_argument(
        "prompt", metavar="PROMPT", nargs="?", default="", help="what the lead should get done"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="pick up the repository's unfinished team (after a crash) and wait for it; "
        "no PROMPT is sent",
    )
    run.add_argument("--repo", type=Path, default=Path("."), help="the repository (default: .)")
    run.add_argument("--url", help="attach to a running `opencode serve` at this URL")
    run.add_argument(
        "--password", help="the server's password (default: $OPENCODE_SERVER_PASSWORD)"
    )
    run.add_argument("--json", action="store_true", help="one JSON object per event")
    run.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="give up after S seconds (default: 1800)",
    )
    return parser


def _run(args: argparse.Namespace) -> None:
    # Imported here so that `--help` stays fast and needs no server machinery.
    from ensemble_tui.core.headless import RunFailed, RunOptions, run_headless

    if args.resume and args.prompt.strip():
        raise UsageError("--resume sends no prompt: leave PROMPT out.")
    if not args.resume and not args.prompt.strip():
        raise UsageError("PROMPT is empty: say what the lead should get done.")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout}.")
    options = RunOptions(
        repo_root=resolve_repository(args.repo.resolve()),
        prompt=args.prompt,
        url=args.url,
        password=args.password,
        json_output=args.json,
        timeout=args.timeout,
        resume=args.resume,
    )
    try:
        asyncio.run(run_headless(options))
    except RunFailed as error:
        raise CommandFailed(str(error)) from None


def _screen(args: argparse.Namespace) -> None:
    # Imported here so that `--help` stays fast and loads no Textual.
    from ensemble_tui.core.headless import RunOptions
    from ensemble_tui.tui.app import make_app

    options = RunOptions(
        repo_root=resolve_repository(args.path.resolve()),
        prompt="",
        url=args.url,
        password=args.password,
    )
    app = make_app(options)
    app.run()
    if app.return_code:
        sys.exit(app.return_code)


def screen_argv(argv: list[str]) -> list[str]:
    """Put `tui` in front of arguments that name no command (`ensemble-tui [PATH] ...`).

    A first word that is neither a command nor an existing path is left alone, so that
    a mistyped command is refused as one.
    """
    first = argv[0] if argv else None
    if first is None or (first.startswith("-") and first not in ("-h", "--help", "--version")):
        return ["tui", *argv]
    if first in COMMANDS or first.startswith("-"):
        return argv
    if Path(first).exists() or "/" in first:
        return ["tui", *argv]
    return argv


class UsageError(Exception):
    """A bad flag or argument value."""


class CommandFailed(Exception):
    """A command could not do its work; the message says why."""


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    parser = build_parser()
    args = parser.parse_args(screen_argv(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "tui":
            _screen(args)
        elif args.command == "demo":
            from ensemble_tui.demo.first_turn import run_first_turn

            asyncio.run(run_first_turn())
        elif args.command == "run":
            _run(args)
    except UsageError as error:
        parser.error(str(error))
    except (
        OpenCodeStartError,
        OpenCodeError,
        UnsupportedVersionError,
        RepositoryError,
        CommandFailed,
    ) as error:
        print(f"ensemble-tui: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
