"""A fuzz test of the team tools: random callers, tools and arguments of every type.

Each example is a fresh team (a store, the real coordinator, the real OpenCode for the
spawn checks) and a sequence of calls through the dispatcher the MCP server uses. After
every call: no "internal error", and after a refusal the store is as it was (its event
log may only have gained the record of a spawn that failed and was undone; a claim of a
blocked task may leave the caller waiting for it, which the refusal says).

The spawns that pass every check fail at the team tools (no tool server runs here), so
they are undone: that checks the undo against the store each time too.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ensemble_tui.core.models import Member, MemberStatus
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.coordinator import Coordinator, CoordinatorSettings
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tools.dispatch import ToolDispatcher
from ensemble_tui.tools.ratelimit import RateLimiter

MIN_CALLS = 1000
WAITING = "You will be told when it can be claimed"

# Words an agent might plausibly send, right or nearly right, beside random ones.
PLAUSIBLE = st.sampled_from(
    [
        "alice",
        "lead",
        "bob",
        "Alice",
        "alice ",
        "../evil",
        "",
        " ",
        "t1",
        "T2",
        " t3 ",
        "t999",
        "t0",
        "-t1",
        "build",
        "plan",
        "title",
        "no-such-agent",
        "scripted/script",
        "scripted/nothing",
        "nope/nothing",
        "nonsense",
        "high",
        "urgent",
        "approved: go",
        "OK, thanks",
        "fuzz",
        "x" * 11000,
        "\x00",
        "é\u202e\ud7ff",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    PLAUSIBLE,
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=8), PLAUSIBLE), SCALARS, max_size=3),
)
TASK = st.fixed_dictionaries(
    {},
    optional={
        "content": st.one_of(PLAUSIBLE, VALUES),
        "priority": st.one_of(st.sampled_from(["high", "medium", "low"]), VALUES),
        "depends_on": st.one_of(st.lists(PLAUSIBLE, max_size=3), VALUES),
        "extra": VALUES,
    },
)
# Cleanup ends the team (the rest of an example is then refused), so it comes up rarely.
TOOL_NAMES = [*TOOLS, *(tool for tool in TOOLS if tool != "team_cleanup"), "team_nope", ""]


# Values that fit each argument, to get past the argument checks to the team's rules.
FITTING: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["bob", "carol", "alice", "lead", "fuzz", "../x"]),
    "member": st.sampled_from(["alice", "lead", "bob"]),
    "to": st.sampled_from(["alice", "lead", "bob"]),
    "task_id": st.sampled_from(["t1", "t2", "t3", " T1 ", "t9"]),
    "agent": st.sampled_from(["build", "plan", "nope"]),
    "model": st.sampled_from([None, "scripted/script", "scripted/nothing", "bad"]),
    "tasks": st.lists(
        st.fixed_dictionaries(
            {"content": st.sampled_from(["do it", "", "x" * 3000])},
            optional={"depends_on": st.lists(st.sampled_from(["t1", "t2", "t4", "t9"]))},
        ),
        max_size=3,
    ),
}
SOME_TEXT = st.sampled_from(["hello", "OK, thanks", "approved: go", "t1 is done", "", "x" * 11000])


def arguments_for(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments for *tool*: its own keys (and stray ones) with values of any type, or
    its own keys with fitting values (so calls also get past the argument checks)."""
    model = TOOLS.get(tool)
    fields = model.model_fields if model else {}
    keys = st.sampled_from([*fields, "extra", "Name"])
    anything = st.one_of(PLAUSIBLE, VALUES, st.lists(TASK, max_size=3))
    fitting = {
        name: FITTING.get(name, st.booleans() if field.annotation is bool else SOME_TEXT)
        for name, field in fields.items()
    }
    required = {name: fitting[name] for name, field in fields.items() if field.is_required()}
    optional = {name: fitting[name] for name in fields if name not in required}
    return st.one_of(
        st.dictionaries(keys, anything, max_size=len(fields) + 1),
        st.fixed_dictionaries(required, optional=optional),
    )


Call = tuple[str, tuple[str, dict[str, Any]]]
CALL = st.tuples(
    st.sampled_from(["lead", "alice", "stranger", "nobody"]),
    st.one_of([st.tuples(st.just(tool), arguments_for(tool)) for tool in TOOL_NAMES]),
)


