"""The `ensemble-tui` command line: its parser and its exit statuses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ensemble_tui import __version__

DESCRIPTION = """\
Mission control in the terminal for a team of OpenCode agents: a lead plans, teammates
work in parallel in their own git worktrees, and their branches come back to your
working directory as unstaged changes.

With no COMMAND, `ensemble-tui [PATH]` opens the screen on the repository at PATH
(default: .), starting `opencode serve` for it, or attaching to one with --url.
"""
USAGE = "ensemble-tui [PATH] [options]\n       ensemble-tui COMMAND ..."
COMMANDS = ("tui", "run", "demo", "config", "trust", "serve", "report")


# What parsers and argument groups share: add_argument.
Adder = argparse._ActionsContainer


def _server_options(parser: Adder, default: str | None = None) -> None:
    parser.add_argument(
        "--url", help="attach to a running `opencode serve` at this URL", default=default
    )
    parser.add_argument(
        "--password",
        help="the server's password (default: $OPENCODE_SERVER_PASSWORD)",
        default=default,
    )
    _set_option(parser, default)


def _screen_options(parser: Adder, default: str | None = None) -> None:
    """The screen's own options; `ensemble-tui --help` lists them too, since they work there."""
    _server_options(parser, default)
    parser.add_argument(
        "--session",
        metavar="ID",
        help="continue this OpenCode session as the lead",
        default=default,
    )
    parser.add_argument(
        "--team", metavar="NAME", help="resume this unfinished team", default=default
    )


def _set_option(parser: Adder, default: str | None = None) -> None:
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a setting for this run, e.g. --set stall_threshold=2m "
        "(repeatable; see `ensemble-tui config`)",
        default=default,
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for `ensemble-tui` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="ensemble-tui",
        usage=USAGE,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ensemble-tui {__version__}")
    # Shown for `ensemble-tui [PATH] ...`; screen_argv hands them to `tui`, which parses them.
    _screen_options(
        parser.add_argument_group("options of the screen (ensemble-tui [PATH] [options])"),
        default=argparse.SUPPRESS,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    screen = commands.add_parser(
        "tui",
        prog="ensemble-tui tui",
        help="open the screen (what `ensemble-tui [PATH]` does)",
        description=(
            "Open the ensemble screen on the repository at PATH: start `opencode serve` for "
            "it with your own OpenCode configuration (or attach to a running one with --url), "
            "pick up the repository's unfinished team if there is one, and steer the team."
        ),
    )
    screen.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="default: ."
    )
    _screen_options(screen)

    run = commands.add_parser(
        "run",
        prog="ensemble-tui run",
        help="run a team with no screen, printing its feed",
        description=(
            "Start OpenCode for the repository (or attach with --url), create a lead, send "
            "PROMPT and print every team event as it happens, the team's report last. Exits 0 "
            "when the lead and every teammate are idle with nothing waiting for delivery, 1 on "
            "error or timeout, 3 when an --until-done team made no progress, 4 when a budget "
            "was used up."
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
    _server_options(run)
    run.add_argument("--json", action="store_true", help="one JSON object per event")
    run.add_argument(
        "--until-done",
        action="store_true",
        help="keep the lead going while tasks are open (the until_done setting); "
        "exits 3 after no_progress_limit rounds without progress",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="give up after S seconds (default: 1800)",
    )

    demo = commands.add_parser(
        "demo",
        prog="ensemble-tui demo",
        help="watch a scripted team at work in the real OpenCode (no API key needed)",
        description=(
            "Create a throwaway project, start the real OpenCode with a scripted model, and "
            "watch a lead and three teammates extend it: dependent tasks, messages, a "
            "permission for you to approve with `a`, and every branch merged at the end. "
            "Needs `opencode` on PATH or ENSEMBLE_OPENCODE_BIN (`make demo` installs it)."
        ),
    )
    demo.add_argument("--headless", action="store_true", help="print the story, no screen")
    demo.add_argument("--fast", action="store_true", help="no pauses between steps")

    serve = commands.add_parser(
        "serve",
        prog="ensemble-tui serve",
        help="the same screen in a browser (textual-serve), on 127.0.0.1 by default",
        description=(
            "Serve the ensemble screen on the repository at PATH to a web browser: each "
            "browser tab (one at a time) runs the screen as `ensemble-tui [PATH]` would, with "
            "the same options. It listens on 127.0.0.1 and a free port unless told otherwise; "
            "--host beyond loopback needs a token (--token or ENSEMBLE_SERVE_TOKEN)."
        ),
    )
    serve.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="default: ."
    )
    _screen_options(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, help="the port to listen on (default: a free one)")
    serve.add_argument(
        "--token",
        help="require this token (at least 16 characters) to open the page; needed for a "
        "--host beyond loopback (default: $ENSEMBLE_SERVE_TOKEN)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="serve the demo (a scripted team) instead of PATH"
    )

    config = commands.add_parser(
        "config",
        prog="ensemble-tui config",
        help="show the effective settings and where each came from",
        description=(
            "Print every setting with its value and its origin: the default, "
            "~/.config/ensemble-tui/ensemble.toml, the repository's .ensemble.toml, an "
            "ENSEMBLE_<KEY> variable, or a --set flag (each overrides the one before)."
        ),
    )
    config.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        type=Path,
        default=None,
        help="the repository whose .ensemble.toml to read (default: the current one, if any)",
    )
    _set_option(config)

    reporting = commands.add_parser(
        "report",
        prog="ensemble-tui report",
        help="print the report of the repository's last team that ended",
        description=(
            "Print the report written when the repository's last team ended (clean-up, an "
            "until-done run that finished, a budget, or no progress): what each member did "
            "(tasks, commits, files, +/-), the checks, what was merged and kept and why, "
            "tokens, cost and time. Exits 1 when no team has ended yet."
        ),
    )
    reporting.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="default: ."
    )
    reporting.add_argument("--json", action="store_true", help="the report as one JSON object")

    trusting = commands.add_parser(
        "trust",
        prog="ensemble-tui trust",
        help="trust the repository's .ensemble.toml as it is now",
        description=(
            "A repository's .ensemble.toml may set a program to run (opencode_bin) or a "
            "folder outside the repository (worktree_root); ensemble-tui uses those only "
            "once you trust the file. This records the file's current content (its SHA-256, "
            "in your data folder): after any change, trust it again. Read the file first."
        ),
    )
    trusting.add_argument(
        "path", metavar="PATH", nargs="?", type=Path, default=Path("."), help="default: ."
    )
    trusting.add_argument(
        "--untrust", action="store_true", help="forget that this repository's file is trusted"
    )
    return parser


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


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    parser = build_parser()
    args = parser.parse_args(screen_argv(sys.argv[1:] if argv is None else argv))
    # Imported once the arguments are parsed, so `--help` and `--version` stay quick.
    from ensemble_tui.commands import (
        FAILURES,
        UsageError,
        run_demo,
        run_headless_command,
        run_screen,
        run_serve,
        show_config,
        show_report,
        trust_settings,
    )

    command = {
        "tui": run_screen,
        "run": run_headless_command,
        "demo": run_demo,
        "config": show_config,
        "trust": trust_settings,
        "serve": run_serve,
        "report": show_report,
    }[args.command]
    try:
        command(args)
    except UsageError as error:
        parser.error(str(error))
    except FAILURES as error:
        print(f"ensemble-tui: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
