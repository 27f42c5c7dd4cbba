"""`opencode_servers = 2`: ensemble-tui starts two `opencode serve`, each with its own
database, and spreads the teammates' worktrees over them (OpenCode runs every instance on
one JavaScript thread: one server is one core).

These tests start their own servers (two each), as the kill and resume tests must."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from ensemble_tui.composition import opencode_client, running_coordinator
from ensemble_tui.core.models import LEAD_NAME, TaskStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import MCP_SERVER_NAME, Coordinator
from ensemble_tui.core.team.events import ServerRestarted
from ensemble_tui.core.team.spawn import SpawnRequest, spawn_teammate
from ensemble_tui.core.team.startup import start_or_resume
from ensemble_tui.demo.scenarios import slow_alice_team, tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.headless import drive_team
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError
from ensemble_tui.opencode.pool import ServerPool
from tests.conftest import git
from tests.core.conftest import (
    create_team,
    own_server_options,
    serve_pid,
    start_and_wait_for_alice,
    text_of,
)

# One teammate on each server (with the lead on server 0): how the pool places folders is
# tested without servers in tests/opencode/test_pool_routes.py; a third teammate here cost
# a new worktree on a server twice (first run and resumed run) and its turns.
NAMES = ["ann", "ben"]


@pytest.fixture(autouse=True)
def _own_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second server's database and the servers' logs go to the data folder: a
    throwaway one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def work(name: str) -> str:
    return f"Write {name}.txt and report.\n" + script_block(
        *write_and_commit(name, f"{name}.txt", f"{name} was here\n"),
        tool("ensemble_team_message", to="lead", text=f"{name}: done"),
        {"text": "done"},
    )


def pool_of(coord: Coordinator) -> ServerPool:
    assert isinstance(coord.client, ServerPool)
    return coord.client


async def found_on(client: OpenCodeClient, session_id: str, directory: str) -> bool:
    try:
        await client.get_session(session_id, directory)
    except OpenCodeError as error:
        if error.status == 404:
            return False
        raise
    return True


async def test_teammates_spread_over_two_servers_and_a_restart_finds_each_where_it_was(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    run = own_server_options(
        tmp_path, git_repo, opencode_bin, opencode_env_without_snapshots, servers=2
    )
    async with opencode_client(run) as client, running_coordinator(run, client) as first:
        team = await create_team(first, "spread")
        for name in NAMES:
            await spawn_teammate(first, team, SpawnRequest(name, work(name)))
        await first.wait_until_settled(limit=180)
        pool = pool_of(first)
        routes = first.store.opencode_routes()
        placed: dict[str, int] = {}
        folders: dict[str, str] = {}
        for name in NAMES:
            state = first.session_of(name)
            assert state is not None
            placed[name] = routes[state.directory]
            folders[name] = state.directory
            here, other = pool.clients[placed[name]], pool.clients[1 - placed[name]]
            assert await found_on(here, state.session_id, state.directory)
            assert not await found_on(other, state.session_id, state.directory), (
                "each server has a database of its own"
            )
            target = TeamControl(first).attach_target(name)
            assert target is not None
            assert target[0] == here.base_url, "`o` attaches to the member's own server"
        lead = first.lead
        assert lead is not None
        assert await found_on(pool.clients[0], lead.session_id, lead.directory)
        reports = sorted(
            m.text for m in first.store.list_messages(team.id) if m.recipient == "lead"
        )

    # The lead on server 0 counts: the first teammate goes to server 1, the next to 0.
    assert placed == {"ann": 1, "ben": 0}
    assert reports == [f"{name}: done" for name in NAMES]

    async with opencode_client(run) as client, running_coordinator(run, client) as again:
        pool = pool_of(again)
        # Asked in the other order: a pool that placed them afresh would swap them.
        assert {name: pool.server_of(folders[name]) for name in reversed(NAMES)} == placed
        await start_or_resume(again)
        kinds = [event.type for event in again.feed.recent]
        for name in NAMES:
            state = again.session_of(name)
            assert state is not None, f"{name} is tracked again"
            assert pool.server_of(state.directory) == placed[name]
            tools = await pool.clients[placed[name]].mcp_status(state.directory)
            assert MCP_SERVER_NAME in tools, f"{name}'s team tools are back on its server"
        control = TeamControl(again)
        for name in NAMES:
            await control.merge(name)
        # Merged, each session is in the repository on its own server (ann's on server 1,
        # which the repository is not on): the screen still shows it and `o` opens it there.
        said = {name: text_of(await control.transcript(name)) for name in NAMES}
        opened = {name: control.attach_target(name) for name in NAMES}
        await control.cleanup()
        merged = sorted(e.member or "" for e in again.feed.recent if e.type == "member.merged")

    assert "member.lost" not in kinds
    assert merged == NAMES
    for name in NAMES:
        assert (git_repo / f"{name}.txt").read_text() == f"{name} was here\n"
        assert said[name].endswith("done"), said[name]
        target = opened[name]
        assert target is not None
        assert (target[0], target[2]) == (pool.clients[placed[name]].base_url, str(git_repo))


async def test_a_killed_second_server_is_started_again_and_only_its_teammate_is_cut_short(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    lead = slow_alice_team("halves")
    run = own_server_options(
        tmp_path, git_repo, opencode_bin, opencode_env_without_snapshots, lead, servers=2
    )
    async with opencode_client(run) as client, running_coordinator(run, client) as coord:
        await start_and_wait_for_alice(coord, lead)
        pool = pool_of(coord)
        alice, bob = coord.session_of("alice"), coord.session_of("bob")
        assert alice is not None
        assert bob is not None
        assert pool.server_of(alice.directory) == 1, "the first teammate, beside the lead's"
        assert pool.server_of(bob.directory) == 0
        restarted = asyncio.Event()
        coord.feed.subscribe(
            lambda event: restarted.set() if isinstance(event, ServerRestarted) else None
        )
        first = serve_pid(pool.clients[1])
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(120):
            await restarted.wait()
        await coord.wait_until_settled(limit=150)
        second = serve_pid(pool.clients[1])
        assert coord.team is not None
        tasks = coord.board.list_tasks(coord.team.id)
        told = [e for e in coord.feed.recent if isinstance(e, ServerRestarted)]
        kinds = [event.type for event in coord.feed.recent]

    assert second != first
    assert [event.cut_short for event in told] == [["alice"]], "the lead and bob ran on"
    assert "member.lost" not in kinds
    assert {task.status for task in tasks} == {TaskStatus.COMPLETED}
    assert "alice.txt" in git(git_repo, "ls-tree", "-r", "--name-only", "ensemble/halves/alice")
    assert "summary.txt" in git(git_repo, "ls-tree", "-r", "--name-only", "ensemble/halves/bob")
    assert LEAD_NAME not in told[0].cut_short


async def test_a_fork_stays_on_the_server_of_the_session_it_was_forked_from(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    """The lead (server 0) forks itself: the fork is made where the conversation is, so its
    worktree goes to server 0, though a new worktree would go to the emptier server 1."""
    fork = script_block(
        *write_and_commit("fia", "fia.txt", "from the fork\n"),
        tool("ensemble_team_message", to="lead", text="fia: done"),
        {"text": "done"},
    )
    lead = script_block(
        tool("ensemble_team_create", name="forked"),
        tool("ensemble_team_fork", name="fia", prompt="Try it.\n" + fork),
        {"text": "forked"},
    )
    run = own_server_options(
        tmp_path, git_repo, opencode_bin, opencode_env_without_snapshots, servers=2
    )
    async with opencode_client(run) as client, running_coordinator(run, client) as coord:
        await drive_team(coord, lead, 180)
        pool = pool_of(coord)
        state = coord.session_of("fia")
        assert state is not None
        server = pool.server_of(state.directory)
        found = await found_on(pool.clients[0], state.session_id, state.directory)
        stored = coord.store.opencode_routes()[state.directory]
        merged = await TeamControl(coord).merge("fia")

    assert server == stored == 0
    assert found
    assert "fia.txt" in merged
    assert (git_repo / "fia.txt").read_text() == "from the fork\n"
