"""How fast recorded `/global/event` frames become typed events.

Every streamed token of every teammate is one frame, so parsing must stay far below
the cost of drawing. Prints frames per second for raw `json.loads` and for the full
typed parse, and their ratio (compare ratios: the machine is shared and noisy).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ensemble_tui.opencode.events import parse_global_event

FIXTURE = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/opencode-1.18.33/global-events.jsonl"
)
ROUNDS = 200


def frames_per_second(lines: list[str], typed: bool) -> float:
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for line in lines:
            frame = json.loads(line)
            if typed:
                parse_global_event(frame)
    return ROUNDS * len(lines) / (time.perf_counter() - start)


def main() -> None:
    lines = [line for line in FIXTURE.read_text().splitlines() if line.strip()]
    raw = frames_per_second(lines, typed=False)
    typed = frames_per_second(lines, typed=True)
    print(f"event parsing: {len(lines)} recorded frames x {ROUNDS} rounds")
    print(f"  json.loads only : {raw:12,.0f} frames/s")
    print(f"  typed events    : {typed:12,.0f} frames/s")
    print(f"  typed / raw     : {typed / raw:12.2f}")


if __name__ == "__main__":
    main()
