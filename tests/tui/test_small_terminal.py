"""An 80x24 terminal with a team: readable tasks, no horizontal scroll bars, toasts clear
of the prompt box and the attention line, and the answer keys always on screen."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._toast import Toast

from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.taskboard import TaskBoard
from ensemble_tui.tui.widgets.teammates import TeammateList
from tests.tui.scenes import TINY, build_scene, settle


async def test_80x24_shows_tasks_and_keys_and_keeps_toasts_off_the_prompt(
    tmp_path: Path,
) -> None:
    app = build_scene(tmp_path, "permission").app
    async with app.run_test(size=TINY, notifications=True) as pilot:
        await settle(pilot)
        board = app.query_one(TaskBoard)
        team = app.query_one(TeammateList)
        assert board.task_width >= 20, "task titles are more than a dozen characters"
        assert team.task_width >= 20
        assert not board.show_horizontal_scrollbar
        assert not team.show_horizontal_scrollbar

        bar = app.query_one(AttentionBar)
        first_row = str(bar.render()).splitlines()[0]
        for action in ("allow once", "always", "reject"):
            assert action in first_row[: bar.content_region.width], action

        app.notify("alice finished its turn.")
        await pilot.pause()
        await pilot.pause()
        (toast,) = app.screen.query(Toast)
        assert toast.region.area > 0
        for covered in (app.main.prompt, bar):
            assert not toast.region.overlaps(covered.region), covered
