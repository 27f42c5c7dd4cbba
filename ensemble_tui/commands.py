"""What each `ensemble-tui` command does, once its arguments are parsed.

Heavy imports (Textual, the coordinator) happen inside the commands, so `--help` and
`--version` stay quick.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ensemble_tui.core.git.repository import (
    RepositoryError,
    found_repository,
    resolve_repository,
)
from ensemble_tui.errors import EnsembleError
from ensemble_tui.settings_files import (
    REPO_FILE,
    Layer,
    SettingsError,
    keys_for_first_frame,
    needs_trust,
    read_layers,
)
from ensemble_tui.trust import trust, untrust

if TYPE_CHECKING:
    from ensemble_tui.options import RunOptions
    from ensemble_tui.settings import LoadedSettings
    from ensemble_tui.tui.app import EnsembleApp


class UsageError(EnsembleError):
    """A bad flag or argument value (exit status 2)."""


class CommandFailed(EnsembleError):
    """A command could not do its work; the message says why (exit status 1)."""


# What a command may fail with: told in one line, exit status 1 (anything else is a bug).
FAILURES = (EnsembleError,)


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`--set KEY=VALUE` flags as a settings layer (values as TOML would read them)."""
    overrides: dict[str, Any] = {}
    if not pairs:
        return overrides
    import tomllib  # Only with flags: the screen's start usually has none.

    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes KEY=VALUE, not {pair!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # A bare word is taken as text.
        overrides[key.strip().replace("-", "_")] = value
    return overrides


def _layers(repo: Path | None, args: argparse.Namespace) -> list[Layer]:
    return read_layers(repo, parse_overrides(getattr(args, "set", None)))


def _settings(repo: Path | None, args: argparse.Namespace) -> LoadedSettings:
    # pydantic and the model cost a tenth of a second: imported by the commands that check.
    from ensemble_tui.settings import validate_layers

    return validate_layers(_layers(repo, args))


def _check_url(url: str | None) -> None:
    """Refuse a `--url` that is not an http(s) address before anything starts."""
    if url is None:
        return
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        raise UsageError(f"--url {url!r} is not a valid URL ({error})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"--url {url!r} is not an http address; write e.g. http://127.0.0.1:4096")


def _check_state(repo: Path) -> str | None:
    """Check the repository's state file before the team starts (StateFileError if it
    cannot be used); the sentence to say if it was broken and replaced."""
    # SQLite and the store's schema: for the screen, loaded after its first frame.
    from ensemble_tui.core.store.state_file import check_state_file, state_file

    return check_state_file(state_file(repo))


def _prepare_state(repo: Path) -> None:
    """Check the repository's state file before anything starts; say so if it was replaced."""
    note = _check_state(repo)
    if note is not None:
        print(f"ensemble-tui: {note}", file=sys.stderr)


def _opencode_for(
    args: argparse.Namespace, loaded: LoadedSettings, *, check: bool = True
) -> str | None:
    """The OpenCode to start; None with --url. Its version is checked now unless *check*
    is False (the screen checks it in its start-up worker, so it opens at once)."""
    if args.url:
        return None
    from ensemble_tui.opencode.server import check_opencode_version, find_opencode

    binary = find_opencode(loaded.settings.opencode_bin)
    if check:
        check_opencode_version(binary)
    return binary


def run_screen(args: argparse.Namespace) -> None:
    """`ensemble-tui [PATH]`: the screen on a repository.

    Before the screen opens the settings' files are read (a file that is not TOML, or an
    untrusted one, stops here) and the keymap is checked; the state file and every value
    are checked, and OpenCode found, in the screen's start-up worker (`settle`), which
    closes the screen with the same message and exit status as here if one is refused.
    """
    # Start-up makes objects that live as long as the process (modules, classes, the
    # app): the collector's full passes over them cost a tenth of the CPU to the first
    # frame. It waits while they are made, then leaves them out of its passes (frozen).
    notes: list[str] = []
    # The collector stays off until the panes are drawn (the app turns it back on then):
    # its passes over what the panes' modules and widgets make cost the full screen
    # 5-15 ms.
    gc.disable()
    try:
        app = _screen_app(args, notes)
    finally:
        gc.freeze()
    try:
        app.run()
    finally:
        gc.enable()
    for note in notes:
        print(f"ensemble-tui: {note}", file=sys.stderr)
    if app.failure is not None:
        raise app.failure
    if app.return_code:
        sys.exit(app.return_code)


def _screen_app(args: argparse.Namespace, notes: list[str]) -> EnsembleApp:
    """The screen's app; *notes* gets what the start-up worker has to say once the screen
    has closed (a broken state file that was replaced)."""
    from ensemble_tui.options import RunOptions
    from ensemble_tui.tui.app import make_app

    _check_url(args.url)
    path = args.path.resolve()
    # Found without git where it can be; git itself is asked in the start-up worker.
    repo = found_repository(path) or resolve_repository(path)
    layers = _layers(repo, args)
    keys = keys_for_first_frame(layers)
    if keys is None:
        # Only the full check can judge this keymap: judged now, as every setting was.
        from ensemble_tui.settings import validate_layers

        keys = dict(validate_layers(layers).settings.keys)

    def settle(options: RunOptions) -> None:
        from ensemble_tui.settings import coordinator_settings, validate_layers

        # The repository first, as git sees it: no commit yet, or a `.git` that is no
        # repository, closes the screen with git's reason, as it stopped the start before.
        top = resolve_repository(path)
        if top != repo:
            raise RepositoryError(
                f"git places the repository of {path} at {top}, not at {repo}: "
                f"start ensemble-tui in {top}."
            )
        # The state file next, as `run` does: a refusal closes the screen with it.
        note = _check_state(repo)
        if note is not None:
            notes.append(note)
        loaded = validate_layers(layers)
        options.settings = coordinator_settings(loaded.settings)
        options.opencode_bin = _opencode_for(args, loaded, check=False)

    options = RunOptions(
        repo_root=repo,
        prompt="",
        url=args.url,
        password=args.password,
        team_name=args.team,
        session_id=args.session,
        settle=settle,
    )
    return make_app(options, keys=keys)


def run_serve(args: argparse.Namespace) -> None:
    """`ensemble-tui serve [PATH]`: the screen in a browser, checked before anything listens."""
    from ensemble_tui.serve import ServeRefused, plan_serving, serve

    try:
        plan = plan_serving(args, dict(os.environ))
        if args.demo:
            from ensemble_tui.opencode.server import check_opencode_version, find_opencode

            check_opencode_version(find_opencode())
        else:
            repo = resolve_repository(args.path.resolve())
            _opencode_for(args, _settings(repo, args))
        serve(args, plan)
    except ServeRefused as refusal:
        raise CommandFailed(str(refusal)) from None


def _skip_httpx_cli() -> None:
    """Keep httpx from importing its own command line, which `run` never uses.

    httpx imports its CLI whenever the CLI's packages are installed, as they are here
    (Textual's Rich and Pygments): a twentieth of a second of CPU at each `run`. Marked
    absent, the CLI is left out as where they are not installed (`httpx.main` would say
    to install `httpx[cli]`). Only the command's own process is told so.
    """
    if "httpx" not in sys.modules:
        # None in sys.modules is the import system's mark for "not there" (typeshed omits it).
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def run_headless_command(args: argparse.Namespace) -> None:
    """`ensemble-tui run`: a team with no screen."""
    # Start-up makes objects that live as long as the process (modules, classes, models):
    # the collector's passes over them while they are made took a fifth of the CPU of
    # `run`'s start. It waits meanwhile, then leaves them out of its passes (frozen), as
    # at the screen's start.
    gc.disable()
    try:
        options = _run_options(args)
        # The coordinator, the tool server and the OpenCode client (over half a second of
        # imports) only once every check has passed: a refused start is said at once.
        from ensemble_tui.headless import RunFailed, RunStopped, run_headless
    finally:
        gc.freeze()
        gc.enable()
    try:
        asyncio.run(run_headless(options))
    except RunFailed as error:
        raise CommandFailed(str(error)) from None
    except RunStopped as stopped:
        print(f"ensemble-tui: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_code)


def _run_options(args: argparse.Namespace) -> RunOptions:
    """`run`'s arguments and settings checked, the state file too, and OpenCode found."""
    _skip_httpx_cli()
    from ensemble_tui.options import RunOptions

    if args.resume and args.prompt.strip():
        raise UsageError("--resume sends no prompt: leave PROMPT out.")
    if not args.resume and not args.prompt.strip():
        raise UsageError("PROMPT is empty: say what the lead should get done.")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout}.")
    _check_url(args.url)
    repo = resolve_repository(args.repo.resolve())
    loaded = _settings(repo, args)
    _prepare_state(repo)
    from ensemble_tui.settings import coordinator_settings

    options = RunOptions(
        repo_root=repo,
        prompt=args.prompt,
        url=args.url,
        password=args.password,
        json_output=args.json,
        timeout=args.timeout,
        resume=args.resume,
        opencode_bin=_opencode_for(args, loaded),
        settings=coordinator_settings(loaded.settings),
    )
    if args.until_done:
        options.settings.until_done = True
    return options


def run_demo(args: argparse.Namespace) -> None:
    """`ensemble-tui demo`: the scripted team story, on the screen or headless."""
    from ensemble_tui.demo.run import DEMO_PACE, run_demo_headless, run_demo_on_screen
    from ensemble_tui.opencode.server import check_opencode_version, find_opencode

    binary = find_opencode()
    check_opencode_version(binary)
    os.environ.setdefault("ENSEMBLE_OPENCODE_BIN", binary)
    pace = 0.0 if args.fast else DEMO_PACE
    if args.headless:
        asyncio.run(run_demo_headless(pace))
    else:
        run_demo_on_screen(pace)


def show_config(args: argparse.Namespace) -> None:
    """`ensemble-tui config`: the effective settings and where each came from."""
    repo: Path | None
    if args.path is not None:
        repo = resolve_repository(args.path.resolve())
    else:
        try:
            repo = resolve_repository(Path(".").resolve())
        except RepositoryError:
            repo = None  # Outside a repository only the user's file applies.
    loaded = _settings(repo, args)
    if loaded.settings.keys:
        # The screen's bindings (Textual: a fifth of a second) only for a keymap to check.
        from ensemble_tui.tui.keys import check_keymap

        problems = check_keymap(loaded.settings.keys)
        if problems:
            raise SettingsError(f"{'; '.join(problems)} (from {loaded.source_of('keys')})")
    from ensemble_tui.settings import describe

    print(describe(loaded))


def trust_settings(args: argparse.Namespace) -> None:
    """`ensemble-tui trust [PATH]`: trust (or forget) the repository's `.ensemble.toml` as it is."""
    repo = resolve_repository(args.path.resolve())
    settings_file = repo / REPO_FILE
    if args.untrust:
        if untrust(settings_file):
            print(f"{settings_file} is no longer trusted.")
        else:
            print(f"{settings_file} was not trusted; nothing changed.")
        return
    if not settings_file.is_file():
        raise CommandFailed(f"{settings_file} does not exist, so there is nothing to trust.")
    from ensemble_tui.settings import read_repository_file

    values, content = read_repository_file(settings_file)
    digest = trust(settings_file, content)
    risky = [f"{key} = {values[key]!s}" for key in values if needs_trust(key)]
    uses = f" It sets {', '.join(risky)}, which will now be used." if risky else ""
    print(
        f"Trusted {settings_file} as it is now (sha256 {digest[:12]}).{uses} "
        "If the file changes, ensemble-tui will ask you to trust it again."
    )


def show_report(args: argparse.Namespace) -> None:
    """`ensemble-tui report [PATH]`: the report of the repository's last team that ended."""
    from ensemble_tui.core.store.state_file import state_file
    from ensemble_tui.core.store.store import Store
    from ensemble_tui.core.team.report import last_report

    repo = resolve_repository(args.path.resolve())
    path = state_file(repo)
    if not path.exists():
        raise CommandFailed(f"no team has worked in {repo} yet, so there is no report.")
    with Store(path) as store:
        report = last_report(store)
    if report is None:
        raise CommandFailed(f"no team has ended in {repo} yet, so there is no report.")
    print(report.to_json() if args.json else report.text or "")
