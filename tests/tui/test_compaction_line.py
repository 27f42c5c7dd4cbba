"""A compaction shows in the transcript as one folded line with the summary inside it."""

from __future__ import annotations

from typing import Any

from ensemble_tui.opencode.events import MessageUpdated, PartUpdated
from ensemble_tui.opencode.models import MessageWithParts
from ensemble_tui.tui.widgets.parts import AgentText, Compaction, UserText
from ensemble_tui.tui.widgets.transcript import Transcript
from tests.tui.scenes import TranscriptApp

SUMMARY = "We wrote the parser and its tests; the CLI is left."


def message(role: str, message_id: str, *parts: dict[str, Any], **info: Any) -> MessageWithParts:
    """A message as OpenCode 1.18.33 sends it (the compaction shapes from its API notes)."""
    return MessageWithParts.model_validate(
        {
            "info": {"id": message_id, "sessionID": "ses_1", "role": role, **info},
            "parts": [
                {"id": f"prt_{message_id}_{n}", "sessionID": "ses_1", "messageID": message_id, **p}
                for n, p in enumerate(parts)
            ],
        }
    )


CONVERSATION = [
    message("user", "msg_1", {"type": "text", "text": "Write the parser."}),
    message("assistant", "msg_2", {"type": "text", "text": "The parser is written."}),
    message("user", "msg_3", {"type": "compaction", "auto": False}),
    message("assistant", "msg_4", {"type": "text", "text": SUMMARY}, summary=True),
    message("user", "msg_5", {"type": "text", "text": "Go on with the CLI."}),
]


async def test_a_loaded_compaction_is_one_line_holding_its_summary() -> None:
    app = TranscriptApp()
    async with app.run_test(size=(80, 20)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load(CONVERSATION)
        await pilot.pause()
        (line,) = app.query(Compaction)
        assert line.summary == SUMMARY
        assert str(line.title()) == "⇊ conversation summarized on request, summary of 11 words"
        assert all(SUMMARY not in text.text for text in app.query(AgentText))
        assert [text.text for text in app.query(UserText)][-1] == "Go on with the CLI."
        await pilot.press("tab")
        transcript.action_toggle_folds()
        assert line.has_class("-open")
        assert SUMMARY in str(line.render())


async def test_a_live_compaction_folds_its_summary_as_it_arrives() -> None:
    app = TranscriptApp()
    async with app.run_test(size=(80, 20)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.load(CONVERSATION[:2])
        compaction, summary = CONVERSATION[2], CONVERSATION[3]
        events = [
            MessageUpdated.model_validate(
                {
                    "type": "message.updated",
                    "sessionID": "ses_1",
                    "info": m.info.model_dump(by_alias=True),
                }
            )
            for m in (compaction, summary)
        ]
        parts = [
            PartUpdated.model_validate(
                {
                    "type": "message.part.updated",
                    "sessionID": "ses_1",
                    "part": p.model_dump(by_alias=True),
                }
            )
            for m in (compaction, summary)
            for p in m.parts
        ]
        await transcript.apply([events[0], parts[0], events[1], parts[1]])
        await pilot.pause()
        (line,) = app.query(Compaction)
        assert line.summary == SUMMARY
        assert all(SUMMARY not in text.text for text in app.query(AgentText))
