"""Keys are said once: a rebound key shows in every hint (help, palette, borders, prompt)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from ensemble_tui.tui.commands import COMMANDS, command_title
from ensemble_tui.tui.keys import check_keymap
from ensemble_tui.tui.screens.help import HelpScreen, keys_table
from tests.tui.scenes import build_scene, settle

SIZE = (120, 36)
KEYMAP = {"app.merge": "M", "app.diff": "D", "prompt.newline": "ctrl+n"}


async def test_a_rebound_key_shows_in_every_hint(tmp_path: Path) -> None:
    app = build_scene(tmp_path, "team", keys=KEYMAP).app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "M merge" in str(app.main.teammates.border_subtitle)
        assert "D diff" in str(app.main.teammates.border_subtitle)
        assert "^n new line" in str(app.main.prompt.placeholder)
        merge = next(c for c in COMMANDS if c.action == "screen.merge")
        assert command_title(merge, app.hints.key("app.merge")).endswith("(M)")
        await pilot.press("escape", "question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(keys_table(app.screen.hints))
        shown = console.export_text()
        merge_line = next(line for line in shown.splitlines() if "merge it into your tree" in line)
        assert " M " in merge_line
        assert "^n" in shown


def test_the_default_keymap_has_no_clash() -> None:
    assert check_keymap({}) == []
