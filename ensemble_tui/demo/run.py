"""`ensemble-tui demo`: a throwaway project, the real OpenCode, the scripted model, a team.

`make_demo_project` builds the project; `run_demo_headless` plays the story with no
screen (the viewer's permission answer is given for them), for tests and for
`ensemble-tui demo --headless`. The screen version lives in the app.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ensemble_tui.composition import opencode_client, running_coordinator
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.environment import scripted_opencode_environment, without_model_catalogue
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.demo.story import PROJECT_FILES, STYLE_GUIDE, lead_prompt
from ensemble_tui.headless import drive_team, feed_printer
from ensemble_tui.opencode.server import find_opencode
from ensemble_tui.options import RunOptions

DEMO_PACE = 1.2


@dataclass(frozen=True)
class DemoPlace:
    """Where a demo runs: its folder, the project repository, and the style guide."""

    root: Path
    repo: Path
    style_guide: Path


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@ensemble.invalid"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout


def make_demo_project(root: Path | None = None) -> DemoPlace:
    """A fresh folder with the `textstats` project (one commit) and the team's style guide."""
    root = root or Path(tempfile.mkdtemp(prefix="ensemble-demo-"))
    repo = root / "textstats"
    for relative, text in PROJECT_FILES.items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "textstats: count words")
    style_guide = root / "style-guide.md"
    style_guide.write_text(STYLE_GUIDE)
    return DemoPlace(root, repo, style_guide)


def demo_options(place: DemoPlace, model_url: str, pace: float) -> RunOptions:
    """Run options for the demo: its own OpenCode with the scripted model, state in its folder."""
    return RunOptions(
        repo_root=place.repo,
        prompt=lead_prompt(place.style_guide, pace),
        password="",
        opencode_bin=find_opencode(),
        # Its OpenCode knows the scripted model alone: the story has no use for the rest.
        server_env=without_model_catalogue(
            scripted_opencode_environment(place.root / "home", model_url)
        ),
        store_path=place.root / "state.db",
        timeout=600,
        settings=CoordinatorSettings(worktree_root=place.root / "worktrees"),
    )


@asynccontextmanager
async def demo_team(place: DemoPlace, pace: float) -> AsyncIterator[tuple[RunOptions, Coordinator]]:
    """The demo's scripted model, OpenCode and coordinator, running until the block ends."""
    with ScriptedModel(log_path=place.root / "model.log") as model:
        options = demo_options(place, model.base_url, pace)
        async with (
            opencode_client(options) as client,
            running_coordinator(options, client) as coord,
        ):
            yield options, coord


def own_command() -> str:
    """How to run this ensemble-tui from a shell, as typed: `make demo` does not put
    `.venv/bin` on PATH, so a bare `ensemble-tui` is only right when PATH finds this one."""
    beside = Path(sys.executable).parent / "ensemble-tui"
    on_path = shutil.which("ensemble-tui")
    if beside.is_file():
        if on_path is not None and Path(on_path).resolve() == beside.resolve():
            return "ensemble-tui"
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m ensemble_tui"


def closing_words(place: DemoPlace) -> str:
    """What the demo says at the end: where things are and what to try next, as commands
    that work when pasted (new files are untracked, so a plain `git diff` misses them)."""
    status = _git(place.repo, "status", "--short").rstrip() or "(nothing)"
    command = own_command()
    steps = [
        (f"cd {shlex.quote(str(place.repo))}", "the team's work, unstaged"),
        ("git status", "new files are listed as untracked"),
        ("git add -N . && git diff", "every change, new files included"),
        (f"{command} run --help", "a team of your own, no screen"),
        (f"{command} /path/to/your/repo", "the screen, with your own OpenCode setup"),
    ]
    if (place.repo / "tests").is_dir() and importlib.util.find_spec("pytest") is not None:
        # The Python running the demo has pytest (`make demo` installs it); python3 may not.
        steps.insert(3, (f"{shlex.quote(sys.executable)} -m pytest -q tests", "the team's tests"))
    width = max(len(step) for step, _ in steps)
    lines = "".join(f"  {step:<{width}}  # {why}\n" for step, why in steps)
    return (
        f"\nThe team's work is in {place.repo} as unstaged changes "
        f"(?? marks new, untracked files):\n{status}\n\nTry next:\n{lines}"
    )


async def run_demo_headless(
    pace: float = 0.0, out: TextIO = sys.stdout, place: DemoPlace | None = None
) -> DemoPlace:
    """Play the story with no screen, allowing cy's permission as the viewer would (in
    *place*, or in a new folder)."""
    place = place or make_demo_project()
    show: Callable[[TeamEvent], None] = feed_printer(out, as_json=False)
    async with demo_team(place, pace) as (options, coord):
        control = TeamControl(coord)
        answers: list[asyncio.Task[str]] = []

        def watch(event: TeamEvent) -> None:
            show(event)
            if event.type == "permission.asked":
                for request in control.pending():
                    out.write(f"(the viewer allows {request.describe()})\n")
                    answers.append(asyncio.create_task(control.answer_permission(request, "once")))

        coord.feed.subscribe(watch, replay=True)
        await drive_team(coord, options.prompt, options.timeout)
        await asyncio.gather(*answers)
    out.write(closing_words(place))
    return place


def run_demo_on_screen(pace: float = DEMO_PACE) -> DemoPlace:
    """Play the story on the screen; the viewer approves cy's permission with `a`."""
    from ensemble_tui.tui.app import make_app

    place = make_demo_project()
    with ScriptedModel(log_path=place.root / "model.log") as model:
        app = make_app(demo_options(place, model.base_url, pace))
        app.run()
    if app.failure is not None:
        raise app.failure
    print(closing_words(place))
    return place