def dump(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sqlite's own counters left out), to compare."""
    names = [
        row[0]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if not row[0].startswith("sqlite_")
    ]
    return {
        name: sorted(db.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in names
    }


def new_event_kinds(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> set[str]:
    """The kinds of the events logged between two dumps (a row is id, team, time, kind...)."""
    known = {row[0] for row in before}
    return {str(row[3]) for row in after if row[0] not in known}


async def make_template(client: OpenCodeClient, root: Path, repo: Path) -> Path:
    """A store with team fuzz: three tasks (t2 waits for t1), the lead and alice (idle)."""
    path = root / "template.db"
    with Store(path) as store:
        coordinator = Coordinator(repo, store, client)
        dispatcher = ToolDispatcher(TeamTools(coordinator), RateLimiter(rate=1.0, burst=10))
        lead = Caller("lead", is_lead=True, team_id=None, session_id="ses_fuzz_lead")
        assert not (await dispatcher.call(lead, "team_create", {"name": "fuzz"})).is_error
        team = coordinator.require_team()
        lead = Caller("lead", is_lead=True, team_id=team.id, session_id="ses_fuzz_lead")
        tasks = [{"content": "one"}, {"content": "two", "depends_on": ["t1"]}, {"content": "3"}]
        assert not (await dispatcher.call(lead, "team_tasks_add", {"tasks": tasks})).is_error
        alice = Member(team_id=team.id, name="alice", read_only=True, status=MemberStatus.IDLE)
        store.add_member(alice)
    return path


async def play(
    client: OpenCodeClient, template: Path, root: Path, repo: Path, calls: list[Call]
) -> Counter[str]:
    """Play *calls* against a fresh copy of the template team; count answers and refusals."""
    counts: Counter[str] = Counter()
    store_path = root / "state.db"
    shutil.copyfile(template, store_path)
    with Store(store_path) as store, contextlib.closing(sqlite3.connect(store_path)) as db:
        (team,) = store.list_teams()
        limits = CoordinatorSettings(
            worktree_root=root / "worktrees", max_members=1, max_spawn_failures=1
        )
        coordinator = Coordinator(repo, store, client, limits)
        coordinator.set_team(team)
        dispatcher = ToolDispatcher(TeamTools(coordinator), RateLimiter(1e9, 10**9))
        callers = {
            "lead": Caller("lead", is_lead=True, team_id=team.id, session_id="ses_fuzz_lead"),
            "alice": Caller("alice", is_lead=False, team_id=team.id, session_id="ses_a"),
            # A caller of another team, and a connection with no valid token.
            "stranger": Caller("zed", is_lead=False, team_id=team.id + 9, session_id="s"),
            "nobody": None,
        }
        for who, (tool, arguments) in calls:
            before = dump(db)
            outcome = await dispatcher.call(callers[who], tool, arguments)
            assert "internal error" not in outcome.text, (who, tool, arguments, outcome)
            assert outcome.text.strip()
            counts["refused" if outcome.is_error else "answered"] += 1
            if not outcome.is_error:
                continue
            after = dump(db)
            logged = new_event_kinds(before.pop("events"), after.pop("events"))
            assert logged <= {"member.spawn_failed"}, (who, tool, arguments, logged)
            if WAITING in outcome.text:
                before.pop("task_waiters")
                after.pop("task_waiters")
            assert after == before, (who, tool, arguments, outcome.text)
    return counts


def test_random_team_tool_calls_are_answered_and_refusals_change_nothing(
    tmp_path: Path, git_repo: Path, opencode_server: OpenCodeServer
) -> None:
    # One loop and one client for every example (a client costs ~0.2 s to make).
    loop = asyncio.new_event_loop()
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    template = loop.run_until_complete(make_template(client, tmp_path, git_repo))
    made: Counter[str] = Counter()

    @settings(
        max_examples=100,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(CALL, min_size=10, max_size=16))
    def example(calls: list[Call]) -> None:
        made.update(loop.run_until_complete(play(client, template, tmp_path, git_repo, calls)))

    try:
        example()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    assert made.total() >= MIN_CALLS, f"only {made} calls were made"
    assert made["answered"] >= 100, "the calls also get past the checks"
