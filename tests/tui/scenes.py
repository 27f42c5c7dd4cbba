"""Fixed states of a team for the snapshot tests and `make screenshots`.

A scene is the real app over a real coordinator, store (SQLite) and git repository with
real teammate worktrees; only the OpenCode client answers from canned transcripts (an
`httpx.MockTransport`) and no event stream runs. Real OpenCode ids and timestamps differ
on every run, and the pixels must not: so ids, times and git dates here are fixed, and
the live behaviour is covered by the Pilot tests against the real `opencode serve`.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from bench.frames import FrameMaker
from ensemble_tui.core.git.worktrees import create_worktree
from ensemble_tui.core.models import Member, MemberStatus, MemberUpdate
from ensemble_tui.core.store.connection import sql_value
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.activity import TeamGlance
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.events import (
    MemberSpawned,
    MessageSent,
    TaskAdded,
    TaskClaimed,
    TaskCompleted,
    TeamCreated,
    TeamEvent,
)
from ensemble_tui.core.team.reactions import SessionListener
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.core.team.taskboard import TaskSpec
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import Event, PartDelta, parse_global_event
from ensemble_tui.opencode.models import PermissionRequest, QuestionRequest
from ensemble_tui.options import RunOptions
from ensemble_tui.tui.app import EnsembleApp, make_app
from ensemble_tui.tui.widgets import transcript

NOW = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
URL = "http://127.0.0.1:4096"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Scene",
    "GIT_AUTHOR_EMAIL": "scene@ensemble.invalid",
    "GIT_COMMITTER_NAME": "Scene",
    "GIT_COMMITTER_EMAIL": "scene@ensemble.invalid",
    "GIT_AUTHOR_DATE": "2026-01-15T14:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-15T14:00:00Z",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}

GREET = 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
CLI = (
    "import sys\n\nfrom greet import greet\n\n"
    'if __name__ == "__main__":\n    print(greet(sys.argv[1] if len(sys.argv) > 1 else "world"))\n'
)
TESTS = (
    "from greet import greet\n\n\ndef test_greet() -> None:\n"
    '    assert greet("Ada") == "Hello, Ada!"\n'
)


def fixed_clock() -> datetime:
    return NOW


def use_utc() -> None:
    """Show times of day in UTC, whatever the machine's zone."""
    os.environ["TZ"] = "UTC"
    time.tzset()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode()


# Transcripts in OpenCode's wire format, as `GET /session/{id}/message` answers.


