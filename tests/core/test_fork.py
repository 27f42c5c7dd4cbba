"""Forking a member through the real OpenCode: the fork keeps the conversation, works on a
branch of its own, merges back like any teammate, and a group of forks is compared and one
chosen."""

from __future__ import annotations

import os
from pathlib import Path

from ensemble_tui.core.errors import Refused
from ensemble_tui.core.models import LEAD_NAME, MemberStatus
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.recovery import resume_team
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.demo.scenarios import tool, write_and_commit
from ensemble_tui.demo.script import script_block
from ensemble_tui.demo.scripted_model import ScriptedModel
from ensemble_tui.headless import drive_team
from tests.conftest import TEAM, TeamOptions, first_request_playing, git, running_team

SECRET = "Remember this: the password is ZEBRA-42."


def fork_script(name: str, path: str, content: str, *, report: bool = True) -> str:
    """A fork that writes and commits one file, then (with *report*) reports to the lead."""
    message = tool("ensemble_team_message", to="lead", text=f"{name}: {path} is done.")
    return script_block(
        *write_and_commit(name, path, content),
        *([message] if report else []),
        {"text": f"{name} is done."},
    )


def forking_lead(*forks: tuple[str, str, str], report: bool = True) -> str:
    """A lead told a secret first, which then forks itself once per (name, file, content)."""
    return f"{SECRET}\n" + script_block(
        tool("ensemble_team_create", name=TEAM),
        *(
            tool(
                "ensemble_team_fork",
                name=name,
                prompt="Try it.\n" + fork_script(name, p, c, report=report),
            )
            for name, p, c in forks
        ),
        {"text": "forked"},
    )


def branches(repo: Path) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split())


async def test_a_fork_keeps_the_conversation_works_on_its_branch_and_merges_back(
    git_repo: Path, team_options: TeamOptions, scripted_model: ScriptedModel
) -> None:
    lead = forking_lead(("alice", "alice.txt", "from the fork\n"))
    since = len(scripted_model.requests)
    async with running_team(team_options()) as coord:
        await drive_team(coord, lead, 180)
        assert coord.team is not None
        alice = coord.store.get_member(coord.team.id, "alice")
        on_branch = git(git_repo, "show", f"ensemble/{TEAM}/alice:alice.txt")
        in_tree_before = sorted(os.listdir(git_repo))
        merged = await TeamControl(coord).merge("alice")
        kinds = [event.type for event in coord.feed.recent]

    # Its first model request began with the lead's conversation, secret included.
    first = first_request_playing(
        scripted_model,
        since,
        tool="write",
        args={"filePath": "alice.txt", "content": "from the fork\n"},
    )
    assert first["first_user"].startswith(SECRET)
    assert "This session is a fork" in first["last_user"]
    assert alice is not None
    assert (alice.forked_from, alice.branch, alice.status) == (
        LEAD_NAME,
        f"ensemble/{TEAM}/alice",
        MemberStatus.IDLE,
    )
    # Its write went to its branch, not into the user's tree; the merge brings it back.
    assert on_branch == "from the fork\n"
    assert in_tree_before == [".git", "README.md"]
    assert "alice.txt" in merged
    assert (git_repo / "alice.txt").read_text() == "from the fork\n"
    assert kinds.index("member.forked") < kinds.index("member.merged")


async def test_a_group_of_three_forks_is_compared_and_one_is_chosen(
    git_repo: Path, team_options: TeamOptions
) -> None:
    forks = [
        ("alice", "a.txt", "one line\n"),
        ("bob", "b.txt", "two\nlines\n"),
        ("carl", "c.txt", "three\nlines\nhere\n"),
    ]
    # The forks do not message the lead: what is compared is their own work and last words,
    # and each message would cost the lead a turn (5 model requests of 21).
    async with running_team(team_options()) as coord:
        await drive_team(coord, forking_lead(*forks, report=False), 240)
        control = TeamControl(coord)
        views = await control.compare_forks("bob")
        said = await control.choose_fork("bob")
        assert coord.team is not None
        members = {m.name: m for m in coord.store.list_members(coord.team.id)}

    assert [(v.name, [f.path for f in v.files], v.added) for v in views] == [
        ("alice", ["a.txt"], 1),
        ("bob", ["b.txt"], 2),
        ("carl", ["c.txt"], 3),
    ]
    assert all(view.last_message.endswith("is done.") for view in views)
    assert (git_repo / "b.txt").read_text() == "two\nlines\n"
    assert not (git_repo / "a.txt").exists()
    assert members["bob"].status is MemberStatus.MERGED
    assert members["alice"].status is members["carl"].status is MemberStatus.SHUT_DOWN
    assert {f"ensemble/{TEAM}/alice", f"ensemble/{TEAM}/carl"} <= branches(git_repo)
    assert f"ensemble/{TEAM}/bob" not in branches(git_repo)
    assert f"ensemble/{TEAM}/alice" in said
    assert f"ensemble/{TEAM}/carl" in said


