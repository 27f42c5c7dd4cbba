"""The benchmarks stay runnable: each one, with a small N, prints its figure lines.

Nothing here is timed; `make bench` gives the figures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import bench_event_path, bench_memory, bench_startup, scale, teammate_cost
from bench.frames import END_PART, FrameServer, encode, generate
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.script import parse_script
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import PartDelta, parse_global_event
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.options import RunOptions


def test_generated_frames_parse_as_the_recorded_shapes() -> None:
    frames = generate(300, [("ses_a", "/a"), ("ses_b", "/b")])
    events = [parsed.event for frame in frames if (parsed := parse_global_event(frame))]
    deltas = [event for event in events if isinstance(event, PartDelta)]
    assert len(frames) == 300
    assert len(deltas) > len(frames) / 2
    assert deltas[-1].part_id == END_PART
    assert {event.session_id for event in deltas} == {"ses_a", "ses_b"}


async def test_event_path_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    await bench_event_path.main(frames=200, rounds=1, key_count=2)
    out = capsys.readouterr().out
    for name in ("ingest.coordinator", "ingest.screen", "keys.2000", "keys.10000"):
        assert name in out
    # A screen round gives both counts: to the stream's end, and (the line's) to idle.
    assert re.search(r"ratio to it [0-9.]+; then [0-9]+ ms to idle\), ratio [0-9.]+", out)


async def test_the_frame_server_ends_its_handlers_quietly() -> None:
    """A paced handler ends without an error when its client goes away, when it is
    cancelled, and when the server stops (asyncio reports a connection handler that ends
    in any exception, a cancellation included, as an error)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    server = FrameServer()
    await server.start()
    server.arm(encode(generate(500, [("ses_a", "/a")])), rate=20)  # 25 s of frames
    port = int(server.url.rsplit(":", 1)[1])

    async def connect() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /global/event HTTP/1.1\r\nhost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        return writer

    try:
        client = await connect()
        (gone,) = server.handlers
        client.close()
        async with asyncio.timeout(30):
            await gone  # ends once its client has gone
        await connect()
        (cancelled,) = server.handlers
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        await asyncio.sleep(0)  # the handler's done callback runs
        assert not cancelled.cancelled(), "it ended quietly"
        await connect()
        await server.stop()
        assert not server.handlers
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_memory_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    await bench_memory.main(3)
    assert "mb transcript.3 " in capsys.readouterr().out


def test_startup_benchmark_runs(
    capsys: pytest.CaptureFixture[str], opencode_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    # Measured as installed: our modules' bytecode is written before the rounds (here
    # one module's is missing first, as in a fresh checkout).
    source = Path(bench_startup.ROOT, "ensemble_tui", "tui", "app.py")
    compiled = Path(importlib.util.cache_from_source(str(source)))
    compiled.unlink(missing_ok=True)
    bench_startup.main(rounds=1)
    header = compiled.read_bytes()[:16]
    assert int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF
    out = capsys.readouterr().out
    assert "seconds help " in out
    assert "ratio first_frame " in out
    # The one-label app brackets ensemble-tui in each round (before and after).
    assert re.search(r"one-label app [0-9.]+ s and [0-9.]+ s, ensemble-tui", out)
    # The first frame shows outlines; the frame with the panes in place is printed too,
    # and comes after it.
    found = re.search(r"ensemble-tui ([0-9.]+) s, .*full screen ([0-9.]+) s", out)
    assert found is not None
    assert float(found[2]) >= float(found[1])
    assert re.search(r"full screen: ratio median [0-9.]+\n", out)


def test_the_scale_run_spawns_everyone_in_one_call_and_cleans_up_after_all_reports() -> None:
    """`make bench-scale` (opt-in, minutes long): its lead's script, checked here."""
    names = ["m01", "m02", "m03"]
    steps = parse_script(scale.lead_prompt(names))
    assert steps is not None
    spawns = [step for step in steps if step.get("tool") == "ensemble_team_spawn"]
    assert len(spawns) == 1
    spawn = spawns[0]["args"]
    assert [spawn["name"], *(more["name"] for more in spawn["more"])] == names
    (cleanup,) = [step for step in steps if step.get("tool") == "ensemble_team_cleanup"]
    assert cleanup["await"] == [f"{name}: done" for name in names]
    assert all(parse_script(more["prompt"]) for more in spawn["more"])


def test_the_scale_run_counts_a_teammate_working_from_its_first_step() -> None:
    """All working means each teammate's model was asked for its first step (the write of
    `<name>.txt`), not only that its spawn was done."""
    requests = [
        {"time": 103.0, "step": {"tool": "ensemble_team_spawn", "args": {}}},
        {"time": 110.0, "step": {"tool": "write", "args": {"filePath": "m02.txt"}}},
        {"time": 112.0, "step": {"tool": "bash", "args": {"command": "git commit"}}},
        {"time": 107.5, "step": {"tool": "write", "args": {"filePath": "m01.txt"}}},
        {"time": 120.0, "step": {"text": "done"}},
    ]
    assert scale.first_steps(requests, ["m01", "m02", "m03"], 100.0) == {"m01": 7.5, "m02": 10.0}


def test_the_scale_run_counts_cpu_time_with_waited_for_children() -> None:
    """OpenCode's CPU time includes the commands it ran and waited for (git, the shell);
    a process that is gone counts nothing (its parent's total has it)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    me = os.getpid()
    assert scale.cpu_seconds(me) >= scale.cpu_seconds(me, children=False) > 0
    assert scale.cpu_seconds(int(child.stdout)) == 0.0


async def test_the_teammate_cost_run_prints_every_stage(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    git_repo: Path,
    opencode_server: OpenCodeServer,
    client: OpenCodeClient,
    scripted_model: ScriptedModel,
) -> None:
    """`make bench-teammate` (opt-in): one teammate through every stage against the real
    OpenCode, each stage's CPU read from its process (never compared: not timed)."""
    assert opencode_server.process is not None
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        url=opencode_server.url,
        password=opencode_server.password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=tmp_path / "worktrees"),
    )
    figures = await teammate_cost.measure(
        options,
        client,
        opencode_server.process.pid,
        scripted_model,
        count=1,
        rounds=1,
        warm_up=False,
        # Only that every stage is printed is looked at, not its figure: no waiting for
        # OpenCode to go quiet between stages (it took the whole run two minutes in CI).
        quiet=teammate_cost.Quiet(cpu=float("inf"), span=0.05, idle=0.05),
    )
    out = capsys.readouterr().out
    for stage in teammate_cost.STAGES:
        assert f"cpu_s teammate.{stage} " in out
    # Starting up for a new folder and a turn are work OpenCode did, read from its process.
    assert figures["bare_turn"] > 0
    assert figures["first_turn"] > 0