class Transcript:
    """Builds one session's messages with stable ids."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.messages: list[dict[str, Any]] = []
        self.count = 0

    def _id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.session}_{self.count:03d}"

    def user(self, text: str) -> Transcript:
        message = self._id("msg")
        info = {"id": message, "sessionID": self.session, "role": "user"}
        part = {"id": self._id("prt"), "sessionID": self.session, "messageID": message}
        self.messages.append({"info": info, "parts": [{**part, "type": "text", "text": text}]})
        return self

    def agent(self, *parts: dict[str, Any]) -> Transcript:
        message = self._id("msg")
        info = {"id": message, "sessionID": self.session, "role": "assistant", "finish": "stop"}
        full = [
            {"id": self._id("prt"), "sessionID": self.session, "messageID": message, **part}
            for part in parts
        ]
        self.messages.append({"info": info, "parts": full})
        return self


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": body}


def thinking(body: str) -> dict[str, Any]:
    return {"type": "reasoning", "text": body}


def tool(
    tool_name: str, /, status: str = "completed", output: str = "", **arguments: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {"status": status, "input": arguments}
    if status == "completed":
        state.update(output=output or "ok", title=tool_name)
    elif status == "error":
        state["error"] = output
    return {"type": "tool", "callID": f"call_{tool_name}", "tool": tool_name, "state": state}


def lead_transcript() -> list[dict[str, Any]]:
    tasks = [
        {"content": "Write greet.py with greet(name)", "priority": "high"},
        {"content": "Write tests for greet", "depends_on": ["t1"]},
    ]
    return (
        Transcript("ses_lead")
        .user(
            "Build a tiny greeting CLI with a team of two: **alice** writes the module, "
            "**bob** the tests once it exists."
        )
        .agent(
            thinking("Two pieces, and the tests depend on the module's API: t2 after t1."),
            tool("ensemble_team_create", name="demo"),
            tool("ensemble_team_tasks_add", tasks=tasks),
            tool("ensemble_team_spawn", name="alice", prompt="Do t1: write greet.py."),
            tool("ensemble_team_spawn", name="bob", prompt="Do t2 once t1 is done."),
            text(
                "The team is at work:\n\n- **alice** writes `greet.py` (t1)\n"
                "- **bob** writes the tests when t1 is done (t2)\n\n"
                "I will merge both when they report."
            ),
        )
        .user("Message from alice to you:\nalice: greet.py is written and committed.")
        .agent(
            text("Thanks, alice. Checking the board while bob works…"),
            tool("ensemble_team_status", status="running"),
        )
        .messages
    )


def alice_transcript() -> list[dict[str, Any]]:
    return (
        Transcript("ses_alice")
        .user("Your task from the lead: write greet.py with greet(name) (t1).")
        .agent(
            tool("ensemble_team_claim", task_id="t1"),
            tool("write", filePath="greet.py", content=GREET),
            tool("bash", "error", "python: can't open file 'tests.py'", command="python tests.py"),
            tool("bash", command="git add -A && git commit -qm 'greet: greet(name)'"),
            tool("ensemble_team_tasks_complete", task_id="t1", result="greet.py committed"),
            tool("ensemble_team_message", to="lead", text="greet.py is written and committed."),
            text("`greet.py` is written and committed on my branch; **t1** is done."),
        )
        .messages
    )


def canned_opencode(
    transcripts: dict[str, list[dict[str, Any]]], replies: list[httpx.Request]
) -> httpx.MockTransport:
    """An OpenCode that answers `GET /session/{id}/message` from *transcripts* and takes
    permission and question replies (kept in *replies*); anything else is a 404."""

    def answer(request: httpx.Request) -> httpx.Response:
        found = re.fullmatch(r"/session/([^/]+)/message", request.url.path)
        if request.method == "GET" and found:
            return httpx.Response(200, json=transcripts.get(found.group(1), []))
        if request.method == "POST" and re.fullmatch(
            r"/(permission|question)/[^/]+/reply", request.url.path
        ):
            replies.append(request)
            return httpx.Response(200, json=True)
        return httpx.Response(404, json={"error": "this scene has no live OpenCode"})

    return httpx.MockTransport(answer)


# The team


@dataclass
class Scene:
    app: EnsembleApp
    coordinator: Coordinator
    store: Store
    replies: list[httpx.Request]


def make_repository(root: Path) -> Path:
    repo = root / "project"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# greet\n\nSays hello.\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "initial commit")
    return repo


def add_teammate(
    coordinator: Coordinator, root: Path, name: str, files: dict[str, str], uncommitted: bool
) -> None:
    team = coordinator.team
    assert team is not None
    info = create_worktree(coordinator.repo_root, root / "worktrees", team.name, name)
    for path, content in files.items():
        (info.path / path).write_text(content)
    if not uncommitted:
        git(info.path, "add", "-A")
        git(info.path, "commit", "-qm", f"{name}: work")
    coordinator.store.add_member(
        Member(
            team_id=team.id,
            name=name,
            session_id=f"ses_{name}",
            worktree_path=info.path,
            branch=info.branch,
            base_commit=info.base_commit,
        )
    )
    state = SessionState(name, f"ses_{name}", str(info.path))
    coordinator.track(state)


def build_team(coordinator: Coordinator, root: Path, kind: str) -> None:
    store = coordinator.store
    team = store.create_team("demo", coordinator.repo_root, "ses_lead")
    coordinator.set_team(team)
    add_teammate(coordinator, root, "alice", {"greet.py": GREET, "cli.py": CLI}, False)
    add_teammate(coordinator, root, "bob", {"test_greet.py": TESTS}, True)
    board = coordinator.board
    board.add_tasks(
        team.id,
        [
            TaskSpec(content="Write greet.py with greet(name)", priority="high"),
            TaskSpec(content="Write tests for greet", depends_on=["t1"]),
            TaskSpec(content="Document the CLI in the README", priority="low", depends_on=["t2"]),
            TaskSpec(content="Add a --shout flag", priority="low"),
        ],
        created_by="lead",
    )
    board.claim(team.id, "t1", "alice")
    board.complete(team.id, "t1", "alice", "greet.py committed")
    board.claim(team.id, "t2", "bob")
    store.add_message(
        team.id, "alice", "bob", "greet(name) is in greet.py; it returns 'Hello, <name>!'."
    )
    store.add_message(team.id, "alice", "lead", "alice: greet.py is written and committed.")
    store.add_message(team.id, "lead", None, "Keep commits small, and report when you are done.")
    usage = {
        "lead": (21_400, 2_100, 0.06),
        "alice": (16_900, 1_300, 0.04),
        "bob": (9_800, 700, 0.02),
    }
    for name, (tokens_in, tokens_out, cost) in usage.items():
        store.add_member_usage(
            team.id, name, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost
        )
    statuses = {
        "lead": MemberStatus.WORKING,
        "alice": MemberStatus.IDLE,
        "bob": MemberStatus.WORKING,
    }
    _session(coordinator, "ses_lead").busy = True
    _session(coordinator, "ses_bob").busy = True
    if kind == "question":
        statuses["bob"] = MemberStatus.NEEDS_ANSWER
        question = QuestionRequest.model_validate(
            {
                "id": "que_1",
                "sessionID": "ses_bob",
                "questions": [
                    {
                        "question": "Which test runner?",
                        "options": [{"label": "pytest"}, {"label": "unittest"}],
                    }
                ],
            }
        )
        _session(coordinator, "ses_bob").questions[question.id] = question
    if kind == "permission":
        statuses["bob"] = MemberStatus.NEEDS_PERMISSION
        request = PermissionRequest.model_validate(
            {
                "id": "per_1",
                "sessionID": "ses_bob",
                "permission": "external_directory",
                "patterns": ["/home/ada/shared/*"],
            }
        )
        _session(coordinator, "ses_bob").permissions[request.id] = request
    for name, status in statuses.items():
        store.update_member(team.id, name, MemberUpdate(status=status))
    fix_times(store, team.id)


def fix_times(store: Store, team_id: int) -> None:
    """Set every stored time to a fixed moment before `NOW`."""
    ago = {"lead": 240, "alice": 95, "bob": 312, "dana": 12}
    with store.transaction() as db:
        for name, seconds in ago.items():
            since = sql_value(NOW - timedelta(seconds=seconds))
            db.execute(
                "UPDATE members SET status_since = ?, last_activity = ? "
                "WHERE team_id = ? AND name = ?",
                (since, since, team_id, name),
            )
        joined = db.execute(
            "SELECT name FROM members WHERE team_id = ? ORDER BY created", (team_id,)
        )
        for order, (name,) in enumerate(joined.fetchall()):
            created = sql_value(NOW - timedelta(minutes=30 - order))
            db.execute(
                "UPDATE members SET created = ? WHERE team_id = ? AND name = ?",
                (created, team_id, name),
            )
        fixed = sql_value(NOW - timedelta(minutes=20))
        db.execute(
            "UPDATE tasks SET created = ?, updated = ? WHERE team_id = ?", (fixed, fixed, team_id)
        )
        rows = db.execute("SELECT id FROM messages WHERE team_id = ? ORDER BY id", (team_id,))
        for minute, (message_id,) in enumerate(rows.fetchall()):
            when = sql_value(NOW - timedelta(minutes=12 - 3 * minute))
            db.execute("UPDATE messages SET created = ? WHERE id = ?", (when, message_id))
        db.execute("UPDATE teams SET created = ? WHERE id = ?", (fixed, team_id))


def at(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def publish_story(coordinator: Coordinator) -> None:
    """The team events a team like `build_team`'s would have emitted, at fixed times."""
    story: list[TeamEvent] = [
        TeamCreated(time=at(20), member="lead", text="demo"),
        *(TaskAdded(time=at(20), member="lead", task=f"t{n}") for n in range(1, 5)),
        MemberSpawned(time=at(19.5), member="alice", branch="ensemble/demo/alice"),
        MemberSpawned(time=at(19), member="bob", branch="ensemble/demo/bob"),
        TaskClaimed(time=at(18), member="alice", task="t1"),
        MessageSent(time=at(12), sender="alice", recipient="bob", text="greet(name)", message=1),
        TaskCompleted(time=at(10), member="alice", task="t1", text="greet.py committed"),
        MessageSent(time=at(9), sender="alice", recipient="lead", text="greet.py done", message=2),
        TaskClaimed(time=at(8.5), member="bob", task="t2"),
        MessageSent(time=at(6), sender="lead", text="Keep commits small.", message=3),
    ]
    for event in story:
        coordinator.feed.emit(event)