async def test_bad_forks_are_refused_and_change_nothing(
    git_repo: Path, team_options: TeamOptions
) -> None:
    lead = forking_lead(("alice", "alice.txt", "x\n"))
    async with running_team(team_options()) as coord:
        await drive_team(coord, lead, 180)
        assert coord.team is not None
        tools = TeamTools(coord)
        lead_caller = caller(coord, LEAD_NAME)
        before = (coord.store.list_members(coord.team.id), branches(git_repo))
        refusals = {}
        for what, call in {
            "taken": tools.team_fork(lead_caller, "alice", "again", None, None, None),
            "agent": tools.team_fork(lead_caller, "fib", "go", "no-such-agent", None, None),
            "teammate": tools.team_fork(caller(coord, "alice"), "fic", "go", None, None, None),
            "not a fork": tools.team_choose(lead_caller, LEAD_NAME),
            "nobody": tools.team_choose(lead_caller, "nobody"),
            "message id": tools.team_fork(lead_caller, "fid", "go", None, None, "42"),
        }.items():
            try:
                await call
            except Refused as refusal:
                refusals[what] = str(refusal)
        assert coord.client.can_move_sessions is True
        # The pinned OpenCode has the move route; a server without it is played by
        # telling the client what `connect` would have found there.
        coord.client.can_move_sessions = False
        try:
            await tools.team_fork(lead_caller, "fie", "go", None, None, None)
        except Refused as refusal:
            refusals["no move route"] = str(refusal)
        coord.client.can_move_sessions = True
        coord.settings.max_members = 1
        try:
            await tools.team_fork(lead_caller, "fif", "go", None, None, None)
        except Refused as refusal:
            refusals["full"] = str(refusal)
        after = (coord.store.list_members(coord.team.id), branches(git_repo))

    assert "already exists" in refusals["taken"]
    assert "no agent 'no-such-agent'" in refusals["agent"]
    assert "build" in refusals["agent"]
    assert "teammates_may_fork" in refusals["teammate"]
    assert "lead is not a fork" in refusals["not a fork"]
    assert "no member 'nobody'" in refusals["nobody"]
    assert "not a message id" in refusals["message id"]
    assert "move-session" in refusals["no move route"]
    assert "Spawning, merging and the hand-offs work" in refusals["no move route"]
    assert "max_members = 1" in refusals["full"]
    assert after == before


def caller(coord: Coordinator, member: str) -> Caller:
    state = coord.session_of(member)
    assert state is not None
    assert coord.team is not None
    return Caller(member, member == LEAD_NAME, coord.team.id, state.session_id)


async def test_a_teammate_forks_itself_when_allowed_and_forks_survive_a_restart(
    git_repo: Path, team_options: TeamOptions
) -> None:
    alice = script_block(
        tool(
            "ensemble_team_fork",
            name="bob",
            prompt="Take the other road.\n" + fork_script("bob", "bob.txt", "the other road\n"),
        ),
        {"text": "forked myself"},
    )
    lead = script_block(
        tool("ensemble_team_create", name=TEAM),
        tool("ensemble_team_spawn", name="alice", prompt="Go.\n" + alice),
        {
            "await": "bob: bob.txt is done",
            **tool("ensemble_team_handoff", mode="new", text="Phase two."),
        },
        {"text": "handing off"},
    )
    options = team_options(teammates_may_fork=True)
    async with running_team(options) as coord:
        await drive_team(coord, lead, 240)
        assert coord.team is not None
        team = coord.team
        bob = coord.store.get_member(team.id, "bob")
        lead_now = coord.store.get_team(team.id)
        earlier = coord.store.earlier_sessions(team.id, LEAD_NAME)
    assert bob is not None
    assert bob.forked_from == "alice"
    assert git(git_repo, "show", f"ensemble/{TEAM}/bob:bob.txt") == "the other road\n"
    assert lead_now is not None
    # The team the coordinator holds follows the lead's new session.
    assert team.lead_session_id == lead_now.lead_session_id
    assert len(earlier) == 1
    assert earlier[0].session_id != lead_now.lead_session_id

    # ensemble-tui restarts: the fork and the lead's new session are picked up again.
    async with running_team(options) as coord:
        notes = await resume_team(coord, lead_now)
        bob_state = coord.session_of("bob")
        lead_state = coord.session_of(LEAD_NAME)
    assert notes == []
    assert bob_state is not None
    assert bob_state.directory == str(bob.worktree_path)
    assert lead_state is not None
    assert lead_state.session_id == lead_now.lead_session_id
