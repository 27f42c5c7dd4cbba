"""How many teammates start at once: a slot per start, from the new session to its first step.

OpenCode starts an instance for every new folder, and the heavy part (plugins, tools,
snapshots, the watcher) runs after the first prompt, before the model is first asked.
Fifty of those at once piled up in one OpenCode process (4 GB, its event loop and
garbage collector busy) until it stopped answering. So a spawn takes a slot before it
makes its session, and the slot is given back when the teammate has started: its first
output, the end of its first turn, an error, or `START_WAIT` seconds at most. A spawn
that fails gives its slot back at once. The spawn itself returns when its first prompt
is taken; only the next spawns wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from ensemble_tui.core.team.sessions import SessionState
from ensemble_tui.opencode.events import Event

log = logging.getLogger(__name__)

START_WAIT = 120.0
"""The longest a start holds its slot: a teammate still quiet after this is left to
the watchdog, and the next one starts."""

SessionListener = Callable[[SessionState, Event], None]


def started(state: SessionState) -> bool:
    """Whether a just-prompted session has started: it said something, or its turn ended."""
    return state.produced_output or state.idle or state.error is not None


class StartSlot:
    """One start's slot, held until the teammate has started (or the start failed)."""

    def __init__(self, gate: StartGate) -> None:
        self._gate = gate
        self._handed_on = False

    def hold_until_started(self, state: SessionState) -> None:
        """The first prompt was taken: give the slot back once *state* has started."""
        self._handed_on = True
        self._gate._watch(state)

    @property
    def handed_on(self) -> bool:
        return self._handed_on


class StartGate:
    """At most `limit` teammates starting at once (see the module's docstring)."""

    def __init__(
        self,
        limit: int,
        add_listener: Callable[[SessionListener], Callable[[], None]],
        *,
        wait: float = START_WAIT,
    ) -> None:
        self.limit = limit
        self.wait = wait
        self._slots = asyncio.Semaphore(limit)
        self._add_listener = add_listener
        self._remove_listener: Callable[[], None] | None = None
        self._waiting: dict[str, tuple[SessionState, asyncio.Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.starting = 0
        """Starts holding a slot now (for tests and the bench)."""

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[StartSlot]:
        """Wait for a free slot; it is given back on leaving unless it was handed on to
        `hold_until_started`."""
        await self._slots.acquire()
        self.starting += 1
        slot = StartSlot(self)
        try:
            yield slot
        finally:
            if not slot.handed_on:
                self._release()

    def _release(self) -> None:
        self.starting -= 1
        self._slots.release()

    def _watch(self, state: SessionState) -> None:
        if started(state):
            self._release()
            return
        event = asyncio.Event()
        self._waiting[state.session_id] = (state, event)
        if self._remove_listener is None:
            self._remove_listener = self._add_listener(self._on_event)
        task = asyncio.create_task(self._hold(state.session_id, event), name="ensemble-start")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, state: SessionState, _event: Event) -> None:
        waiting = self._waiting.get(state.session_id)
        if waiting is not None and started(state):
            waiting[1].set()

    async def _hold(self, session_id: str, event: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(event.wait(), self.wait)
        except TimeoutError:
            log.info(
                "session %s has not started after %.0fs; starting the next", session_id, self.wait
            )
        finally:
            self._waiting.pop(session_id, None)
            if not self._waiting and self._remove_listener is not None:
                self._remove_listener()
                self._remove_listener = None
            self._release()

    async def close(self) -> None:
        """Stop waiting (the coordinator is going away)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
