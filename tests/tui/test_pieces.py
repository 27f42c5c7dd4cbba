"""The screen's parts that need no live OpenCode: the bridge's batching, the attach
command, the keys that hide when they can do nothing, details, and the CLI entry."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static
from textual.widgets.data_table import ColumnKey

from ensemble_tui.cli import screen_argv
from ensemble_tui.core.models import MemberStatus, MemberUpdate
from ensemble_tui.core.team.events import (
    MemberIdle,
    MemberStatusChanged,
    MessageSent,
    PermissionAsked,
    ServerDisconnected,
    TaskAdded,
    TaskClaimed,
    TeamCreated,
)
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.events import SessionStatusChanged
from ensemble_tui.tui import actions
from ensemble_tui.tui import bridge as bridge_module
from ensemble_tui.tui.app import EnsembleApp
from ensemble_tui.tui.bridge import Bridge
from ensemble_tui.tui.notices import notice_for
from ensemble_tui.tui.runtime import AttachCommand, attach_command
from ensemble_tui.tui.screens.confirm import QuestionScreen, choose_options
from ensemble_tui.tui.screens.detail import DetailScreen
from ensemble_tui.tui.screens.diff import DiffScreen, split_patch
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.taskboard import TaskBoard
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.tui.scenes import (
    TINY,
    Collector,
    WaitingCollector,
    build_scene,
    delta,
    offline_coordinator,
    settle,
)

SIZE = (100, 30)
LARGE = (160, 45)


async def test_the_bridge_posts_one_batch_with_deltas_joined(tmp_path: Path) -> None:
    coordinator, listeners = offline_coordinator(tmp_path)
    feed = coordinator.feed
    feed.emit(TeamCreated(text="old"))
    target = Collector()
    # A flush only by hand: the timer's interval is longer than the test.
    bridge = Bridge(coordinator, target, interval=3600)  # type: ignore[arg-type]  # stands in
    bridge.attach()
    (replayed,) = target.posted
    assert isinstance(replayed, Bridge.TeamChanged)
    assert replayed.replayed
    assert [e.text for e in replayed.events] == ["old"]

    bridge.follow("shown")
    shown = SessionState("alice", "shown", "/tmp")
    hidden = SessionState("bob", "hidden", "/tmp")
    listener = listeners[0]
    for word in ["Hel", "lo", ", ", "world"]:
        listener(shown, delta("shown", "p1", word))
        listener(hidden, delta("hidden", "p9", "not shown"))
    busy = {"sessionID": "hidden", "status": {"type": "busy"}}
    listener(hidden, SessionStatusChanged.model_validate(busy))
    feed.emit(TaskAdded(task="t1"))
    target.posted.clear()
    bridge.flush()

    changed, arrived = target.posted
    assert isinstance(changed, Bridge.TeamChanged)
    assert [event.type for event in changed.events] == ["task.added"]
    assert isinstance(arrived, Bridge.SessionEventsArrived)
    assert arrived.session_id == "shown"
    assert [getattr(e, "delta", None) for e in arrived.events] == ["Hello, world"]
    bridge.detach()
    assert listeners == []
    coordinator.store.close()


async def test_the_bridge_posts_no_batch_until_the_app_has_handled_the_last(
    tmp_path: Path,
) -> None:
    """Backpressure: while a batch waits, events are collected (deltas joined), never lost."""
    coordinator, listeners = offline_coordinator(tmp_path)
    target = Collector()
    bridge = Bridge(coordinator, target, interval=0)  # type: ignore[arg-type]
    bridge.attach()
    bridge.follow("shown")
    shown = SessionState("alice", "shown", "/tmp")
    listener = listeners[0]
    target.posted.clear()
    listener(shown, delta("shown", "p1", "one "))
    bridge.flush()
    assert len(target.posted) == 1
    (handled,) = target.callbacks
    for word in ["two ", "three ", "four"]:
        listener(shown, delta("shown", "p1", word))
        coordinator.feed.emit(TaskAdded(task="t1"))
    assert not bridge.scheduled, "nothing is scheduled while the app is busy"
    target.callbacks.clear()
    handled()
    assert bridge.scheduled, "the next batch goes once the last was handled"
    bridge.flush()
    changed, arrived = target.posted[1:]
    assert isinstance(changed, Bridge.TeamChanged)
    assert len(changed.events) == 3
    assert isinstance(arrived, Bridge.SessionEventsArrived)
    assert [getattr(e, "delta", None) for e in arrived.events] == ["two three four"]
    bridge.detach()


async def test_the_bridge_posts_at_once_when_the_stream_goes_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch the app took long over, the next waits a long pause, unless the
    stream has gone quiet: then the last events are drawn at once, not a pause later."""
    monkeypatch.setattr(bridge_module, "SCREEN_SHARE", 10_000.0)
    monkeypatch.setattr(bridge_module, "MAX_PAUSE", 600.0)
    coordinator, listeners = offline_coordinator(tmp_path)
    target = WaitingCollector()
    posted = target.arrived
    bridge = Bridge(coordinator, target, interval=0.01)  # type: ignore[arg-type]
    bridge.attach()
    bridge.follow("shown")
    shown = SessionState("alice", "shown", "/tmp")
    listeners[0](shown, delta("shown", "p1", "one "))
    bridge.flush()
    (handled,) = target.callbacks
    await asyncio.sleep(0.01)  # the app "takes" 10 ms: the next pause is 100 s
    handled()
    posted.clear()
    listeners[0](shown, delta("shown", "p1", "two"))
    async with asyncio.timeout(30):
        await posted.wait()
    (arrived,) = target.posted[-1:]
    assert isinstance(arrived, Bridge.SessionEventsArrived)
    assert [getattr(e, "delta", None) for e in arrived.events] == ["two"]
    bridge.detach()


