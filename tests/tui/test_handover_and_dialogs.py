"""Dialogs say all they ask, and `o` says what is coming and gives the folds back (issue 12,
item 10)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App

from ensemble_tui.tui import actions
from ensemble_tui.tui.app import EnsembleApp
from ensemble_tui.tui.runtime import HANDOVER_NOTE, AttachCommand, run_attached
from ensemble_tui.tui.screens.confirm import TextScreen
from ensemble_tui.tui.widgets.parts import FoldLine
from ensemble_tui.tui.widgets.transcript import Transcript
from tests.tui.scenes import build_scene, settle

SIZE = (100, 30)


async def test_the_reject_question_wraps_and_is_shown_whole() -> None:
    question = (
        "Reject: alice asks to use bash: pytest -q tests/test_greeting.py "
        "--maxfail=1 -k 'greet and not slow' --durations=5. Why? (the agent reads this; "
        "may be empty) LASTWORD"
    )
    app: App[None] = App()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(TextScreen("Reject", question, "a reason, or just enter"))
        await pilot.pause()
        shown = app.export_screenshot()
    assert "LASTWORD" in shown, "the end of the question is on the screen"


async def test_the_handover_says_what_comes_before_opencode_draws() -> None:
    terminal = io.StringIO()
    status = await run_attached(AttachCommand(("true",), dict(os.environ)), terminal)
    assert status == 0
    assert HANDOVER_NOTE in terminal.getvalue()
    assert "ctrl+c or its own quit key comes back here" in HANDOVER_NOTE


async def test_o_gives_back_the_folds_that_were_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opencode_bin: str
) -> None:
    """Headless, the terminal cannot be handed over: `run_attached` and `suspend` are
    stood in for, as in test_pieces; the reload after the return is the real one."""

    async def run(command: AttachCommand) -> int:
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
        transcript = scene.app.query_one(Transcript)
        folds = list(transcript.query(FoldLine))
        assert folds, "the lead's transcript has tool calls to open"
        first = folds[0]
        first.add_class("-open")
        opened = transcript.open_parts()
        assert opened
        await pilot.press("escape", "o")
        await settle(pilot)
        reloaded = list(transcript.query(FoldLine))
        assert first not in reloaded, "the session was read again"
        assert transcript.open_parts() == opened
        assert [fold.has_class("-open") for fold in reloaded].count(True) == len(opened)
