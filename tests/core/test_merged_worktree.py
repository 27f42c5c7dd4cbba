"""A merged teammate's worktree is gone, and its path is free for a later teammate of the
same name: OpenCode lets go of the folder before it goes, and nothing asks about the
folder afterwards (through the real OpenCode)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from ensemble_tui.core.models import LEAD_NAME, Team
from ensemble_tui.core.team.control import TeamControl
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.handoff import Handoff, HandoffMode, hand_off
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.core.team.recovery import reconcile, resume_team
from ensemble_tui.core.team.spawn import SpawnRequest, spawn_teammate
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.demo.script import script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import AssistantMessage
from ensemble_tui.options import RunOptions
from tests.conftest import TEAM, Holds, TeamOptions, running_team
from tests.core.conftest import text_of


async def test_a_teammate_merged_as_its_first_turn_begins_leaves_its_worktree_usable(
    tmp_path: Path, team_options: TeamOptions, holds: Holds
) -> None:
    """OpenCode starts some services of a folder's instance only with its first turn, and
    they go on after an abort; one that ran after the merge had removed the worktree
    failed, and OpenCode kept the failure for that path: a later teammate of the same name
    (the next team's, at the same path) never had its turn answered. The merge has
    OpenCode drop the instance before the worktree goes."""
    # Each round a name no other test uses, so that its folder's instance starts with its
    # first turn here. (Without the drop: 3 runs of 3 failed, each at the first round.)
    for round_, name in enumerate(("lou", "max", "ned")):
        held = holds.new(f"merged-{name}")
        first = dataclasses.replace(team_options(), store_path=tmp_path / f"first-{round_}.db")
        try:
            async with running_team(first) as coord:
                team = await team_with_lead(coord)
                script = script_block({"hold": held, "text": "never said"})
                member = await spawn_teammate(coord, team, SpawnRequest(name, "Go.\n" + script))
                assert member.session_id is not None
                assert member.worktree_path is not None
                folder = member.worktree_path
                # The merge comes as soon as the teammate's first turn is under way.
                async with asyncio.timeout(30):
                    while True:
                        if member.session_id in await coord.client.statuses(str(folder)):
                            break
                        await asyncio.sleep(0.01)
                control = TeamControl(coord)
                await control.shutdown(name, force=True)
                assert "nothing to merge" in await control.merge(name)
            assert not folder.exists()
        finally:
            holds.release(held)
        later = dataclasses.replace(team_options(), store_path=tmp_path / f"later-{round_}.db")
        await a_later_teammate_works_there(later, name, folder)


async def test_what_is_asked_about_a_merged_teammate_leaves_its_worktree_path_usable(
    tmp_path: Path, team_options: TeamOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a merge the screen still shows the teammate's transcripts (its session and
    the one it had before a hand-off), a reconnect and a resume look at the team's
    sessions. OpenCode answers a request about a session in the session's own folder,
    whatever folder it names, and one that names a folder answers it there: after the
    worktree was removed either started an instance for the missing folder, which OpenCode
    kept for that path, and the next teammate of that name had its session put in no
    project ("global"; it could not be forked). The merge moves the teammate's sessions
    into the repository first, and no request names the removed folder."""
    named: list[str] = []
    request = OpenCodeClient.request

    async def noting(client: OpenCodeClient, method: str, path: str, **kwargs: Any) -> Any:
        named.append(str(kwargs.get("directory")))
        return await request(client, method, path, **kwargs)

    monkeypatch.setattr(OpenCodeClient, "request", noting)
    name = "pat"  # no other test names a teammate so: OpenCode has no instance for its folder
    options = team_options()
    async with running_team(options) as coord:
        team = await team_with_lead(coord)
        said = script_block({"text": "first words"})
        member = await spawn_teammate(coord, team, SpawnRequest(name, "Go.\n" + said))
        folder = member.worktree_path
        assert folder is not None
        await coord.wait_until_settled(limit=60)
        await hand_off(
            coord, team, Handoff(name, HandoffMode.NEW, script_block({"text": "second words"}))
        )
        await coord.wait_until_settled(limit=60)
        control = TeamControl(coord)
        await control.merge(name)
        assert not folder.exists()
        after_merge = len(named)
        transcript = await control.transcript(name)
        earlier = [
            await control.earlier_transcript(session) for session in control.earlier_sessions(name)
        ]
        await reconcile(coord, cut_short=set())
        texts = [text_of(transcript), *map(text_of, earlier)]
    async with running_team(options) as coord:
        assert await resume_team(coord, team) == []
        assert coord.session_of(name) is None
    assert str(folder) not in named[after_merge:]
    assert len(texts) == 2
    assert "second words" in texts[0]
    assert "first words" in texts[1]
    later = dataclasses.replace(options, store_path=tmp_path / "later.db")
    await a_later_teammate_works_there(later, name, folder)


async def team_with_lead(coord: Coordinator) -> Team:
    """The lead's session and a team named `TEAM`, made the way the lead's tool makes it."""
    lead = await coord.start_lead()
    caller = Caller(LEAD_NAME, is_lead=True, team_id=None, session_id=lead.session_id)
    await TeamTools(coord).team_create(caller, TEAM)
    return coord.require_team()


async def a_later_teammate_works_there(options: RunOptions, name: str, folder: Path) -> None:
    """A teammate *name* of a new team (its own store) gets *folder* and its turn answered."""
    async with running_team(options) as coord:
        team = await team_with_lead(coord)
        said = f"{name} is here again."
        again = await spawn_teammate(
            coord, team, SpawnRequest(name, "Go.\n" + script_block({"text": said}))
        )
        assert again.worktree_path == folder
        assert again.session_id is not None
        await coord.wait_until_settled(limit=60)
        messages = await coord.client.messages(again.session_id, str(folder))
        # In the repository's OpenCode project, as a worktree's sessions are (one made by
        # an instance started for the missing folder was in the "global" one, and could not
        # be forked or moved).
        session = await coord.client.get_session(again.session_id, str(folder))
        assert coord.lead is not None
        lead = await coord.client.get_session(coord.lead.session_id, str(coord.repo_root))
    assert session.project_id == lead.project_id, name
    answers = [m.info for m in messages if isinstance(m.info, AssistantMessage)]
    assert [a.error for a in answers] == [None], name
    assert said in text_of(messages), name
