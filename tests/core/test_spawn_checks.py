"""A spawn that cannot work is refused before anything is made; a team has a size limit;
a session the server made for a spawn that then failed is deleted with the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import MemberStatus
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.spawn import SpawnRequest, spawn_teammate
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID
from ensemble_tui.opencode.client import OpenCodeClient
from tests.conftest import TEAM, TeamOptions, git, running_team

SCRIPTED = f"{PROVIDER_ID}/{MODEL_ID}"


async def lead_with_team(coordinator: Coordinator) -> Caller:
    lead = await coordinator.start_lead()
    caller = Caller("lead", is_lead=True, team_id=None, session_id=lead.session_id)
    await TeamTools(coordinator).team_create(caller, TEAM)
    assert coordinator.team is not None
    return Caller("lead", is_lead=True, team_id=coordinator.team.id, session_id=lead.session_id)


async def nothing_made(coord: Coordinator, tmp_path: Path, git_repo: Path, name: str) -> None:
    """No member row, branch, worktree or session of *name* exists."""
    assert coord.team is not None
    assert coord.store.get_member(coord.team.id, name) is None
    assert name not in git(git_repo, "branch", "--list")
    assert name not in git(git_repo, "worktree", "list")
    assert not (git_repo.parent / "worktrees" / coord.team.name / name).exists()
    sessions = await coord.client.list_sessions(str(git_repo))
    assert [s.title for s in sessions if name in s.title] == []


@pytest.mark.parametrize(
    ("agent", "model", "says"),
    [
        ("no-such-agent", None, r"OpenCode has no agent 'no-such-agent'; use one of: build, "),
        # OpenCode's own hidden helpers are no agents for a teammate.
        ("title", None, r"no agent 'title'"),
        ("build", "nope/nothing", r"no provider 'nope' for the model nope/nothing; .*scripted"),
        (
            "build",
            "scripted/nothing",
            r"Provider scripted has no model 'nothing'; .*scripted/script",
        ),
    ],
)
async def test_an_unknown_agent_or_model_is_refused_before_anything_is_made(
    tmp_path: Path,
    git_repo: Path,
    team_options: TeamOptions,
    agent: str,
    model: str | None,
    says: str,
) -> None:
    async with running_team(team_options()) as coord:
        caller = await lead_with_team(coord)
        tools = TeamTools(coord)
        with pytest.raises(Refused, match=says) as refusal:
            await tools.team_spawn(caller, "zed", "do it", agent, model, True, False)
        assert "Nothing was created." in str(refusal.value)
        await nothing_made(coord, tmp_path, git_repo, "zed")
        assert coord.spawn_failures == 0, "a bad argument is no failed spawn"
        kinds = [event.type for event in coord.feed.recent]
        assert "member.spawn_failed" not in kinds


async def test_a_known_agent_and_model_are_accepted(team_options: TeamOptions) -> None:
    async with running_team(team_options()) as coord:
        caller = await lead_with_team(coord)
        answer = await TeamTools(coord).team_spawn(
            caller, "alice", "do it", "plan", "scripted/script", True, False
        )
        assert answer.startswith(f"Spawned alice (branch ensemble/{TEAM}/alice)")


async def test_a_team_has_at_most_max_members_teammates_even_when_spawned_at_once(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(max_members=2)) as coord:
        caller = await lead_with_team(coord)
        tools = TeamTools(coord)
        names = ("alice", "bob", "carl", "dina")
        spawns = [
            tools.team_spawn(caller, name, "do it", "build", None, True, False) for name in names
        ]
        answers = await asyncio.gather(*spawns, return_exceptions=True)
        spawned = [a for a in answers if isinstance(a, str)]
        refused = [a for a in answers if isinstance(a, Refused)]
        assert len(spawned) == 2, answers
        assert len(refused) == 2, answers
        assert all("already has 2 teammates" in str(r) for r in refused)
        assert all("max_members = 2" in str(r) for r in refused)
        assert coord.team is not None
        assert len(coord.members()) == 3, "the lead and two teammates"

        # An ended teammate makes room for another (named as one refused before).
        first = next(m for m in coord.members() if m.name != "lead")
        coord.end_member(first, MemberStatus.SHUT_DOWN)
        another = next(n for n, a in zip(names, answers, strict=True) if isinstance(a, Refused))
        answer = await tools.team_spawn(caller, another, "do it", "build", None, True, False)
        assert answer.startswith(f"Spawned {another}")


class LostAnswerTransport(httpx.AsyncBaseTransport):
    """Sends every request to the real server but loses its answer to `POST /session`: the
    server made the session and the client saw a timeout. (A real timeout cannot be timed
    to fall just after the server acted, so this is the one part that is not real.)"""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.real.handle_async_request(request)
        if request.method == "POST" and request.url.path == "/session":
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_a_session_made_by_a_spawn_whose_answer_timed_out_is_deleted(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options()) as coord:
        await lead_with_team(coord)
        team = coord.team
        assert team is not None
        real_client = coord.client
        worktree = git_repo.parent / "worktrees" / TEAM / "alice"
        async with OpenCodeClient(
            real_client.base_url, password=real_client.password, transport=LostAnswerTransport()
        ) as losing:
            coord.client = losing
            try:
                with pytest.raises(Refused, match=r"Could not spawn alice: .*no answer"):
                    await spawn_teammate(coord, team, SpawnRequest("alice", "do it"))
            finally:
                coord.client = real_client
        await nothing_made(coord, tmp_path, git_repo, "alice")
        # Listed through the repository (all of the project's sessions): a request naming
        # the removed worktree would have OpenCode start an instance for a missing folder.
        left = await coord.client.list_sessions(str(git_repo))
        assert [s.title for s in left if s.directory == str(worktree)] == []


async def test_one_call_spawns_several_at_once_and_says_which_could_not(
    tmp_path: Path, git_repo: Path, team_options: TeamOptions
) -> None:
    async with running_team(team_options(max_members=3)) as coord:
        caller = await lead_with_team(coord)
        assert coord.team is not None
        team_id = coord.team.id
        # When the first spawn is done, how many had been started: all, if at once.
        started_when_first_done: list[int] = []

        def on_event(event: object) -> None:
            if getattr(event, "type", "") == "member.spawned" and not started_when_first_done:
                started_when_first_done.append(len(coord.store.list_members(team_id)) - 1)

        coord.feed.subscribe(on_event)
        more = [SpawnRequest(name, f"Do {name}.") for name in ("bob", "carl", "dina")]
        answer = await TeamTools(coord).team_spawn(
            caller, "alice", "Do alice.", "build", None, True, False, more
        )
        lines = answer.splitlines()
        assert sum(line.startswith("Spawned ") for line in lines) == 3, answer
        assert sum("max_members = 3" in line for line in lines) == 1, answer
        assert started_when_first_done == [3], "the others were under way before one was done"
        with pytest.raises(Refused, match="names alice more than once"):
            await TeamTools(coord).team_spawn(
                caller, "alice", "x", "build", None, True, False, [SpawnRequest("alice", "y")]
            )


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting the requests per method and path."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.counts: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = f"{request.method} {request.url.path}"
        self.counts[call] = self.counts.get(call, 0) + 1
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_a_spawn_of_several_reads_the_agents_and_providers_once(
    team_options: TeamOptions,
) -> None:
    """Each read costs OpenCode CPU: the spawns of one call check the agent and model
    with one read of each, and a later spawn reads them again (they may have changed)."""
    async with running_team(team_options(max_members=4)) as coord:
        caller = await lead_with_team(coord)
        real = coord.client
        counting = CountingTransport()
        async with OpenCodeClient(real.base_url, password=real.password, transport=counting) as c:
            coord.client = c
            try:
                more = [
                    SpawnRequest(name, f"Do {name}.", model=SCRIPTED) for name in ("bob", "carl")
                ]
                answer = await TeamTools(coord).team_spawn(
                    caller, "alice", "Do alice.", "build", SCRIPTED, True, False, more
                )
                assert answer.count("Spawned ") == 3, answer
                assert counting.counts["GET /agent"] == 1
                assert counting.counts["GET /config/providers"] == 1
                await TeamTools(coord).team_spawn(
                    caller, "dina", "Do dina.", "build", SCRIPTED, True, False, []
                )
                assert counting.counts["GET /agent"] == 2
                assert counting.counts["GET /config/providers"] == 2
            finally:
                coord.client = real
