"""The screen's first frame imports only what it draws (issue 14: start-up).

The real `ensemble-tui PATH` runs in a fresh interpreter with Textual headless; at its
first frame it prints the modules loaded so far and exits. What connects to OpenCode
(the team, its events, OpenCode's models and client, git, MCP) and what only a later
screen needs (Markdown, the dialogs' widgets) must come after, in the start-up worker
or where it is used; the first frame draws the panes' outlines, and the panes (their
tables, the prompt's text area, their modules) are mounted just after it. An import
set, not a time: it cannot be flaky under load.
"""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import NamedTuple

import pytest
from textual import events
from textual.screen import Screen

from ensemble_tui.core.states import LEAD_NAME
from ensemble_tui.opencode.version import TESTED_VERSION
from ensemble_tui.tui.widgets.outlines import PaneOutlines
from tests.conftest import git, isolated
from tests.tui.scenes import build_scene, settle

PROBE = """
import json, os, sys
from textual.app import App

for name in os.environ.get("PROBE_ALSO_IMPORT", "").split():
    __import__(name)

STARTED = []

def hook(event, args):
    if event == "subprocess.Popen":
        STARTED.append(os.path.basename(str(args[0])))

sys.addaudithook(hook)

_run, _display = App.run, App._display

def run(self, *args, **kwargs):
    kwargs["headless"] = True
    return _run(self, *args, **kwargs)

def display(self, screen, renderable):
    if not getattr(App, "_first", False):
        App._first = True
        shown = type(self.screen).__name__
        print("STARTED", json.dumps(STARTED), flush=True)
        print("FIRST_FRAME", shown, json.dumps(sorted(sys.modules)), flush=True)
        self.call_later(self.exit)
    return _display(self, screen, renderable)

App.run, App._display = run, display
from ensemble_tui.cli import main
main(sys.argv[1:])
"""

# Whole packages, and our own modules, that the first frame must not wait for.
NOT_BEFORE_THE_FIRST_FRAME = (
    "httpx",
    "httpx_sse",
    "git",
    "gitdb",
    # The settings' model and the team's models: validated in the start-up worker.
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "markdown_it",
    "mcp",
    "uvicorn",
    "starlette",
    "textual.widgets._markdown",
    # Rich's emoji names: a str read as markup (a DataTable's column label) loads them.
    "rich._emoji_codes",
    # Read only when there is a settings file or a --set flag (the probe has neither);
    # hashes only when there is a settings file to check or a state file to find.
    "tomllib",
    "hashlib",
    "ensemble_tui.settings",
    "ensemble_tui.core.models",
    "ensemble_tui.composition",
    "ensemble_tui.headless",
    "ensemble_tui.tools",
    # The state file's check (SQLite and the store's schema), and finding OpenCode: in
    # the start-up worker.
    "sqlite3",
    "ensemble_tui.core.store.state_file",
    "ensemble_tui.core.store.connection",
    "ensemble_tui.core.store.schema",
    "ensemble_tui.opencode.server",
    "ensemble_tui.opencode.client",
    "ensemble_tui.opencode.events",
    "ensemble_tui.opencode.models",
    "ensemble_tui.core.git.commands",
    "ensemble_tui.core.store.store",
    "ensemble_tui.core.team.coordinator",
    "ensemble_tui.core.team.events",
    "ensemble_tui.core.team.read_model",
    "ensemble_tui.core.team.control",
    "ensemble_tui.tui.bridge",
    "ensemble_tui.tui.screens.diff",
    "ensemble_tui.tui.screens.forks",
    "ensemble_tui.tui.commands",
    "ensemble_tui.tui.screens.help",
    # The panes: mounted in place of their outlines just after the first frame.
    "ensemble_tui.tui.actions",
    "ensemble_tui.tui.runtime",
    "ensemble_tui.tui.screens.confirm",
    "ensemble_tui.tui.screens.detail",
    "ensemble_tui.tui.widgets.activity",
    "ensemble_tui.tui.widgets.attention",
    "ensemble_tui.tui.widgets.feed",
    "ensemble_tui.tui.widgets.parts",
    "ensemble_tui.tui.widgets.session",
    "ensemble_tui.tui.widgets.statusbar",
    "ensemble_tui.tui.widgets.table",
    "ensemble_tui.tui.widgets.taskboard",
    "ensemble_tui.tui.widgets.teammates",
    "ensemble_tui.tui.widgets.timeline",
    "ensemble_tui.tui.widgets.transcript",
    "textual.widgets._text_area",
    "textual.document",
    "textual.widgets._data_table",
    "textual.widgets._sparkline",
)


