"""What one teammate costs OpenCode, stage by stage (opt-in: `make bench-teammate K=6`).

Against one real `opencode serve` (the scripted model, snapshots off as the setting
`opencode_snapshots = false` has it) and a real coordinator with its team tool server,
each round boots K teammates' worth of work the way a spawn does, one stage at a time,
and reads OpenCode's CPU time (with the commands it ran and waited for) before and after
each stage, once OpenCode has gone quiet again. Printed per stage, per teammate:

- `bare`: the baseline, a session made in a fresh plain folder (OpenCode starts an
  instance for it); every other figure is also given as a ratio to it;
- `bare_turn`: a first turn of one step in those bare sessions (no team tools, no
  system text): the baseline of a first turn; `bare_next`: a second one;
- `worktree`, `worktree_turn`: the same in a fresh worktree of the repository;
- `session`: a session in a fresh worktree, as a spawn makes it (title, parent,
  permission rules);
- `tools`: the team tools added for that folder (`POST /mcp`: OpenCode connects to
  the tool server, initialize and tools/list);
- `check`: the spawn's check of the agent (and model) with OpenCode, K at once as a
  `team_spawn` of K makes them (they share one read); `agents_read`: K reads of the
  agents one after another (what each check cost when each read on its own);
- `first_turn`: the teammate's first prompt and a first turn of one step;
- `next_turn`: a second turn of one step (an instance already warm; compare
  `bare_next`);
- `spawn`: all of it through `spawn_teammate`, K at once as `team_spawn` starts them,
  until their first turns have ended.

Lines `cpu_s teammate.<stage> <seconds>` (the median over the rounds), and on the lines
before, each round's figures, the idle CPU rate of OpenCode and the load average. What
OpenCode spends idle (its timers) over a stage's time is taken off its figure.
The first round warms OpenCode up and is not counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_startup import fresh_repository  # noqa: E402
from bench.scale import cpu_seconds  # noqa: E402
from ensemble_tui.composition import running_coordinator  # noqa: E402
from ensemble_tui.core.git.worktrees import create_worktree  # noqa: E402
from ensemble_tui.core.models import Member, MemberRole, Team  # noqa: E402
from ensemble_tui.core.team.coordinator import Coordinator  # noqa: E402
from ensemble_tui.core.team.identity import Caller  # noqa: E402
from ensemble_tui.core.team.prompts import teammate_first_prompt  # noqa: E402
from ensemble_tui.core.team.sessions import SessionState  # noqa: E402
from ensemble_tui.core.team.settings import CoordinatorSettings  # noqa: E402
from ensemble_tui.core.team.spawn import (  # noqa: E402
    SpawnRequest,
    check_agent_and_model,
    permission_rules,
    spawn_teammate,
)
from ensemble_tui.core.team.team_tools import TeamTools  # noqa: E402
from ensemble_tui.demo.environment import scripted_opencode_environment  # noqa: E402
from ensemble_tui.demo.script import script_block  # noqa: E402
from ensemble_tui.demo.scripted_model import ScriptedModel  # noqa: E402
from ensemble_tui.opencode.client import OpenCodeClient  # noqa: E402
from ensemble_tui.opencode.server import OpenCodeServer, check_opencode_version  # noqa: E402
from ensemble_tui.options import RunOptions  # noqa: E402

STAGES = (
    "bare",
    "bare_turn",
    "bare_next",
    "worktree",
    "worktree_turn",
    "session",
    "tools",
    "check",
    "agents_read",
    "first_turn",
    "next_turn",
    "spawn",
)


@dataclasses.dataclass(frozen=True)
class Quiet:
    """When OpenCode counts as quiet between stages, and how long its idle rate is read."""

    cpu: float = 0.03
    """OpenCode is quiet once it used less than this many CPU seconds in `span`."""
    span: float = 1.0
    idle: float = 3.0
    """How long OpenCode's CPU is read while nothing is asked of it."""

    @property
    def waits(self) -> bool:
        """Whether stages wait for quiet: only then is the rate read between them an idle
        rate that can be taken off a stage (not waiting, it may be the last stage's work)."""
        return self.cpu != float("inf")


