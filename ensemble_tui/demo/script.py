"""The scripted model's scripts: their format, and which step the model plays next.

OpenCode talks to it as to any `@ai-sdk/openai-compatible` provider; instead of a
language model it plays a *script* written into the conversation, so tests, the demo
and the benchmarks run the real OpenCode deterministically and with no API key.

Script format
-------------
A script is a fenced block with the info string ``scripted`` inside a user message::

    ```scripted
    {"tool": "write", "args": {"filePath": "hello.txt", "content": "hi\\n"}}
    {"text": "I wrote hello.txt."}
    ```

Each non-empty line is one JSON object: one *step*, that is one model response.
The model plays step N where N is the number of assistant responses it has already
given since the user message holding the script (waiting replies excepted, see
``await``). The newest user message with a script wins, so a new prompt can carry a
new script. Steps continue across turns: after a step that ends a turn, the next user
message (a reply from a teammate, say) makes the model play the following step.

Keys of a step (all optional, combinable):

``text``
    Assistant text, streamed in a few chunks. A step with text and no tool ends the turn.
``reasoning``
    Reasoning text, streamed before anything else (OpenCode shows a reasoning part).
``tool`` and ``args``
    One tool call: the tool name as OpenCode offers it (``write``, ``bash``,
    ``ensemble_team_spawn``...) and its JSON arguments.
``tools``
    Several tool calls in one response: a list of ``{"tool": ..., "args": ...}``.
``delay``
    Seconds to wait before answering (a slow model; used to test aborts and pacing).
``chunk_delay``
    Seconds between streamed chunks (default 0).
``fail``
    An HTTP status to answer with instead (503 makes OpenCode retry).
``hold``
    A name: the model answers the step only once the program running it has released
    that name (`ScriptedModel.release`), at once if it already has. A test holds a
    teammate mid-turn exactly until what it waits for has happened, where a ``delay``
    would guess how long that takes. A hold never released ends in an HTTP 400 after
    five minutes.
``await``
    A string, or a list of strings, that must all have appeared in user or tool
    messages since the script's message. Until they have, the model answers
    ``(waiting)`` and ends the turn without consuming the step; such replies do not
    count as responses.

``skip_if``
    A string, or a list of strings: when all have been heard by the time the step is
    due, the step is passed over (e.g. waiting for a task that was already claimed).

A step whose tool call was cut short by a crash (OpenCode died while the call ran, so it
now reads as ``[Tool execution was interrupted]``) does not count as played: it is played
again at the next request, as a model told to repeat a call that was cut short would.

When the script has run out the model answers ``(script finished)``. A request with no
tools (OpenCode's title generation) is answered with a short title. Both streaming
(``"stream": true``) and plain JSON responses are served.

Run standalone with ``python -m ensemble_tui.demo.scripted_model --port 4198``.
"""

from __future__ import annotations

import json
import re
from typing import Any

WAITING_TEXT = "(waiting)"
FINISHED_TEXT = "(script finished)"
# What OpenCode tells the model for a tool call it left running when it died.
INTERRUPTED_TEXT = "[Tool execution was interrupted]"

_SCRIPT_BLOCK = re.compile(r"```scripted[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


class ScriptError(ValueError):
    """A script block that cannot be parsed."""


def script_block(*steps: dict[str, Any]) -> str:
    """Return a fenced script block for the given steps, ready to put in a prompt."""
    lines = "\n".join(json.dumps(step) for step in steps)
    return f"```scripted\n{lines}\n```"


def parse_script(text: str) -> list[dict[str, Any]] | None:
    """Return the steps of the last script block in *text*, or None if it has none."""
    blocks = _SCRIPT_BLOCK.findall(text)
    if not blocks:
        return None
    steps: list[dict[str, Any]] = []
    for number, line in enumerate(blocks[-1].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            step = json.loads(line)
        except json.JSONDecodeError as error:
            raise ScriptError(f"script line {number} is not JSON: {error}") from error
        if not isinstance(step, dict):
            raise ScriptError(f"script line {number} is not a JSON object")
        steps.append(step)
    return steps


def message_text(message: dict[str, Any]) -> str:
    """Flatten an OpenAI chat message's content (a string or a list of parts) to text."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def choose_step(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Decide what the model says next, given the conversation so far."""
    script_at = -1
    steps: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        try:
            parsed = parse_script(message_text(message))
        except ScriptError as error:
            return {"text": f"(bad script: {error})"}
        if parsed is not None:
            script_at, steps = index, parsed
    if script_at < 0:
        return {"text": FINISHED_TEXT}
    played = 0
    heard: list[str] = []

    def skip_done_steps() -> None:
        # A step whose skip_if has been heard is passed over, as at the time it was due.
        nonlocal played
        while played < len(steps) and _heard_all(steps[played].get("skip_if"), heard, empty=False):
            played += 1

    # Whether the last response counted as a step and none of its tool calls was cut short.
    counted = False
    for message in messages[script_at + 1 :]:
        role = message.get("role")
        text = message_text(message)
        if role == "assistant":
            counted = text.strip() != WAITING_TEXT
            if counted:
                skip_done_steps()
                played += 1
        elif role == "tool" and counted and text.strip() == INTERRUPTED_TEXT:
            # A crash cut the step short: play it again (the tool says if it was done).
            played -= 1
            counted = False
        if role in ("user", "tool"):
            heard.append(text)
    skip_done_steps()
    if played >= len(steps):
        return {"text": FINISHED_TEXT}
    step = steps[played]
    if not _heard_all(step.get("await"), heard, empty=True):
        return {"text": WAITING_TEXT}
    return step


def _heard_all(texts: object, heard: list[str], *, empty: bool) -> bool:
    """Whether every text (one string or a list) appears in something heard; *empty* if none."""
    wanted = [texts] if isinstance(texts, str) else list(texts or [])  # type: ignore[call-overload]
    if not wanted:
        return empty
    return all(any(text in said for said in heard) for text in wanted)
