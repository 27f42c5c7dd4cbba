"""The core's refusal: a command from an agent or the human that was not carried out."""

from __future__ import annotations

from ensemble_tui.errors import EnsembleError


class Refused(EnsembleError):
    """A team operation was refused before anything changed; the message says why, in words
    fit for the agent or the human who asked (the team tools send it verbatim)."""