STAGE_LIMIT = 300.0
PLUGIN_DEPS = ROOT / ".tools/opencode-plugin-{version}"


def seed_plugin_package(env: dict[str, str], binary: str) -> None:
    """Give the new config folder the plugin package `make` installed, as the tests do,
    so OpenCode does not install it in the background during the first stages."""
    deps = Path(str(PLUGIN_DEPS).format(version=check_opencode_version(binary)))
    if not (deps / "node_modules").is_dir():
        return
    folder = Path(env["XDG_CONFIG_HOME"]) / "opencode"
    for name in ("package.json", "package-lock.json"):
        (folder / name).write_bytes((deps / name).read_bytes())
    subprocess.run(["cp", "-al", str(deps / "node_modules"), str(folder)], check=True)


def one_step(text: str) -> str:
    """A prompt whose turn is one step of text (the scripted model plays it)."""
    return f"{text}\n" + script_block({"text": "done"})


class Meter:
    """OpenCode's CPU time, read once it has gone quiet."""

    def __init__(self, pid: int, model: ScriptedModel, quiet: Quiet) -> None:
        self.pid = pid
        self.model = model
        self.settle = quiet

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def children(self) -> float:
        """The CPU of the commands OpenCode ran and waited for (git, the shell)."""
        return cpu_seconds(self.pid) - cpu_seconds(self.pid, children=False)

    async def quiet(self) -> tuple[float, float, float]:
        """Wait until OpenCode has used less than `Quiet.cpu` in `Quiet.span`; its CPU then,
        the time, and its idle rate (CPU seconds a second) over that last span."""
        before = self.cpu()
        async with asyncio.timeout(STAGE_LIMIT):
            while True:
                await asyncio.sleep(self.settle.span)
                now = self.cpu()
                if now - before < self.settle.cpu:
                    return now, time.monotonic(), (now - before) / self.settle.span
                before = now

    async def model_asked(self, count: int) -> None:
        """Wait until the scripted model has answered *count* requests in all."""
        async with asyncio.timeout(STAGE_LIMIT):
            # The model answers on a thread of its own: looked at, not awaited.
            while True:
                if len(self.model.requests) >= count:
                    return
                await asyncio.sleep(0.05)

    async def stage(
        self,
        figures: dict[str, tuple[float, float]],
        name: str,
        work: Callable[[], Awaitable[object]],
        *,
        steps: int = 0,
    ) -> None:
        """Into *figures*: the CPU seconds OpenCode spent on *work* (and on *steps* model
        requests after it), and of those what the commands it ran used."""
        start, started, idle_before = await self.quiet()
        children = self.children()
        asked = len(self.model.requests)
        await work()
        await self.model_asked(asked + steps)
        end, ended, idle_after = await self.quiet()
        # Less what OpenCode spends doing nothing (its timers) over the stage's time.
        idle = (idle_before + idle_after) / 2 * (ended - started) if self.settle.waits else 0.0
        figures[name] = (end - start - idle, self.children() - children)
        print(f"  {name}: {figures[name][0]:.2f} s of CPU", file=sys.stderr, flush=True)


async def create_team(coordinator: Coordinator) -> Team:
    lead = await coordinator.start_lead()
    caller = Caller("lead", is_lead=True, team_id=None, session_id=lead.session_id)
    await TeamTools(coordinator).team_create(caller, "bench")
    assert coordinator.team is not None
    return coordinator.team


