"""A teammate's token ends with it and acts only in its own team (issue 13, item 4).

The tokens are checked where the MCP server asks for them (`Coordinator.identify`), on a
coordinator with a real store; no OpenCode is needed for who a token stands for.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ensemble_tui.core.models import Member, MemberStatus
from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.coordinator import Coordinator


def offline(folder: Path) -> Coordinator:
    # The client is never called here: who a token stands for is the coordinator's own.
    client = SimpleNamespace(base_url="http://127.0.0.1:1")
    return Coordinator(folder, Store(folder / "state.db"), client)  # type: ignore[arg-type]


def test_a_teammates_token_ends_when_it_is_shut_down(tmp_path: Path) -> None:
    coordinator = offline(tmp_path)
    lead_token = coordinator.issue_token("lead", "ses_lead", is_lead=True)
    team = coordinator.store.create_team("one", tmp_path, "ses_lead")
    coordinator.set_team(team)
    coordinator.store.add_member(Member(team_id=team.id, name="ada", session_id="ses_ada"))
    ada_token = coordinator.issue_token("ada", "ses_ada", is_lead=False)
    ada = coordinator.identify(ada_token)
    assert ada is not None
    assert (ada.member, ada.team_id) == ("ada", team.id)

    member = coordinator.require_member("ada")
    coordinator.end_member(member, MemberStatus.SHUT_DOWN)

    assert coordinator.identify(ada_token) is None
    assert coordinator.identify(lead_token) is not None


def test_an_old_teammates_token_does_not_act_in_the_next_team(tmp_path: Path) -> None:
    coordinator = offline(tmp_path)
    lead_token = coordinator.issue_token("lead", "ses_lead", is_lead=True)
    first = coordinator.store.create_team("first", tmp_path, "ses_lead")
    coordinator.set_team(first)
    bob_token = coordinator.issue_token("bob", "ses_bob", is_lead=False)
    coordinator.store.archive_team(first.id)
    coordinator.end_team()
    second = coordinator.store.create_team("second", tmp_path, "ses_lead")
    coordinator.set_team(second)

    assert coordinator.identify(bob_token) is None
    lead = coordinator.identify(lead_token)
    assert lead is not None
    assert lead.team_id == second.id
