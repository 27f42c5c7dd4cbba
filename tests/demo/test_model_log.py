"""The scripted model's log keeps what each step answered: the last tool result.

A flaky run that fails after the sessions are deleted (the shared server's clean-up) has
only the model's log to tell what a tool call returned: a refusal of the team tools, or
an error of OpenCode's MCP client such as a server that did not answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import RECORDED_CHARS, ScriptedModel

SCRIPT = script_block(
    {"tool": "ensemble_team_create", "args": {"name": "crew"}}, {"text": "created"}
)
CALL: dict[str, object] = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "ensemble_team_create", "arguments": '{"name": "crew"}'},
        }
    ],
}


# A request that offers no tools is one for a session title.
TOOLS = [{"type": "function", "function": {"name": "ensemble_team_create", "parameters": {}}}]


def ask(model: ScriptedModel, messages: list[dict[str, object]]) -> dict[str, Any]:
    body = {"model": "script", "messages": messages, "tools": TOOLS}
    httpx.post(f"{model.base_url}/chat/completions", json=body, timeout=30).raise_for_status()
    return model.requests[-1]


def test_each_record_keeps_the_tool_result_its_step_answers(tmp_path: Path) -> None:
    log_path = tmp_path / "model.log"
    failed = "Error: fetch failed (connect ECONNREFUSED 127.0.0.1:40001)"
    with ScriptedModel(log_path=log_path) as model:
        first = ask(model, [{"role": "user", "content": SCRIPT}])
        answered = ask(
            model,
            [
                {"role": "user", "content": SCRIPT},
                CALL,
                {"role": "tool", "tool_call_id": "call_1", "content": failed},
            ],
        )
        long = ask(
            model,
            [
                {"role": "user", "content": SCRIPT},
                CALL,
                {"role": "tool", "tool_call_id": "call_1", "content": "x" * 5000},
            ],
        )
    assert first["last_tool"] == "", "a first request answers no tool"
    assert answered["step"] == {"text": "created"}
    assert answered["last_tool"] == failed
    assert long["last_tool"] == "x" * RECORDED_CHARS
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [entry["last_tool"] for entry in logged] == ["", failed, "x" * RECORDED_CHARS]