async def one_round(
    coordinator: Coordinator, team: Team, meter: Meter, folder: Path, label: str, count: int
) -> dict[str, tuple[float, float]]:
    """Every stage once for *count* teammates; OpenCode's CPU seconds per teammate, and
    of those the seconds of the commands it ran."""
    client, store = coordinator.client, coordinator.store
    lead = coordinator.lead
    assert lead is not None
    names = [f"{label}x{n}" for n in range(count)]
    figures: dict[str, tuple[float, float]] = {}

    async def each(action: Callable[[int], Awaitable[object]]) -> None:
        await asyncio.gather(*(action(n) for n in range(count)))

    bare_dirs = [folder / f"bare-{label}-{n}" for n in range(count)]
    for directory in bare_dirs:
        directory.mkdir()
    bare: dict[int, str] = {}

    async def bare_session(n: int) -> None:
        session = await client.create_session(str(bare_dirs[n]), title=f"bare {n}")
        bare[n] = session.id

    await meter.stage(figures, "bare", lambda: each(bare_session))

    async def bare_prompt(n: int) -> None:
        await client.prompt_async(
            bare[n], str(bare_dirs[n]), one_step(f"bare {label} {n}"), agent="build", model=None
        )

    await meter.stage(figures, "bare_turn", lambda: each(bare_prompt), steps=count)
    await meter.stage(figures, "bare_next", lambda: each(bare_prompt), steps=count)

    # The worktrees are git's work, not OpenCode's: made before their stages.
    plain = [
        await asyncio.to_thread(
            create_worktree, coordinator.repo_root, folder / "plain", "p", f"{name}p"
        )
        for name in names
    ]
    plain_sessions: dict[int, str] = {}

    async def worktree_session(n: int) -> None:
        session = await client.create_session(str(plain[n].path), title=f"plain {n}")
        plain_sessions[n] = session.id

    await meter.stage(figures, "worktree", lambda: each(worktree_session))

    async def worktree_prompt(n: int) -> None:
        text = one_step(f"worktree {label} {n}")
        await client.prompt_async(
            plain_sessions[n], str(plain[n].path), text, agent="build", model=None
        )

    await meter.stage(figures, "worktree_turn", lambda: each(worktree_prompt), steps=count)
    infos = [
        await asyncio.to_thread(create_worktree, coordinator.repo_root, folder / "wt", "b", name)
        for name in names
    ]
    members = [
        store.add_member(
            Member(
                team_id=team.id,
                name=name,
                role=MemberRole.TEAMMATE,
                worktree_path=info.path,
                branch=info.branch,
                base_commit=info.base_commit,
            )
        )
        for name, info in zip(names, infos, strict=True)
    ]
    states: list[SessionState] = []

    async def session(n: int) -> None:
        directory = infos[n].path
        made = await client.create_session(
            str(directory),
            title=f"{names[n]} (bench)",
            parent_id=lead.session_id,
            permission=permission_rules(directory, coordinator.repo_root, read_only=False),
        )
        states.append(SessionState(names[n], made.id, str(directory), "build", None))

    await meter.stage(figures, "session", lambda: each(session))
    states.sort(key=lambda state: state.member)

    async def tools(n: int) -> None:
        token = coordinator.issue_token(names[n], states[n].session_id, is_lead=False)
        await coordinator.register_tools(states[n].directory, token)

    await meter.stage(figures, "tools", lambda: each(tools))
    await meter.stage(
        figures, "check", lambda: each(lambda _n: check_agent_and_model(coordinator, "build", None))
    )

    async def read_agents_one_by_one() -> None:
        for _n in range(count):
            await client.agents(str(coordinator.repo_root))

    await meter.stage(figures, "agents_read", read_agents_one_by_one)
    for state in states:
        coordinator.track(state)
    every = [m.name for m in store.list_members(team.id)]

    async def first(n: int) -> None:
        text = teammate_first_prompt(members[n], team.name, every, one_step("Say done."))
        await coordinator.prompt(states[n], text)

    await meter.stage(figures, "first_turn", lambda: each(first), steps=count)

    async def again(n: int) -> None:
        await coordinator.prompt(states[n], one_step("Say done again."))

    await meter.stage(figures, "next_turn", lambda: each(again), steps=count)

    async def spawn(n: int) -> None:
        request = SpawnRequest(name=f"{names[n]}s", prompt=one_step("Say done."))
        await spawn_teammate(coordinator, team, request, position=n)

    await meter.stage(figures, "spawn", lambda: each(spawn), steps=count)
    # OpenCode keeps an instance per folder (about 50 MB, and timers that keep it from
    # going quiet): let go of this round's, outside any stage.
    lead_folder = str(coordinator.repo_root)
    folders = {str(d) for d in bare_dirs} | {str(info.path) for info in plain}
    folders |= {state.directory for state in coordinator.sessions} - {lead_folder}
    for where in folders:
        await client.request("POST", "/instance/dispose", directory=where)
    return {stage: (spent / count, ran / count) for stage, (spent, ran) in figures.items()}