def probe_setup(tmp_path: Path, **extra: str) -> tuple[Path, dict[str, str]]:
    """A repository to start in, and the environment of a probe run there."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    # Never run: OpenCode is found, checked and started by the worker, after the first
    # frame. This one passes the version check (so the team's modules load, as they do
    # after it) and fails to start: the screen closes then, saying so.
    opencode = tmp_path / "opencode"
    answer = f'[ "$1" = --version ] && echo {TESTED_VERSION} && exit 0'
    opencode.write_text(f"#!/bin/sh\n{answer}\nexit 1\n")
    opencode.chmod(opencode.stat().st_mode | stat.S_IXUSR)
    env = isolated(tmp_path, ENSEMBLE_OPENCODE_BIN=str(opencode), TERM="xterm-256color", **extra)
    return repo, env


def run_probe(probe: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """The real `ensemble-tui PATH` started in a new repository, with *probe*'s hooks."""
    repo, env = probe_setup(tmp_path, **extra)
    return subprocess.run(
        [sys.executable, "-c", probe, str(repo)],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        timeout=120,
        check=False,
    )


class FirstFrame(NamedTuple):
    screen: str
    """The screen shown."""
    modules: set[str]
    """The modules loaded by then."""
    started: list[str]
    """The programs started by then (each child process's executable)."""


def first_frame(tmp_path: Path, **extra: str) -> FirstFrame:
    """What the real `ensemble-tui PATH` had done by its first frame."""
    done = run_probe(PROBE, tmp_path, **extra)
    started: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith("STARTED "):
            started = json.loads(line.split(" ", 1)[1])
        if line.startswith("FIRST_FRAME "):
            _, screen, modules = line.split(" ", 2)
            return FirstFrame(screen, set(json.loads(modules)), started)
    raise AssertionError(f"no frame drawn: {done.stdout[-1000:]} {done.stderr[-2000:]}")


def too_early(modules: set[str]) -> list[str]:
    """The modules of NOT_BEFORE_THE_FIRST_FRAME (and their submodules) among *modules*."""
    return sorted(
        name
        for name in modules
        if any(
            name == heavy or name.startswith(f"{heavy}.") for heavy in NOT_BEFORE_THE_FIRST_FRAME
        )
    )


def test_the_first_frame_imports_nothing_of_the_connection(tmp_path: Path) -> None:
    screen, modules, _ = first_frame(tmp_path)
    assert screen == "MainScreen"
    assert "ensemble_tui.tui.widgets.outlines" in modules, "the probe saw the real screen"
    assert too_early(modules) == []


def test_the_check_sees_what_is_imported_before_the_first_frame(tmp_path: Path) -> None:
    """A screen module that imported the team's events at its top would be caught, with
    the pydantic models they bring."""
    _, modules, _ = first_frame(tmp_path, PROBE_ALSO_IMPORT="ensemble_tui.core.team.events")
    early = too_early(modules)
    assert "ensemble_tui.core.team.events" in early
    assert {"ensemble_tui.core.models", "pydantic"} <= set(early)


