"""A resync that read a session busy, while the stream applied the end of its turn, leaves
the session idle.

Seen in `make bench-scale N=50` under load: the resync (`reconcile`) reads every folder's
statuses, permissions and questions one folder after another, and sets each session's
busy flag from the statuses once its folder's three answers are in. The lead's turn ended
between the status read (busy) and that assignment; the stream had applied its end, and
the assignment made the lead busy again, with no event ever to come. Nothing was delivered
to the lead from then on: 19 reports waited while both processes sat idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team.recovery import reconcile
from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import Event
from tests.conftest import Holds, TeamOptions, running_team


class TurnEndsMidReadTransport(httpx.AsyncBaseTransport):
    """Passes every request on; calls *status_read* once the statuses are read, and holds
    the permissions read (the one after the statuses) until *ended* is set, so the lead's
    turn ends between the resync's status read and its use. (A real interleaving that load
    makes, here made on purpose: the only part that is not left to chance.)"""

    def __init__(
        self, session_id: str, ended: asyncio.Event, status_read: Callable[[], None]
    ) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.session_id = session_id
        self.ended = ended
        self.status_read = status_read
        self.read_busy = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/permission":
            async with asyncio.timeout(60):
                await self.ended.wait()
        response = await self.real.handle_async_request(request)
        if request.url.path == "/session/status":
            await response.aread()
            status = response.json().get(self.session_id) or {}
            self.read_busy = status.get("type") == "busy"
            self.status_read()
        return response

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_a_turn_that_ends_during_a_resync_leaves_the_session_idle(
    team_options: TeamOptions, holds: Holds
) -> None:
    async with running_team(team_options()) as coord:
        lead = await coord.start_lead()
        busy = asyncio.Event()
        ended = asyncio.Event()

        def watch(state: SessionState, _event: Event) -> None:
            if state is lead and state.busy:
                busy.set()
            if busy.is_set() and state is lead and state.idle:
                ended.set()

        coord.add_session_listener(watch)
        # The model answers only once the resync has read the statuses: the read finds
        # the turn running.
        thinking = holds.new("thinking")
        await coord.prompt(lead, script_block({"text": "thinking", "hold": thinking}))
        async with asyncio.timeout(60):
            await busy.wait()

        real = coord.client
        transport = TurnEndsMidReadTransport(
            lead.session_id, ended, lambda: holds.release(thinking)
        )
        async with OpenCodeClient(real.base_url, password=real.password, transport=transport) as c:
            coord.client = c
            try:
                await reconcile(coord, cut_short=set())
            finally:
                coord.client = real

        assert transport.read_busy, "the premise: the status read found the turn running"
        assert ended.is_set()
        assert lead.idle, "the turn's end, applied by the stream, outlives the older status"
        assert lead.status() is MemberStatus.IDLE