async def measure(
    options: RunOptions,
    client: OpenCodeClient,
    pid: int,
    model: ScriptedModel,
    *,
    count: int,
    rounds: int,
    warm_up: bool = True,
    quiet: Quiet = Quiet(),
) -> dict[str, float]:
    """Run the stages *rounds* times (after a warm-up round unless not *warm_up*) for
    *count* teammates each, against the OpenCode of process *pid* that *client* talks to;
    print the figures and return the medians per teammate."""
    meter = Meter(pid, model, quiet)
    folder = options.settings.worktree_root
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    async with running_coordinator(options, client) as coordinator:
        team = await create_team(coordinator)
        start, _time, _rate = await meter.quiet()
        await asyncio.sleep(quiet.idle)
        idle = (meter.cpu() - start) / quiet.idle
        results = []
        for number in range(0 if warm_up else 1, rounds + 1):
            figures = await one_round(coordinator, team, meter, folder, f"r{number}", count)
            if number == 0:
                continue  # the warm-up: OpenCode's first use of each code path
            results.append({stage: spent for stage, (spent, _ran) in figures.items()})
            shown = ", ".join(
                f"{stage} {figures[stage][0]:.3f} ({figures[stage][1]:.3f})" for stage in STAGES
            )
            print(f"round {number}, s a teammate (of which commands it ran): {shown}")
    medians = {stage: statistics.median(r[stage] for r in results) for stage in STAGES}
    baseline = medians["bare"]
    print(f"OpenCode idle: {idle:.3f} s of CPU a second; {count} teammates a stage")
    print("load average: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    for stage in STAGES:
        ratio = medians[stage] / baseline if baseline else float("nan")
        print(f"{stage}: {medians[stage]:.3f} s a teammate, {ratio:.2f}x a bare session")
        print(f"cpu_s teammate.{stage} {medians[stage]:.3f}")
    return medians


async def main(count: int = 6, rounds: int = 3) -> dict[str, float]:
    """The stages against an `opencode serve` of its own (snapshots off)."""
    binary = os.environ.get("ENSEMBLE_OPENCODE_BIN") or "opencode"
    with (
        tempfile.TemporaryDirectory(prefix="ensemble-teammate-") as name,
        ScriptedModel() as model,
    ):
        folder = Path(name)
        repo = fresh_repository(folder)
        env = scripted_opencode_environment(folder / "home", model.base_url)
        seed_plugin_package(env, binary)
        server = OpenCodeServer(
            repo, log_path=folder / "opencode.log", binary=binary, env=env, snapshots=False
        )
        async with server, OpenCodeClient(server.url, password=server.password) as client:
            await client.connect()
            assert server.process is not None
            options = RunOptions(
                repo_root=repo,
                prompt="",
                url=server.url,
                password=server.password,
                store_path=folder / "state.db",
                settings=CoordinatorSettings(
                    worktree_root=folder / "worktrees", max_members=count * (rounds + 1) * 2
                ),
            )
            return await measure(
                options, client, server.process.pid, model, count=count, rounds=rounds
            )


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("K", "6")),
            int(os.environ.get("ROUNDS", "3")),
        )
    )
