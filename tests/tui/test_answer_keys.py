"""What waits for the human is answered with the keys the attention line shows, from
wherever the focus is: `a` in the prompt box types an "a", so it shows another key there."""

from __future__ import annotations

import json
from pathlib import Path

from textual.binding import Binding

from ensemble_tui.tui.app import EnsembleApp
from ensemble_tui.tui.widgets.attention import AttentionBar
from ensemble_tui.tui.widgets.session import PromptBox
from tests.tui.scenes import build_scene, settle

SIZE = (100, 30)


def attention_line(app: EnsembleApp) -> str:
    return str(app.query_one(AttentionBar).render())


def key_of(app: EnsembleApp, binding_id: str) -> str:
    """The key a binding id has now, as the app displays it."""
    for active in app.screen.active_bindings.values():
        if active.binding.id == binding_id:
            return app.get_key_display(active.binding)
    raise AssertionError(f"{binding_id} is not active")


async def test_the_keys_shown_in_the_prompt_box_answer_from_there(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "permission")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, PromptBox), "focus starts in the prompt box"
        once = key_of(app, "prompt.allow_once")
        line = attention_line(app)
        assert f" {once}  allow once" in line
        assert f" {key_of(app, 'prompt.allow_always')}  always" in line
        assert f" {key_of(app, 'prompt.reject')}  reject" in line
        assert " a  allow once" not in line, "a would type an 'a' here"

        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.query_one(PromptBox).text == ""
    (reply,) = scene.replies
    assert reply.url.path == "/permission/per_1/reply"
    assert json.loads(reply.content)["reply"] == "once"


async def test_in_the_team_list_the_line_shows_the_single_keys(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "permission")
    app = scene.app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        line = attention_line(app)
        assert " a  allow once" in line
        assert " A  always" in line
        await pilot.press("A")
        await settle(pilot)
    (reply,) = scene.replies
    assert json.loads(reply.content)["reply"] == "always"


async def test_a_rebound_answer_key_is_what_the_line_shows(tmp_path: Path) -> None:
    scene = build_scene(tmp_path, "permission")
    app = scene.app
    app.set_keymap({"prompt.allow_once": "ctrl+g"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = app.get_key_display(Binding("ctrl+g", "allow_once"))
        assert f" {shown}  allow once" in attention_line(app)
