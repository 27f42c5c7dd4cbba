"""Snapshots of the screen's main states (pytest-textual-snapshot).

The scenes come from `tests/tui/scenes.py`: the real app over a real store, git
repository and coordinator, with canned transcripts instead of a live OpenCode, because
the pixels must not depend on random session ids and wall-clock times. What the screen
does with a live OpenCode is covered by `test_live_team.py`. Update the snapshots with
`pytest tests/tui --snapshot-update` and look at every changed SVG before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from ensemble_tui.tui.app import EnsembleApp
from tests.tui.scenes import TINY, build_scene, settle

SMALL = (100, 30)
LARGE = (160, 45)

Compare = Callable[..., bool]


def keys(*pressed: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Settle, press each key and settle again."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, EnsembleApp)
        await settle(pilot)
        # A blinking cursor would be drawn or not depending on when the picture is taken.
        app.main.prompt.cursor_blink = False
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run


def test_empty_team(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see the lead alone in the team list (idle, on your tree), an empty
    session pane with the focused prompt box, no tasks, no messages, and "no team yet"
    in the status bar."""
    app = build_scene(tmp_path, "empty").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys())


def test_team_at_work(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see lead, alice and bob with coloured statuses, tasks grouped In
    progress / Ready / Blocked (t3 waiting on t2) / Done, three messages (the last a
    broadcast), and the lead's transcript: Markdown text, one line per tool call (the
    last one running), its reasoning folded."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys())


def test_team_at_work_on_a_large_terminal(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see the same team using the space: a wider transcript and side panes,
    the activity column beside the team, the timeline and the tokens chart under it."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=LARGE, run_before=keys())


def test_a_teammates_session(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see alice's session in the pane (its title says alice, idle, and its
    branch), her tool calls with one failed, the prompt saying "Message alice…", and the
    ▶ marker on alice in the team list."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys("escape", "j", "enter"))


def test_the_diff_screen(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see alice's diff: the files cli.py and greet.py with their line counts,
    and cli.py's patch, coloured, on the right."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys("escape", "j", "d"))


def test_the_attention_line_with_a_permission(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see bob as needs-permission in the list and, above the status bar, the
    attention line: first the keys that answer from the prompt box, where the focus is
    (^o allow once, ^l always, ^r reject), then bob asks to use external_directory on
    /home/ada/shared/*."""
    app = build_scene(tmp_path, "permission").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys())


def test_the_help_screen(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see the keys table over the screen: where each key works and what it
    does."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=SMALL, run_before=keys("escape", "question_mark"))


def test_team_at_work_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see the team on an 80x24 terminal: no branch column in the team list,
    bob's task readable ("t2 Write tests for greet"), the task board without padding
    (ids, marks and most of each task's title), and no horizontal scroll bar anywhere.
    Beside the list, a sparkline per member: the lead's busy in bursts, alice's flat
    (idle), bob's orange (working, but silent for the last 50 s); under the list the
    timeline (◎ team, + tasks, ▲ spawns, → messages, ◇ claims, ◆ a completion; dim dots
    for pauses) naming the newest event, and the Tokens 30m chart rising to 52.2k $0.12."""
    app = build_scene(tmp_path, "team").app
    assert snap_compare(app, terminal_size=TINY, run_before=keys())


def test_an_event_chosen_on_the_timeline(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see the timeline focused with one event (bob's claim of t2, ◇) drawn
    reversed, and its border saying "14:21 bob · task claimed t2"."""
    app = build_scene(tmp_path, "team").app

    async def choose(pilot: Pilot[Any]) -> None:
        await keys()(pilot)
        assert isinstance(pilot.app, EnsembleApp)
        pilot.app.main.timeline.focus()
        await pilot.press("left")
        await settle(pilot)

    assert snap_compare(app, terminal_size=LARGE, run_before=choose)


def test_a_waiting_permission_at_80x24(snap_compare: Compare, tmp_path: Path) -> None:
    """You should see bob as needs-permission and the attention line over two rows, its
    keys first (^o allow once, ^l always, ^r reject), then what bob asks for."""
    app = build_scene(tmp_path, "permission").app
    assert snap_compare(app, terminal_size=TINY, run_before=keys())
