"""Two deliveries to one member at once send each waiting message once.

Seen in a clean-clone run of the crash test: after the resume, bob's waiting message went
out in one prompt and, 75 ms later, again with the lead's stop notice (`[ensemble delivery
m1]`, then `[ensemble delivery m1 n4]`): the second delivery read the message as waiting
while the first was still sending it. The prompt here is a stand-in that holds its answer
until the test lets it go: a real OpenCode answers `prompt_async` at once, so the second
delivery could not be made to start at that exact moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ensemble_tui.core.models import Member, MemberStatus, Team
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.delivery import Delivery
from ensemble_tui.core.team.events import TeamEvent
from ensemble_tui.core.team.prompts import delivered_tokens
from ensemble_tui.core.team.sessions import SessionState


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


@pytest.fixture
def team(store: Store, tmp_path: Path) -> Team:
    team = store.create_team("crew", tmp_path / "repo", "ses_lead")
    for name in ("alice", "bob"):
        store.add_member(
            Member(team_id=team.id, name=name, session_id=f"ses_{name}", status=MemberStatus.IDLE)
        )
    return team


async def test_a_message_waiting_is_sent_once_when_two_deliveries_overlap(
    store: Store, team: Team
) -> None:
    sent: list[str] = []
    first_out = asyncio.Event()
    answer = asyncio.Event()

    async def prompt(state: SessionState, text: str) -> None:
        sent.append(text)
        if len(sent) == 1:
            first_out.set()
            await answer.wait()

    events: list[TeamEvent] = []
    delivery = Delivery(store, events.append, prompt, lambda: team)
    bob = SessionState("bob", "ses_bob", "/repo/bob")
    message = store.add_message(team.id, "alice", "bob", "Hi bob, alice here: t1 is done.")

    first = asyncio.create_task(delivery.deliver_pending(bob, even_if_busy=True))
    await first_out.wait()
    delivery.notify("bob", "The lead asked you to stop.")
    second = asyncio.create_task(delivery.deliver_pending(bob, even_if_busy=True))
    await asyncio.sleep(0)  # the second delivery runs up to where it waits
    answer.set()
    await asyncio.gather(first, second)

    tokens = [delivered_tokens(text) for text in sent]
    assert sum(f"m{message.id}" in found for found in tokens) == 1, sent
    assert len(sent) == 2, "the notice still goes, in a prompt of its own"
    assert "The lead asked you to stop." in sent[1]
    assert store.count_undelivered(team.id) == 0
