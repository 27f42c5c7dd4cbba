"""Who is calling a team tool: one bearer token per member, bound to one team.

A token is issued when a member's session gets the team tools and revoked when the
member ends (shutdown, merge, timeout, cleanup), so an ended teammate can no longer
act; a token issued before a team exists is bound to the team the lead then creates.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who is calling: resolved from the bearer token the member's MCP config carries."""

    member: str
    is_lead: bool
    team_id: int | None
    session_id: str
    reviews: str | None = None
    """For a reviewer session: the member whose branch it reviews (it may call only
    team_review); None for the lead and the teammates."""


@dataclass
class _Identity:
    member: str
    session_id: str
    is_lead: bool
    team_id: int | None
    reviews: str | None = None


class TokenBook:
    """The tokens in force and the member each stands for."""

    def __init__(self) -> None:
        self._by_token: dict[str, _Identity] = {}

    def issue(
        self,
        member: str,
        session_id: str,
        *,
        is_lead: bool,
        team_id: int | None,
        reviews: str | None = None,
    ) -> str:
        """A new token for *member*'s session (any earlier token of that session stays);
        *reviews* names the member a reviewer session reviews."""
        token = secrets.token_urlsafe(24)
        self._by_token[token] = _Identity(member, session_id, is_lead, team_id, reviews)
        return token

    def bind_unbound(self, team_id: int) -> None:
        """Bind the tokens issued before there was a team (the lead's) to the new team."""
        for identity in self._by_token.values():
            if identity.team_id is None:
                identity.team_id = team_id

    def revoke(self, token: str) -> None:
        self._by_token.pop(token, None)

    def revoke_member(self, member: str) -> None:
        """End every token of *member*: it can call no team tool any more."""
        for token in [t for t, i in self._by_token.items() if i.member == member]:
            del self._by_token[token]

    def end_team(self, lead: str) -> None:
        """The team ended: teammates' tokens end, the lead's wait for its next team."""
        for token, identity in list(self._by_token.items()):
            if identity.member == lead:
                identity.team_id = None
            else:
                del self._by_token[token]

    def caller(self, token: str, current_team: int | None) -> Caller | None:
        """The caller a token stands for; None for an unknown token, or one of another team
        than *current_team* (a token outlives nothing: not its member, not its team)."""
        identity = self._by_token.get(token)
        if identity is None:
            return None
        if identity.team_id is not None and identity.team_id != current_team:
            return None
        return Caller(
            identity.member, identity.is_lead, current_team, identity.session_id, identity.reviews
        )

    def sessions(self) -> list[tuple[str, str]]:
        """(token, session id) of every token in force, to register the tools again."""
        return [(token, identity.session_id) for token, identity in self._by_token.items()]

    def __len__(self) -> int:
        return len(self._by_token)