async def test_a_lone_event_goes_once_the_stream_is_quiet_not_after_the_interval(
    tmp_path: Path,
) -> None:
    """The end of a burst (here a lone token) is not held for the batching interval: it
    goes at the first check that finds the stream quiet."""
    coordinator, listeners = offline_coordinator(tmp_path)
    target = WaitingCollector()
    posted = target.arrived
    bridge = Bridge(coordinator, target, interval=600)  # type: ignore[arg-type]
    bridge.attach()
    bridge.follow("shown")
    posted.clear()
    listeners[0](SessionState("alice", "shown", "/tmp"), delta("shown", "p1", "one"))
    async with asyncio.timeout(30):
        await posted.wait()
    (arrived,) = target.posted[-1:]
    assert isinstance(arrived, Bridge.SessionEventsArrived)
    bridge.detach()


def test_attach_command_names_the_session_and_its_folder(opencode_bin: str) -> None:
    command = attach_command(
        "http://127.0.0.1:4096", "ses_1", "/work/wt", password="s3cret", binary=opencode_bin
    )
    assert command.argv[1:] == (
        "attach",
        "http://127.0.0.1:4096",
        "--session",
        "ses_1",
        "--dir",
        "/work/wt",
    )
    assert Path(command.argv[0]).is_absolute()
    assert command.env["OPENCODE_SERVER_PASSWORD"] == "s3cret"
    assert "s3cret" not in command.argv


async def test_o_hands_the_terminal_to_opencode_for_the_shown_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opencode_bin: str
) -> None:
    ran: list[AttachCommand] = []

    async def run(command: AttachCommand) -> int:
        ran.append(command)
        return 0

    @contextlib.contextmanager
    def suspended(self: EnsembleApp) -> Iterator[None]:
        yield

    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    monkeypatch.setattr(actions, "run_attached", run)
    monkeypatch.setattr(EnsembleApp, "suspend", suspended)
    scene = build_scene(tmp_path, "team")
    async with scene.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "j", "enter")
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
    (command,) = ran
    alice = scene.coordinator.session_of("alice")
    assert alice is not None
    assert command.argv[1:] == (
        "attach",
        "http://127.0.0.1:4096",
        "--session",
        "ses_alice",
        "--dir",
        alice.directory,
    )


async def test_keys_that_can_do_nothing_are_hidden(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        assert app.selected == "lead"
        assert app.main.check_action("merge", ()) is False, "the lead has no branch"
        assert app.main.check_action("shutdown", ()) is False
        assert app.main.check_action("allow_once", ()) is False, "nothing waits for an answer"
        await pilot.press("j")
        assert app.selected == "alice"
        assert app.main.check_action("merge", ()) is True
        assert app.main.check_action("diff", ()) is True
        assert app.main.check_action("cleanup", ()) is True


async def test_enter_on_a_task_and_on_a_message_shows_it_whole(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        board = app.query_one(TaskBoard)
        board.focus()
        board.move_cursor(row=board.get_row_index("t3"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.title_text == "Task t3"
        assert "depends on: t2" in app.screen.facts
        await pilot.press("escape")
        await pilot.press("tab")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.body == "Keep commits small, and report when you are done."
        assert "broadcast" in app.screen.facts


async def test_escape_in_the_list_goes_back_to_the_lead(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "j", "j", "enter")
        await settle(pilot)
        assert app.shown == "bob"
        assert app.query_one(TeammateList).shown_member == "bob"
        await pilot.press("escape")
        await settle(pilot)
        assert app.shown == "lead"
        await pilot.press("i")
        assert app.focused is not None
        assert app.focused.id == "prompt"


def test_a_patch_is_split_by_file() -> None:
    patch = (
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
        "diff --git a/old.txt b/new.txt\nsimilarity index 90%\n"
    )
    parts = split_patch(patch)
    assert list(parts) == ["a.py", "new.txt"]
    assert parts["a.py"].endswith("+y\n")


def test_answers_by_number_or_in_words() -> None:
    labels = ["yes", "no", "maybe"]
    assert choose_options("2", labels) == ["no"]
    assert choose_options("1, 3", labels) == ["yes", "maybe"]
    assert choose_options("use postgres", labels) == ["use postgres"]
    assert choose_options("", labels) == []


def test_notices_for_what_the_human_should_hear() -> None:
    asked = PermissionAsked(member="dana", text="bash", patterns=["*"])
    notice = notice_for(asked)
    assert notice is not None
    assert notice.severity == "warning"
    assert notice_for(MemberIdle(member="lead")) is None
    for who in ("lead", "ada"):
        notice = notice_for(MemberIdle(member=who, text="stopped by you", stopped=True))
        assert notice is not None
        assert notice.text == f"{who}'s turn was stopped by you."
    stalled = notice_for(MemberStatusChanged(member="bob", text="stalled"))
    assert stalled is not None
    assert "bob is stalled" in stalled.text
    assert notice_for(TaskClaimed(member="bob")) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["tui"]),
        (["."], ["tui", "."]),
        (["--url", "http://x"], ["tui", "--url", "http://x"]),
        (["run", "do it"], ["run", "do it"]),
        (["demo"], ["demo"]),
        (["--help"], ["--help"]),
        (["fly"], ["fly"]),
    ],
)
def test_no_command_means_the_screen(argv: list[str], expected: list[str]) -> None:
    assert screen_argv(argv) == expected


async def test_a_answers_a_question_by_the_number_of_an_option(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "question")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "bob asks: Which test runner?" in str(app.query_one(AttentionBar).render())
        await pilot.press("escape")
        assert app.main.check_action("reject", ()) is False, "r rejects permissions only"
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, QuestionScreen)
        await pilot.press("1", "enter")
        await settle(pilot)
    (reply,) = scene.replies
    assert reply.url.path == "/question/que_1/reply"
    assert json.loads(reply.content) == {"answers": [["pytest"]]}