def recent_glance(coordinator: Coordinator) -> TeamGlance:
    """The last minutes of a live-looking team: the lead busy in bursts, alice busy then
    idle, bob working but quiet for the last 45 seconds (drawn as quiet)."""
    publish_story(coordinator)
    glance = TeamGlance(coordinator)
    for step in range(60):
        seconds = 300 - 5 * step
        moment = NOW - timedelta(seconds=seconds)
        glance.activity.record("lead", moment, 4 + (step * 7) % 11 if step % 9 < 6 else 0)
        if seconds > 150:
            glance.activity.record("alice", moment, 6 + (step * 5) % 9)
        if 45 < seconds < 260:
            glance.activity.record("bob", moment, 2 + (step * 3) % 7)
    for minute in range(30, 0, -1):
        tokens = int(52_200 * (1 - minute / 32) ** 2)
        glance.spend.note(tokens, 0.12 * tokens / 52_200, at(minute))
    return glance


def build_scene(root: Path, kind: str, *, keys: dict[str, str] | None = None) -> Scene:
    """`empty`: a lead and no team yet; `team`: a team at work; `permission` and
    `question`: the same, with bob waiting for the human's permission or answer."""
    use_utc()
    repo = make_repository(root)
    store = Store(root / "state.db")
    transcripts = {} if kind == "empty" else {"ses_lead": lead_transcript()}
    transcripts["ses_alice"] = alice_transcript()
    replies: list[httpx.Request] = []
    client = OpenCodeClient(URL, password="", transport=canned_opencode(transcripts, replies))
    settings = CoordinatorSettings(worktree_root=root / "worktrees")
    coordinator = Coordinator(repo, store, client, settings)
    coordinator.connected = True
    lead = SessionState("lead", "ses_lead", str(repo))
    coordinator.track(lead)
    if kind != "empty":
        build_team(coordinator, root, kind)
    options = RunOptions(repo_root=repo, prompt="", url=URL, password="")
    app = make_app(options, coordinator=coordinator, clock=fixed_clock, keys=keys)
    if kind != "empty":
        app.main.glance = recent_glance(coordinator)
    return Scene(app, coordinator, store, replies)


