"""The event path at the speed of the stream: ingestion, the screen, and keys under load.

Frames (bench/frames.py: recorded OpenCode 1.18.33 shapes, mostly `message.part.delta`,
over the ten sessions of bench/team.py) are served by a local HTTP SSE server on
127.0.0.1 and read by the coordinator's real `EventStream`, so the measured path is the
production one from the socket on. The baseline is a bare httpx-sse + `json.loads` loop
over the same bytes from the same server, run in the same process and round as each
measured path, interleaved; every ratio line is the median over the rounds.

- `ratio ingest.coordinator`: frames/s of the coordinator alone over the bare loop's.
- `ratio ingest.screen`: the same with the app attached (`App.run_test`, with its toasts
  as in a terminal), counted until the screen is idle again; the raw lines also give the
  time to idle after the stream, and the ratio counted to the stream's end only (the
  issue's table splits it that way: frames/s, then the drawing left after the stream);
  the line itself keeps the stricter count.
- `p99_ms keys.2000` / `lost keys.10000`: while 10 sessions stream at that many frames
  a second, `j`/`k` are posted as the terminal driver would and the time until the
  team list's cursor moved is taken; a key not answered within KEY_PATIENCE is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from textual import events
from textual.pilot import Pilot

from bench.frames import FrameServer, bare_loop, encode, generate
from bench.team import follow, sessions_of, team_scene
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.tui.app import EnsembleApp

KEY_PATIENCE = 10.0


async def settle(pilot: Pilot[None]) -> None:
    """Until the app has nothing left to do: no bridge batch due or being drawn, no
    message queued."""
    app = pilot.app
    assert isinstance(app, EnsembleApp)
    while True:
        await pilot.pause()
        bridge = app.bridge
        if (bridge is None or not bridge.busy) and app._message_queue.empty():
            await pilot.pause()
            if app._message_queue.empty():
                return


async def bare_round(server: FrameServer, payload: list[bytes]) -> float:
    """One timed bare loop over *payload*, its client made and garbage collected first."""
    async with httpx.AsyncClient(timeout=30) as http:
        server.arm(payload)
        gc.collect()
        return await bare_loop(server.url, len(payload), http)


async def ingest_coordinator(frames: int, rounds: int) -> list[float]:
    """Ratios (the coordinator's frames/s over the bare loop's), one per round.

    Both sides are treated alike: an untimed round warms both up first; each round the
    coordinator starts from the same state (a new scene at the same path, so the same
    frames: the ids repeat, and a coordinator that had seen them would skip their
    work), the garbage of the last round is collected before each timed part, and
    each side's HTTP client is made before its clock starts.
    """
    ratios = []
    server = FrameServer()
    await server.start()
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        where = Path(folder) / "scene"
        payload = encode(generate(frames, sessions_of(team_scene(where).coordinator)))
        for number in range(rounds + 1):
            shutil.rmtree(where)
            scene = team_scene(where)
            bare = await bare_round(server, payload)
            client = OpenCodeClient(server.url, password="")
            server.arm(payload)
            gc.collect()
            start = time.perf_counter()
            done, stop = await follow(scene.coordinator, server.url, client)
            await done
            measured = time.perf_counter() - start
            await stop()
            await client.aclose()
            scene.store.close()
            if number == 0:
                continue  # warming up
            ratios.append(bare / measured)
            print(
                f"  round {number}: bare {len(payload) / bare:,.0f} frames/s, "
                f"coordinator {len(payload) / measured:,.0f} frames/s, "
                f"ratio {bare / measured:.3f}"
            )
    await server.stop()
    return ratios


async def ingest_screen(frames: int, rounds: int) -> list[float]:
    """Ratios (frames/s with the screen attached, counted until it is idle again, over
    the bare loop's), one per round.

    As the coordinator's rounds: an untimed round warms both sides up first, and each
    round starts from the same state (a new scene and app at the same path: a round in
    the last one's app would update the parts that one left on screen instead of
    streaming new ones), with the last round's garbage collected and each side's HTTP
    client made before its clock starts.
    """
    ratios = []
    server = FrameServer()
    await server.start()
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        where = Path(folder) / "scene"
        payload = encode(generate(frames, sessions_of(team_scene(where).coordinator)))
        for number in range(rounds + 1):
            shutil.rmtree(where)
            scene = team_scene(where)
            async with scene.app.run_test(size=(120, 40), notifications=True) as pilot:
                await settle(pilot)
                bare = await bare_round(server, payload)
                client = OpenCodeClient(server.url, password="")
                server.arm(payload)
                gc.collect()
                start = time.perf_counter()
                done, stop = await follow(scene.coordinator, server.url, client)
                await done
                streamed = time.perf_counter() - start
                await settle(pilot)
                idle = time.perf_counter() - start - streamed
                await stop()
                await client.aclose()
            scene.store.close()
            if number == 0:
                continue  # warming up
            measured = streamed + idle
            ratios.append(bare / measured)
            print(
                f"  round {number}: bare {len(payload) / bare:,.0f} frames/s, "
                f"screen {len(payload) / measured:,.0f} frames/s "
                f"(stream {streamed:.2f}s, ratio to it {bare / streamed:.3f}; "
                f"then {idle * 1000:.0f} ms to idle), ratio {bare / measured:.3f}"
            )
    await server.stop()
    return ratios


async def press(app: EnsembleApp, key: str) -> float | None:
    """Milliseconds from *key* to the cursor having moved; None if it never did."""
    before = app.selected
    start = time.perf_counter()
    app.post_message(events.Key(key, key))
    while app.selected == before:  # polled: the app has no hook here
        if time.perf_counter() - start > KEY_PATIENCE:
            return None
        await asyncio.sleep(0.001)
    return (time.perf_counter() - start) * 1000


async def keys(rate: int, count: int) -> tuple[list[float], int]:
    """Key latencies (ms) while the stream runs at *rate* frames/s, and keys lost."""
    server = FrameServer()
    await server.start()
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-") as folder:
        scene = team_scene(Path(folder))
        app = scene.app
        # Enough frames for the whole key run, so the load never stops early.
        payload = encode(generate(int(rate * (1.5 + count * 0.15)), sessions_of(scene.coordinator)))
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await settle(pilot)
            await pilot.press("escape")
            server.arm(payload, rate=rate)
            _, stop = await follow(scene.coordinator, server.url)
            await asyncio.sleep(1)
            latencies: list[float] = []
            lost = 0
            for number in range(count):
                answered = await press(app, "j" if number % 2 == 0 else "k")
                if answered is None:
                    lost += 1
                else:
                    latencies.append(answered)
                await asyncio.sleep(0.1)
            await stop()
    await server.stop()
    return latencies, lost


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("inf")


PARTS = ("coordinator", "screen", "keys")


async def main(frames: int, rounds: int, key_count: int, parts: Sequence[str] = PARTS) -> None:
    print(f"ingestion: {frames} frames over 10 sessions, {rounds} rounds")
    if "coordinator" in parts:
        coordinator = await ingest_coordinator(frames, rounds)
        print(f"ratio ingest.coordinator {statistics.median(coordinator):.3f}")
    if "screen" in parts:
        screen = await ingest_screen(frames, rounds)
        print(f"ratio ingest.screen {statistics.median(screen):.3f}")
    if "keys" not in parts:
        return
    for rate in (2000, 10000):
        latencies, lost = await keys(rate, key_count)
        shown = f"median {statistics.median(latencies):.1f} ms, " if latencies else ""
        print(
            f"keys at {rate} frames/s over 10 sessions: {len(latencies)} answered, {lost} lost, "
            f"{shown}p99 {p99(latencies):.1f} ms"
        )
        if rate == 2000:
            print(f"p99_ms keys.2000 {p99(latencies):.1f}")
        else:
            print(f"lost keys.10000 {lost}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only this part (may be repeated)"
    )
    parser.add_argument(
        "--coordinator-only",
        action="store_true",
        help="measure the coordinator's ingestion alone (as --only coordinator)",
    )
    args = parser.parse_args()
    parts = ["coordinator"] if args.coordinator_only else args.only or list(PARTS)
    asyncio.run(main(args.frames, args.rounds, args.keys, parts))
