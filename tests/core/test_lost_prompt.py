"""A teammate's first prompt that OpenCode answered but never kept is sent again on resume.

`prompt_async` answers 204 before OpenCode has written the prompt down; when OpenCode died
just then (it dies with a killed `ensemble-tui run` that started it), the teammate's
session stayed empty, the store said it was started, and the resumed team waited forever
for a teammate that never got its work (seen in tests/core/test_crash_recovery.py under
`-n 2`: "everyone went quiet ... t2 pending"). OpenCode writes the user message and its
text one after the other: killed between the two, the session holds a user message with
no text, which is no more the prompt than nothing (the same failure, seen under load).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx

from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.spawn import SpawnRequest
from ensemble_tui.core.team.startup import start_or_resume
from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.models import MessageWithParts, TextPart
from ensemble_tui.options import RunOptions
from tests.conftest import TEAM, TeamOptions, running_team
from tests.core.conftest import LostPromptTransport, create_team, spawn_through

WORK = "Write bob.txt, bob."


class TextLostTransport(LostPromptTransport):
    """Writes the first prompt that holds *text* down with `noReply` (OpenCode's call that
    answers once the message is written, and runs no turn) and answers 204 as
    `prompt_async` does; the test then deletes the message's text, which leaves what a kill
    between OpenCode's two writes leaves. (The kill cannot be aimed that finely.)"""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content.decode(errors="replace")
        if request.url.path.endswith("/prompt_async") and self.text in body and not self.lost:
            self.lost += 1
            quiet = json.dumps({**json.loads(body), "noReply": True}).encode()
            url = request.url.copy_with(path=request.url.path.replace("/prompt_async", "/message"))
            headers = [(k, v) for k, v in request.headers.items() if k != "content-length"]
            written = await self.real.handle_async_request(
                httpx.Request("POST", url, headers=headers, content=quiet)
            )
            await written.aread()
            assert written.status_code == 200, written.text
            return httpx.Response(204, request=request)
        return await self.real.handle_async_request(request)


async def resume_until(
    options: RunOptions, happened: Callable[[TeamEvent], bool]
) -> list[MessageWithParts]:
    """Resume the team of *options* until an event *happened*; bob's transcript then."""
    async with running_team(options) as again:
        seen = asyncio.Event()
        again.feed.subscribe(lambda event: seen.set() if happened(event) else None)
        await start_or_resume(again)
        async with asyncio.timeout(120):
            await seen.wait()
        return await TeamControl(again).transcript("bob")


async def test_a_first_prompt_kept_without_its_text_is_sent_again_when_the_team_resumes(
    team_options: TeamOptions,
) -> None:
    bob = script_block(
        tool("ensemble_team_message", to="lead", text="bob: bob.txt is written"), {"text": "ok"}
    )
    options = team_options()
    async with running_team(options) as first:
        team = await create_team(first, TEAM)
        losing = TextLostTransport(WORK)
        await spawn_through(first, team, losing, SpawnRequest("bob", f"{WORK}\n{bob}"))
        assert losing.lost == 1
        state = first.session_of("bob")
        assert state is not None
        (kept,) = await first.client.messages(state.session_id, state.directory)
        for part in kept.parts:
            path = f"/session/{state.session_id}/message/{kept.info.id}/part/{part.id}"
            await first.client.request("DELETE", path, directory=state.directory)
        (emptied,) = await TeamControl(first).transcript("bob")
        assert emptied.info.role == "user"
        assert emptied.parts == [], "a user message with no text"

    transcript = await resume_until(
        options, lambda event: event.type == "member.idle" and event.member == "bob"
    )

    prompts = [
        "".join(part.text for part in entry.parts if isinstance(part, TextPart))
        for entry in transcript
        if entry.info.role == "user" and entry.parts
    ]
    assert len(prompts) == 1, "sent again once, and no restart notice before it"
    assert WORK in prompts[0]


async def test_a_first_prompt_opencode_never_kept_is_sent_again_when_the_team_resumes(
    team_options: TeamOptions,
) -> None:
    bob = script_block(
        tool("ensemble_team_message", to="lead", text="bob: bob.txt is written"), {"text": "ok"}
    )
    options = team_options()
    async with running_team(options) as first:
        team = await create_team(first, TEAM)
        losing = LostPromptTransport(WORK)
        await spawn_through(first, team, losing, SpawnRequest("bob", f"{WORK}\n{bob}"))
        assert losing.lost == 1
        assert await TeamControl(first).transcript("bob") == [], "the prompt was lost"

    transcript = await resume_until(
        options, lambda event: event.type == "message.sent" and event.sender == "bob"
    )

    prompts = [
        "".join(part.text for part in entry.parts if isinstance(part, TextPart))
        for entry in transcript
        if entry.info.role == "user"
    ]
    assert len(prompts) == 1, "sent again once, and no restart notice before it"
    assert WORK in prompts[0]