def test_the_first_frame_waits_for_no_child_process(tmp_path: Path) -> None:
    """The repository's top folder is found without git (its `.git`): git itself is asked
    in the start-up worker, after the first frame, as OpenCode's version is."""
    frame = first_frame(tmp_path)
    assert frame.screen == "MainScreen"
    assert frame.started == []


# The heaviest of what the team's start-up loads: the core, OpenCode's client, git, MCP
# (the SDK's `mcp` root itself is deferred, never imported: ensemble_tui/tools/serving.py).
TEAM_LOADS = (
    "ensemble_tui.core.team.coordinator",
    "ensemble_tui.opencode.client",
    "git",
    "mcp.types",
)

# Prints, for each of TEAM_LOADS, whether it was loaded on the thread that runs the event
# loop (the "import" audit event of an import statement fires in the importing thread,
# once, when the module is first loaded).
THREAD_PROBE = """
import os, sys, threading
from textual.app import App

WATCHED = set(os.environ["PROBE_WATCH"].split())

def hook(event, args):
    if event == "import" and args[0] in WATCHED:
        on_loop = threading.current_thread() is threading.main_thread()
        print("LOADED", args[0], "loop" if on_loop else "thread", flush=True)

sys.addaudithook(hook)
_run = App.run

def run(self, *args, **kwargs):
    kwargs["headless"] = True
    return _run(self, *args, **kwargs)

App.run = run
from ensemble_tui.cli import main
main(sys.argv[1:])
"""


def test_the_team_modules_load_off_the_event_loop(tmp_path: Path) -> None:
    """The composition root takes half a second or more to import; loaded on the event
    loop, it held every key pressed just after the first frame (issue 14, start-up)."""
    repo, env = probe_setup(tmp_path, PROBE_WATCH=" ".join(TEAM_LOADS))
    probe = subprocess.Popen(
        [sys.executable, "-c", THREAD_PROBE, str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=repo,
    )
    loaded: dict[str, str] = {}
    # A module loaded before the probe's hook, or never, would leave the loop waiting for
    # a line that never comes: the timer ends the probe, and the assertion says which.
    deadline = threading.Timer(120, probe.kill)
    deadline.start()
    try:
        assert probe.stdout is not None
        for line in probe.stdout:
            if line.startswith("LOADED "):
                _, name, where = line.split()
                loaded[name] = where
                if set(loaded) == set(TEAM_LOADS):
                    break
    finally:
        deadline.cancel()
        probe.kill()
        probe.wait(timeout=30)
    assert loaded == dict.fromkeys(TEAM_LOADS, "thread")


async def test_keys_typed_while_the_outlines_show_go_to_the_prompt(tmp_path: Path) -> None:
    """The first frame shows the panes' outlines; what the human types before the panes
    are mounted is held, then handled in order once they are: the prompt gets it all."""
    app = build_scene(tmp_path, "empty").app
    mount_panes = app.main._mount_panes
    typed: list[bool] = []

    async def type_then_mount() -> None:
        # The outlines are drawn and the panes not mounted yet: the human types now.
        if not typed:
            typed.append(app.main.panes_ready)
            for character in "hello":
                app.post_message(events.Key(character, character))
            app.post_message(events.Paste(" world"))
            app.post_message(events.Key("exclamation_mark", "!"))
        await mount_panes()

    app.main._mount_panes = type_then_mount  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await app.ready.wait()
        await settle(pilot)
        assert typed == [False], "the keys arrived while the outlines showed"
        assert app.main.panes_ready
        assert app.main.prompt.has_focus
        assert app.main.prompt.text == "hello world!"


async def drawn_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, str]]:
    """For each frame of the main screen drawn until the team is shown: whether it drew
    the outlines, and else the prompt's placeholder."""
    app = build_scene(tmp_path, "empty").app
    frames: list[tuple[bool, str]] = []
    display = app._display

    def record(screen: Screen[object], update: object) -> None:
        if screen is app.main:
            outlines = bool(app.main.query(PaneOutlines))
            frames.append((outlines, "" if outlines else str(app.main.prompt.placeholder)))
        display(screen, update)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "_display", record)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.ready.wait()
        await settle(pilot)
    assert frames[0] == (True, ""), "the first frame draws the outlines"
    return frames


