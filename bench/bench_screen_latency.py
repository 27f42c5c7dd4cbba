"""Do keys still answer at once while several teammates stream?

The screen runs over a fixed scene (tests/tui/scenes.py) while a feeder plays the
coordinator's part: it calls the session listeners with streamed text deltas for the
shown session and four others (STREAMS sessions x RATE deltas a second) and publishes
a feed event now and then. Meanwhile `j`/`k` move the cursor in the team list; the
time from each key to the cursor having moved is measured, with and without the load.
Also printed: how many batches the bridge posted per second (the screen's redraws).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from ensemble_tui.core.coordinator import Coordinator  # noqa: E402
from ensemble_tui.core.sessions import SessionState  # noqa: E402
from ensemble_tui.core.team_events import TaskClaimed  # noqa: E402
from ensemble_tui.opencode.events import PartDelta, PartUpdated  # noqa: E402
from ensemble_tui.tui.app import EnsembleApp  # noqa: E402
from ensemble_tui.tui.bridge import Bridge  # noqa: E402
from tests.tui.scenes import build_scene  # noqa: E402

STREAMS = 5
RATE = 100
KEYS = 40
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "so", "on"]


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def feed(coordinator: Coordinator, stop: asyncio.Event) -> int:
    """Stream deltas into every session until *stop*; return how many were sent."""
    sessions = coordinator.sessions
    while len(sessions) < STREAMS:
        name = f"extra{len(sessions)}"
        sessions.append(SessionState(name, f"ses_{name}", "/tmp"))
    for state in sessions:
        part = {
            "id": f"prt_live_{state.session_id}",
            "sessionID": state.session_id,
            "messageID": f"msg_live_{state.session_id}",
            "type": "text",
            "text": "",
        }
        event = PartUpdated.model_validate({"sessionID": state.session_id, "part": part})
        for listener in list(coordinator._session_listeners):
            listener(state, event)
    sent = 0
    tick = 1 / RATE
    while not stop.is_set():
        for state in sessions:
            delta = PartDelta.model_validate(
                {
                    "sessionID": state.session_id,
                    "messageID": f"msg_live_{state.session_id}",
                    "partID": f"prt_live_{state.session_id}",
                    "field": "text",
                    "delta": WORDS[sent % len(WORDS)] + (" " if sent % 12 else "\n\n"),
                }
            )
            for listener in list(coordinator._session_listeners):
                listener(state, delta)
        sent += len(sessions)
        if sent % (RATE * len(sessions)) == 0:
            coordinator.record(TaskClaimed(member="bob", task="t2"))
        await asyncio.sleep(tick)
    return sent


async def key_latencies(app: EnsembleApp) -> list[float]:
    """Post each key as the terminal driver would, and time until the cursor moved."""
    found = []
    moved = asyncio.Event()
    for number in range(KEYS):
        key = "j" if number % 2 == 0 else "k"
        before = app.selected
        moved.clear()
        start = time.perf_counter()
        app.post_message(events.Key(key, key))
        while app.selected == before:  # noqa: ASYNC110  # polled: the app has no hook here
            await asyncio.sleep(0.001)
        found.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.1)
    return found


async def run(loaded: bool) -> tuple[list[float], float, int]:
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        scene = build_scene(Path(folder), "team")
        app = scene.app
        batches = 0
        original = app.post_message

        def counting(message: object) -> bool:
            nonlocal batches
            if isinstance(message, Bridge.TeamChanged | Bridge.SessionEventsArrived):
                batches += 1
            return original(message)  # type: ignore[arg-type]

        app.post_message = counting  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("escape")
            stop = asyncio.Event()
            feeder = asyncio.create_task(feed(scene.coordinator, stop)) if loaded else None
            await asyncio.sleep(1)
            start = time.perf_counter()
            batches = 0
            latencies = await key_latencies(app)
            elapsed = time.perf_counter() - start
            stop.set()
            sent = await feeder if feeder else 0
        return latencies, batches / elapsed, sent


def describe(label: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return (
        f"{label}: key to cursor moved, median {statistics.median(latencies):.1f} ms, "
        f"95% {p95:.1f} ms, worst {max(latencies):.1f} ms"
    )


async def main() -> None:
    idle, _, _ = await run(loaded=False)
    loaded, per_second, sent = await run(loaded=True)
    print(describe("idle screen", idle))
    print(describe(f"{STREAMS} sessions streaming {RATE} deltas/s each", loaded))
    print(f"bridge batches posted while streaming: {per_second:.1f}/s ({sent} deltas fed)")
    print("(the deltas are fed from the app's own loop, as the coordinator does)")


if __name__ == "__main__":
    asyncio.run(main())
