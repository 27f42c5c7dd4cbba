"""Prompts as the transcript shows them: scripts folded, delivery markers left out."""

from __future__ import annotations

from ensemble_tui.core.models import Message, utc_now
from ensemble_tui.core.team.prompts import delivered_tokens, delivery_text
from ensemble_tui.demo.script import script_block
from ensemble_tui.tui.widgets.parts import readable_prompt


def test_a_script_is_folded_to_one_line_with_its_step_count() -> None:
    prompt = "Build it.\n" + script_block({"text": "a"}, {"tool": "bash", "args": {}})
    assert readable_prompt(prompt) == "Build it.\n*(the scripted model's script: 2 steps)*"


def test_the_delivery_marker_is_for_the_coordinator_only() -> None:
    message = Message(
        id=7, team_id=1, sender="ada", recipient="ben", text="t1 is done", created=utc_now()
    )
    delivered = delivery_text([message], [])
    assert delivered_tokens(delivered) == {"m7"}
    assert readable_prompt(delivered) == "Message from ada to you:\nt1 is done"