async def test_the_panes_are_first_drawn_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the outlines, the next frame shows the panes as the app fills them (the lead
    named in the prompt's placeholder): filled in the batch that mounts them, they cost
    one layout, not one empty and one more once filled (issue 14, start-up)."""
    frames = await drawn_frames(tmp_path, monkeypatch)
    panes = [placeholder for outlines, placeholder in frames if not outlines]
    assert panes, "a frame drew the panes"
    assert all(placeholder.startswith(f"Message {LEAD_NAME}") for placeholder in panes), panes


async def test_the_panes_follow_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The panes are mounted as soon as the outlines are drawn: the headless terminal
    corrects its size a few times after the first frame, and mounted once the screen was
    idle, the panes waited for each of those layouts (the outlines were drawn 6 times)."""
    frames = await drawn_frames(tmp_path, monkeypatch)
    assert [outlines for outlines, _ in frames].count(True) == 1, frames


# Prints, at the first frame with the panes in place (the one after the app filled them),
# the modules loaded and whether the collector runs; then, once that frame's callbacks have
# run, whether it runs. (No `json` here: it is among what is checked.)
FULL_PROBE = """
import gc, sys
from textual.app import App
from ensemble_tui.tui.app import EnsembleApp

_run, _display, _mounted = App.run, App._display, EnsembleApp.on_panes_mounted
App._full = False

def run(self, *args, **kwargs):
    kwargs["headless"] = True
    return _run(self, *args, **kwargs)

def on_panes_mounted(self):
    _mounted(self)
    App._full = True

def after(app):
    print("AFTER", gc.isenabled(), flush=True)
    app.exit()

def display(self, screen, renderable):
    if App._full:
        App._full = False
        print("FULL", gc.isenabled(), repr(sorted(sys.modules)), flush=True)
        self.call_after_refresh(after, self)
    return _display(self, screen, renderable)

App.run, App._display, EnsembleApp.on_panes_mounted = run, display, on_panes_mounted
from ensemble_tui.cli import main
main(sys.argv[1:])
"""

# What the keys' actions, the dialogs and the team need comes after the full screen.
NOT_BEFORE_THE_FULL_SCREEN = (
    "json",
    "ensemble_tui.tui.actions",
    "ensemble_tui.tui.runtime",
    "ensemble_tui.tui.screens.confirm",
    "ensemble_tui.tui.screens.detail",
    "pydantic",
    "httpx",
    "git",
    "mcp",
    "sqlite3",
    "ensemble_tui.composition",
    "ensemble_tui.core.team.coordinator",
)


def test_the_full_screen_waits_for_neither_the_actions_nor_the_collector(tmp_path: Path) -> None:
    """The panes in place, drawn: the keys' actions (and the dialogs they open) are loaded
    by the first key that needs them, and the collector, off from the start, is back on
    once that frame is drawn (its passes over what the panes' modules and widgets made
    cost the full screen 5-15 ms)."""
    done = run_probe(FULL_PROBE, tmp_path)
    lines = {line.split(" ", 1)[0]: line.split(" ", 2)[1:] for line in done.stdout.splitlines()}
    assert "FULL" in lines, done.stdout[-1000:] + done.stderr[-2000:]
    collecting, modules = lines["FULL"]
    loaded = set(ast.literal_eval(modules))
    early = sorted(
        name
        for name in loaded
        if any(name == m or name.startswith(f"{m}.") for m in NOT_BEFORE_THE_FULL_SCREEN)
    )
    assert "ensemble_tui.tui.widgets.session" in loaded, "the probe saw the panes"
    assert early == []
    assert collecting == "False"
    assert lines["AFTER"] == ["True"]