async def test_r_rejects_a_permission_with_the_reason_given(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "permission")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "r")
        await settle(pilot)
        await pilot.press(*"not there", "enter")
        await settle(pilot)
        assert not app.query_one(AttentionBar).has_class("-active")
    (reply,) = scene.replies
    assert reply.url.path == "/permission/per_1/reply"
    assert json.loads(reply.content) == {"reply": "reject", "message": "not there"}


async def test_the_command_palette_runs_an_action(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "j")
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"diff of the sel")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        assert app.screen.member == "alice"


async def test_the_panes_keep_up_while_another_screen_is_on_top(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "j", "d")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        team = scene.coordinator.team
        assert team is not None
        scene.store.add_message(team.id, "bob", "lead", "tests are green")
        scene.coordinator.record(MessageSent(sender="bob", recipient="lead", message=1))
        assert app.bridge is not None
        app.bridge.flush()
        await settle(pilot)
        assert app.main.messages.option_count == 4
        assert app.return_code is None, "the app did not fail"


async def test_text_that_could_not_be_sent_goes_back_in_the_prompt(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"hello", "enter")
        await settle(pilot)
        assert app.main.prompt.text == "hello", "the scene's OpenCode refuses every prompt"
        assert any("Not sent to lead" in n.title for n in app._notifications)


async def test_a_longer_status_widens_its_column(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        team = scene.coordinator.team
        assert team is not None
        update = MemberUpdate(status=MemberStatus.SHUT_DOWN)
        scene.store.update_member(team.id, "alice", update)
        scene.coordinator.record(MemberStatusChanged(member="alice", text="shut-down"))
        assert app.bridge is not None
        app.bridge.flush()
        await settle(pilot)
        table = app.main.teammates
        status = table.get_cell("alice", "status")
        assert status.plain == "■ shut-down"
        assert table.columns[ColumnKey("status")].content_width >= len(status.plain)


async def test_n_jumps_to_the_member_that_needs_the_human(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "permission").app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", "n")
        await settle(pilot)
        assert app.shown == "bob"
        assert app.selected == "bob"


async def test_the_status_bar_says_when_opencode_is_lost(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "team")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        figures = app.main.status.query_one(".status-figures", Static)
        assert "● connected 127.0.0.1:4096" in str(figures.render())
        scene.coordinator.connected = False
        scene.coordinator.record(ServerDisconnected(text="connection reset"))
        assert app.bridge is not None
        app.bridge.flush()
        await settle(pilot)
        assert "● reconnecting" in str(figures.render())
        assert "team demo" in str(figures.render())


async def test_the_task_board_made_wide_measures_its_columns_again(tmp_path: Path) -> None:
    """Narrow, the board's ids and marks carry a space; made wide (a terminal grown, or a
    board filled before its first layout), they carry none, and their columns fit them
    again instead of keeping the narrow widths (the snapshot of a large terminal showed
    the marks two cells right of where a board made wide at once puts them)."""
    app = build_scene(tmp_path, "team").app
    async with app.run_test(size=TINY) as pilot:
        await settle(pilot)
        board = app.query_one(TaskBoard)
        assert board.narrow
        await pilot.resize_terminal(*LARGE)
        await settle(pilot)
        assert not board.narrow
        ids = max(len(task_id) for task_id in board.tasks)
        widths = {key.value: column.content_width for key, column in board.columns.items()}
        assert (widths["id"], widths["pri"]) == (ids, 1)
