"""A team of ten for the benchmarks: the snapshot scene plus seven more teammates.

The scene (tests/tui/scenes.py) is the real app over a real coordinator, store and git
repository; its OpenCode client answers transcripts from canned JSON. The event
stream, though, is real: `follow` connects the coordinator's own `EventStream` to the
bench's local `FrameServer`, so every frame goes through httpx, httpx-sse, the typed
parse, `SessionState.apply` and the coordinator's reaction, as in production.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.frames import END_PART  # noqa: E402
from ensemble_tui.core.models import Member  # noqa: E402
from ensemble_tui.core.team.coordinator import Coordinator  # noqa: E402
from ensemble_tui.core.team.sessions import SessionState  # noqa: E402
from ensemble_tui.opencode.client import OpenCodeClient  # noqa: E402
from ensemble_tui.opencode.events import Event, PartDelta  # noqa: E402
from ensemble_tui.opencode.stream import EventStream  # noqa: E402
from tests.tui.scenes import Scene, build_scene  # noqa: E402

EXTRA = ["carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]


def team_scene(folder: Path) -> Scene:
    """The `team` scene with ten members in all, each with a tracked session."""
    scene = build_scene(folder, "team")
    coordinator = scene.coordinator
    team = coordinator.team
    assert team is not None
    for name in EXTRA:
        session = f"ses_{name}"
        coordinator.store.add_member(Member(team_id=team.id, name=name, session_id=session))
        coordinator.track(SessionState(name, session, str(coordinator.repo_root)))
    # Delivered already: the canned client cannot take prompts, and a failed delivery is
    # retried at every turn's end, which a live team does not do.
    for state in coordinator.sessions:
        for message in coordinator.store.list_undelivered(team.id, state.member):
            coordinator.store.mark_delivered(message.id, state.member)
    return scene


def sessions_of(coordinator: Coordinator) -> list[tuple[str, str]]:
    return [(state.session_id, state.directory) for state in coordinator.sessions]


async def follow(
    coordinator: Coordinator, url: str, client: OpenCodeClient | None = None
) -> tuple[asyncio.Future[float], Callable[[], Awaitable[None]]]:
    """Start the coordinator on the stream at *url* (through *client* if given, made
    beforehand); the future gets the time the end frame was handled. Returns it with a
    function that stops following."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def on_event(state: SessionState, event: Event) -> None:
        if isinstance(event, PartDelta) and event.part_id == END_PART and not done.done():
            done.set_result(loop.time())

    unlisten = coordinator.add_session_listener(on_event)
    coordinator._stream_ready.clear()
    await coordinator.start_events(EventStream(client or OpenCodeClient(url, password="")))

    async def stop() -> None:
        await coordinator.stop_events()
        unlisten()

    return done, stop
