"""Scale (opt-in, `make bench-scale N=50`): N teammates spawned in one call.

`ensemble-tui run --json` runs as a user runs it (it starts its own OpenCode, named by
ENSEMBLE_OPENCODE_BIN) against the scripted model. The lead creates a team and spawns
N teammates in one `team_spawn` (the first and N-1 in `more`); each writes a file,
commits it and reports; when all have reported the lead cleans up, merging them all. Printed:
- `seconds scale.wall`: from start to `run` exiting;
- `seconds scale.all_working`: from start until the last teammate was at work: its model
  first asked for its first step (OpenCode has started up for its worktree), and on the
  lines before, how much of that the spawning took (from the team's creation) and when
  the last spawn was done (its session made, its first prompt taken; ensemble-tui starts
  `max_starting` teammates at a time, so this is close to the last one's start);
- `mb scale.ensemble_rss` / `mb scale.opencode_rss`: the peak resident set size of the
  ensemble-tui process, and of its OpenCode (the launchers and the servers it starts);
- `seconds scale.ensemble_cpu` / `seconds scale.opencode_cpu`: the CPU time each used
  (OpenCode's with the commands it ran and waited for: git, the shell), and on the line
  before, OpenCode's per teammate;
and on the lines before them, how many were spawned, worked, reported and were merged,
why any spawn failed, the load average, and whether OpenCode kept its snapshots (the
setting `opencode_snapshots`; `ENSEMBLE_OPENCODE_SNAPSHOTS=false make bench-scale` runs
with them off), and over how many `opencode serve` processes (the setting
`opencode_servers`: `ENSEMBLE_OPENCODE_SERVERS=2 make bench-scale`). SCALE_KEEP=1
keeps the run's folder (the OpenCode logs, the model's log, the events with their times).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_startup import fresh_repository  # noqa: E402
from ensemble_tui.demo.environment import (  # noqa: E402
    scripted_opencode_environment,
    seed_opencode_config,
)
from ensemble_tui.demo.scenarios import tool, write_and_commit  # noqa: E402
from ensemble_tui.demo.script import script_block  # noqa: E402
from ensemble_tui.demo.scripted_model import ScriptedModel  # noqa: E402
from ensemble_tui.opencode.server import check_opencode_version, find_opencode  # noqa: E402

TIMEOUT = 1800


def plugin_deps() -> Path | None:
    """The plugin package OpenCode installs into a new config folder, when `make` put it in
    `.tools`: the run's throwaway HOME gets it, as a user's has it after OpenCode's first
    run, so that no server spends its first minutes on an `npm install` (and two servers
    do not run one each into the same folder: `background dependency install failed`)."""
    version = check_opencode_version(find_opencode())
    deps = ROOT / ".tools" / f"opencode-plugin-{version}"
    return deps if (deps / "node_modules" / "@opencode-ai" / "plugin").is_dir() else None


def teammate_prompt(name: str) -> str:
    return f"Write {name}.txt and report.\n" + script_block(
        *write_and_commit(name, f"{name}.txt", f"{name} was here\n"),
        tool("ensemble_team_message", to="lead", text=f"{name}: done"),
        {"text": "done"},
    )


def lead_prompt(names: list[str]) -> str:
    more = [{"name": name, "prompt": teammate_prompt(name)} for name in names[1:]]
    return f"A team of {len(names)}.\n" + script_block(
        tool("ensemble_team_create", name="scale"),
        tool("ensemble_team_spawn", name=names[0], prompt=teammate_prompt(names[0]), more=more),
        {"text": "All spawned; waiting for their reports."},
        # A report is a teammate's last tool call and its turn ends a moment later: the
        # clean-up waits for each turn to end, then merges every branch (a fixed wait
        # before merging one by one lost a teammate still finishing, under load).
        {"await": [f"{name}: done" for name in names], **tool("ensemble_team_cleanup")},
        {"text": "All merged."},
    )


def first_steps(requests: list[dict[str, Any]], names: list[str], start: float) -> dict[str, float]:
    """When each teammate's model was first asked for a step (its first step writes
    `<name>.txt`), in seconds from *start* (wall clock, as the model records)."""
    first: dict[str, float] = {}
    for request in requests:
        step = request.get("step") or {}
        path = (step.get("args") or {}).get("filePath", "") if step.get("tool") == "write" else ""
        name = path.removesuffix(".txt")
        if name in names:
            first[name] = min(first.get(name, float("inf")), request["time"] - start)
    return first


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """The CPU time (user and system) of a process, with that of the children it has
    waited for unless not *children* (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(field) for field in fields[11 : 15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        direct = [int(child) for child in children.read_text().split()]
    except (OSError, ValueError):
        return found
    for child in direct:
        found += [child, *descendants(child)]
    return found


class PeakMemory:
    """Samples the RSS of a process and (separately) of all its descendants, and the CPU
    time they have used (the last sample before they end)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.own = 0
        self.children = 0
        self.own_cpu = 0.0
        self.children_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.own = max(self.own, rss_kb(self.pid))
            below = descendants(self.pid)
            self.children = max(self.children, sum(rss_kb(p) for p in below))
            self.own_cpu = max(self.own_cpu, cpu_seconds(self.pid, children=False))
            # Each live process with the children it reaped: every second counted once.
            self.children_cpu = max(self.children_cpu, sum(cpu_seconds(p) for p in below))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def scratch_folder(keep: bool) -> contextlib.AbstractContextManager[str]:
    """A temporary folder, removed afterwards unless *keep* (then its path is printed)."""
    if not keep:
        return tempfile.TemporaryDirectory(prefix="ensemble-scale-")
    folder = tempfile.mkdtemp(prefix="ensemble-scale-")
    print(f"kept: {folder} (the OpenCode log is under home/.local/share/ensemble-tui/repos)")
    return contextlib.nullcontext(folder)


def main(count: int, *, keep: bool = False) -> None:
    names = [f"m{number:02d}" for number in range(1, count + 1)]
    with (
        scratch_folder(keep) as folder,
        ScriptedModel(log_path=Path(folder) / "model.log") as model,
    ):
        repo = fresh_repository(Path(folder))
        deps = plugin_deps()
        env = scripted_opencode_environment(Path(folder) / "home", model.base_url)
        seed_opencode_config(env, deps)
        env["ENSEMBLE_MAX_MEMBERS"] = str(count)
        command = [sys.executable, "-m", "ensemble_tui", "run", "--json"]
        command += ["--timeout", str(TIMEOUT), lead_prompt(names)]
        start, start_wall = time.monotonic(), time.time()
        process = subprocess.Popen(
            command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        memory = PeakMemory(process.pid)
        spawned: dict[str, float] = {}
        failures: list[str] = []
        created = float("nan")
        counts: dict[str, int] = {}
        assert process.stdout is not None
        for line in process.stdout:
            event: dict[str, Any] = json.loads(line)
            if keep:
                with open(Path(folder) / "events.jsonl", "a") as kept:
                    kept.write(f"{time.monotonic() - start:.2f} {line}")
            kind, member = event.get("type", ""), event.get("member")
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "team.created":
                created = time.monotonic() - start
            if kind == "member.spawned" and member in names:
                spawned.setdefault(member, time.monotonic() - start)
            if kind == "member.spawn_failed":
                failures.append(f"{member}: {event.get('text')}")
        status = process.wait()
        wall = time.monotonic() - start
        memory.stop()
        errors = process.stderr.read() if process.stderr else ""
        working = first_steps(model.requests, names, start_wall)
    print(
        f"scale: {count} teammates: {len(spawned)} spawned, {len(working)} worked, "
        f"{counts.get('message.sent', 0)} reports, "
        f"{counts.get('member.merged', 0)} merged; run exited {status}"
    )
    for failure in failures:
        print(f"spawn failed: {failure}")
    if status != 0:
        print(errors[-2000:], file=sys.stderr)
    print(f"seconds scale.wall {wall:.1f}")
    last_spawn = max(spawned.values()) if len(spawned) == count else float("nan")
    all_working = max(working.values()) if len(working) == count else float("nan")
    print(f"the team was created at {created:.1f} s; the last spawn was done at {last_spawn:.1f} s")
    print(f"spawning took {all_working - created:.1f} s (until the last teammate's first step)")
    print(f"seconds scale.all_working {all_working:.1f}")
    print(f"mb scale.ensemble_rss {memory.own / 1000:.0f}")
    print(f"mb scale.opencode_rss {memory.children / 1000:.0f}")
    print(f"OpenCode used {memory.children_cpu / count:.1f} s of CPU per teammate")
    print(f"seconds scale.ensemble_cpu {memory.own_cpu:.1f}")
    print(f"seconds scale.opencode_cpu {memory.children_cpu:.1f}")
    print("load average: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    print(f"opencode_snapshots: {os.environ.get('ENSEMBLE_OPENCODE_SNAPSHOTS', 'true')}")
    print(f"opencode_servers: {os.environ.get('ENSEMBLE_OPENCODE_SERVERS', '1')}")
    print(f"OpenCode's plugin package: {'seeded' if deps else 'installed by OpenCode in the run'}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("N", "50")),
        keep=os.environ.get("SCALE_KEEP") == "1",
    )
