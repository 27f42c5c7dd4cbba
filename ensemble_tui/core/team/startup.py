"""What a start does: resume the repository's unfinished team, adopt a lead, or begin anew.

- `--team NAME`: resume that active team (refused if there is none by that name);
- `--session ID`: continue that OpenCode session as the lead (and its team, if any);
- neither: resume the most recent unfinished team, else start a new lead.
"""

from __future__ import annotations

from ensemble_tui.core.models import TeamStatus
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.recovery import resume_team
from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.client import OpenCodeError


class StartRefused(EnsembleError):
    """The start cannot do what was asked; the message says why and what to do."""


async def start_or_resume(
    coordinator: Coordinator, *, team_name: str | None = None, session_id: str | None = None
) -> str:
    """Bring the coordinator to a running lead; return one sentence saying what happened."""
    active = coordinator.store.list_teams(TeamStatus.ACTIVE)
    if team_name is not None:
        team = next((t for t in active if t.name == team_name), None)
        if team is None:
            names = ", ".join(t.name for t in active) or "none"
            raise StartRefused(
                f"There is no unfinished team {team_name!r} in this repository "
                f"(unfinished teams: {names})."
            )
        await resume_team(coordinator, team)
        return f"Resumed team {team.name}."
    if session_id is not None:
        team = next((t for t in active if t.lead_session_id == session_id), None)
        if team is not None:
            await resume_team(coordinator, team)
            return f"Resumed team {team.name}, led by session {session_id}."
        try:
            await coordinator.adopt_lead(session_id)
        except OpenCodeError as error:
            raise StartRefused(f"Cannot continue session {session_id}: {error.reason}") from None
        return f"Continuing session {session_id} as the lead."
    if active:
        team = max(active, key=lambda found: found.created)
        await resume_team(coordinator, team)
        return f"Resumed the unfinished team {team.name}."
    await coordinator.start_lead()
    return "Started a new lead; tell it what to build."
