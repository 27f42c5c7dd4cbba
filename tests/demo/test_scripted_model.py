"""The scripted model's choice of step, and its HTTP answers (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from ensemble_tui.demo.script import (
    FINISHED_TEXT,
    INTERRUPTED_TEXT,
    WAITING_TEXT,
    choose_step,
    parse_script,
    script_block,
)
from ensemble_tui.demo.scripted_model import TITLE_TEXT, ScriptedModel

SCRIPT = script_block({"tool": "bash", "args": {"command": "ls"}}, {"text": "listed"})
TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {}}}]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str = "") -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def test_steps_are_played_in_order_and_then_the_script_is_finished() -> None:
    conversation = [{"role": "system", "content": "you are an agent"}, user("go\n" + SCRIPT)]
    assert choose_step(conversation)["tool"] == "bash"
    conversation += [assistant(), {"role": "tool", "content": "README.md"}]
    assert choose_step(conversation) == {"text": "listed"}
    conversation.append(assistant("listed"))
    assert choose_step(conversation) == {"text": FINISHED_TEXT}


def test_steps_continue_across_turns_and_a_newer_script_takes_over() -> None:
    conversation = [user(SCRIPT), assistant(), {"role": "tool", "content": "x"}]
    conversation += [assistant("listed"), user("a later message")]
    assert choose_step(conversation) == {"text": FINISHED_TEXT}
    conversation.append(user(script_block({"text": "new plan"})))
    assert choose_step(conversation) == {"text": "new plan"}


def test_an_awaited_step_waits_for_its_text_without_being_consumed() -> None:
    script = script_block({"text": "started"}, {"await": "task t3", "text": "t3 is mine"})
    conversation = [user(script), assistant("started"), user("hello from bob")]
    assert choose_step(conversation) == {"text": WAITING_TEXT}
    conversation += [assistant(WAITING_TEXT), user("task t3 is now claimable")]
    assert choose_step(conversation)["text"] == "t3 is mine"


def test_a_tool_call_cut_short_by_a_crash_is_played_again_and_a_refused_one_is_not() -> None:
    """OpenCode killed mid-call shows the call as interrupted after its restart; a model
    told its tool calls were cut makes the call again (tests/core/test_crash_recovery.py:
    a teammate's cut `team_claim` was taken as done, and its task stayed with nobody)."""
    claim = {"tool": "ensemble_team_claim", "args": {"task_id": "t2"}}
    script = script_block(claim, {"tool": "write", "args": {"filePath": "bob.txt"}})
    conversation = [user(script), assistant(), {"role": "tool", "content": INTERRUPTED_TEXT}]
    conversation.append(user("[ensemble] ensemble-tui restarted while you were working"))
    assert choose_step(conversation) == claim
    conversation += [assistant(), {"role": "tool", "content": "Task t2 is already yours."}]
    assert choose_step(conversation)["tool"] == "write", "an answer, even a refusal, is played"


def test_an_await_list_needs_every_text_in_any_order() -> None:
    script = script_block({"await": ["from alice", "from bob"], "text": "both reported"})
    conversation = [user(script), user("Message from bob: done")]
    assert choose_step(conversation) == {"text": WAITING_TEXT}
    conversation += [assistant(WAITING_TEXT), user("Message from alice: done")]
    assert choose_step(conversation)["text"] == "both reported"


def test_a_step_is_skipped_when_its_skip_if_was_heard_in_time() -> None:
    script = script_block(
        {"tool": "claim"},
        {"skip_if": "You hold t3", "await": "t3 is free", "tool": "claim"},
        {"text": "working on t3"},
    )
    won = [user(script), assistant(), {"role": "tool", "content": "You hold t3"}]
    assert choose_step(won) == {"text": "working on t3"}
    won += [assistant("working on t3")]
    assert choose_step(won) == {"text": FINISHED_TEXT}

    refused = [user(script), assistant(), {"role": "tool", "content": "t3 is blocked"}]
    assert choose_step(refused) == {"text": WAITING_TEXT}
    refused += [assistant(WAITING_TEXT), user("t3 is free")]
    assert choose_step(refused)["tool"] == "claim"
    refused += [assistant(), {"role": "tool", "content": "You hold t3"}]
    assert choose_step(refused) == {"text": "working on t3"}, "a played step is never skipped"


def test_a_bad_script_is_answered_not_crashed_on() -> None:
    step = choose_step([user("```scripted\n{not json}\n```")])
    assert "bad script" in step["text"]
    assert parse_script("no script here") is None
    assert choose_step([user("plain prompt")]) == {"text": FINISHED_TEXT}


@pytest.fixture
def model() -> Any:
    with ScriptedModel() as running:
        yield running


def test_plain_json_answers_carry_tool_calls_and_usage(model: ScriptedModel) -> None:
    body = {"model": "script", "messages": [user(SCRIPT)], "tools": TOOLS}
    answer = httpx.post(f"{model.base_url}/chat/completions", json=body).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "bash"
    assert json.loads(call["function"]["arguments"]) == {"command": "ls"}
    assert answer["usage"]["total_tokens"] > 0
    assert model.requests[-1]["step"]["tool"] == "bash"


def test_streamed_answers_split_text_into_chunks_and_end_with_done(model: ScriptedModel) -> None:
    long_text = "word " * 30
    body = {
        "model": "script",
        "stream": True,
        "messages": [user(script_block({"text": long_text, "reasoning": "hmm"}))],
        "tools": TOOLS,
    }
    with httpx.stream("POST", f"{model.base_url}/chat/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == long_text
    assert sum(1 for d in deltas if d.get("content")) > 1
    assert any(d.get("reasoning_content") == "hmm" for d in deltas)
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_a_request_without_tools_gets_a_title_and_a_failing_step_an_error(
    model: ScriptedModel,
) -> None:
    title = httpx.post(
        f"{model.base_url}/chat/completions", json={"messages": [user(SCRIPT)]}
    ).json()
    assert title["choices"][0]["message"]["content"] == TITLE_TEXT
    failing = {"messages": [user(script_block({"fail": 503}))], "tools": TOOLS}
    assert httpx.post(f"{model.base_url}/chat/completions", json=failing).status_code == 503


def test_a_held_step_is_answered_only_once_its_hold_is_released(model: ScriptedModel) -> None:
    hold = model.new_hold("go")
    assert hold != model.new_hold("go"), "each hold name is new"
    body = {"messages": [user(script_block({"hold": hold, "text": "released"}))], "tools": TOOLS}
    answers: list[str] = []

    def ask() -> None:
        answer = httpx.post(f"{model.base_url}/chat/completions", json=body, timeout=30).json()
        answers.append(answer["choices"][0]["message"]["content"])

    asking = threading.Thread(target=ask)
    asking.start()
    # The request has reached the hold (it is recorded first) and stays unanswered.
    deadline = time.monotonic() + 10
    while not any(r["step"].get("hold") == hold for r in model.requests):
        assert time.monotonic() < deadline, "the held request never arrived"
        time.sleep(0.01)
    asking.join(0.3)
    assert asking.is_alive()
    assert answers == []
    model.release(hold)
    asking.join(10)
    assert answers == ["released"]
    # Released once, a hold lets the step through at once from then on.
    again = httpx.post(f"{model.base_url}/chat/completions", json=body, timeout=5).json()
    assert again["choices"][0]["message"]["content"] == "released"