def _session(coordinator: Coordinator, session_id: str) -> SessionState:
    state = coordinator.session(session_id)
    assert state is not None, session_id
    return state


# The smallest terminal the screen is made for.
TINY = (80, 24)


async def settle(pilot: Pilot[Any]) -> None:
    """Let workers finish and the messages they post be handled."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


class Collector:
    """Stands in for the app: keeps what the bridge posts."""

    def __init__(self) -> None:
        self.posted: list[Message] = []
        self.callbacks: list[Callable[[], object]] = []

    def post_message(self, message: Message) -> bool:
        self.posted.append(message)
        return True

    def call_after_refresh(self, callback: Callable[[], object]) -> bool:
        self.callbacks.append(callback)
        return True


class WaitingCollector(Collector):
    """A collector that also says when the bridge has posted something."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def post_message(self, message: Message) -> bool:
        self.arrived.set()
        return super().post_message(message)


class TranscriptApp(App[None]):
    """A transcript alone on a screen."""

    def compose(self) -> ComposeResult:
        yield transcript.Transcript()


def turn_events(maker: FrameMaker, number: int) -> list[Event]:
    """One assistant message of recorded shape: a text part, its deltas, its end."""
    parsed = [parse_global_event(frame) for frame in maker.turn("ses_a", "/a", number)]
    return [found.event for found in parsed if found is not None]


async def stream_turns(shown: transcript.Transcript, maker: FrameMaker, numbers: range) -> None:
    """Apply assistant messages *numbers* (`turn_events`) to *shown*, one after another."""
    for number in numbers:
        await shown.apply(turn_events(maker, number))


def delta(session: str, part: str, text: str) -> PartDelta:
    return PartDelta.model_validate(
        {"sessionID": session, "messageID": "m1", "partID": part, "field": "text", "delta": text}
    )


def offline_coordinator(folder: Path) -> tuple[Coordinator, list[SessionListener]]:
    """A coordinator on a real store with no OpenCode (the snapshot reads only the client's
    URL), and the session listeners the bridge adds, to call by hand."""
    client = SimpleNamespace(base_url="http://127.0.0.1:1")
    coordinator = Coordinator(folder, Store(folder / "state.db"), client)  # type: ignore[arg-type]
    listeners: list[SessionListener] = []

    def add_session_listener(listener: SessionListener) -> Callable[[], None]:
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    coordinator.add_session_listener = add_session_listener  # type: ignore[method-assign]
    return coordinator, listeners
