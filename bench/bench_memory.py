"""Memory with a long session on screen: RSS after MESSAGES assistant messages streamed live.

The app runs (`App.run_test`) over the ten-member scene of bench/team.py showing the
lead; each message is one recorded-shape turn of bench/frames.py (an assistant message,
a text part, its deltas, the finished part, a step-finish), parsed as the stream parses
it and handed to the coordinator's session listeners, which is where the bridge takes
it. The bridge is flushed and the app allowed to settle after every SETTLE_EVERY
messages, as a screen that keeps up with ten busy teammates would be.
- `mb transcript.N`: this process's resident set size at the end, in MB (the raw lines
  give it before streaming too, and how many widgets the transcript holds).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_event_path import settle
from bench.frames import FrameMaker
from bench.team import team_scene
from ensemble_tui.opencode.events import parse_global_event

# The goal figure: the transcript keeps a window of mounted parts, so this stays flat.
MESSAGES = 2000
SETTLE_EVERY = 10


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        scene = team_scene(Path(folder))
        coordinator, app = scene.coordinator, scene.app
        state = coordinator.session("ses_lead")
        assert state is not None
        maker = FrameMaker()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            gc.collect()
            before = rss_mb()
            for number in range(messages):
                for frame in maker.turn(state.session_id, state.directory, number):
                    parsed = parse_global_event(frame)
                    assert parsed is not None
                    await coordinator.reactions.handle_event(parsed.event)
                if number % SETTLE_EVERY == SETTLE_EVERY - 1 or number == messages - 1:
                    assert app.bridge is not None
                    app.bridge.flush()
                    await settle(pilot)
            gc.collect()
            after = rss_mb()
            widgets = len(app.main.transcript.children)
    print(
        f"transcript of {messages} streamed messages: RSS {before:.0f} MB before, "
        f"{after:.0f} MB after ({(after - before) / messages * 1000:.0f} KB a message), "
        f"{widgets} widgets mounted"
    )
    print(f"mb transcript.{messages} {after:.0f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else MESSAGES))
