"""The one base of every error ensemble-tui explains to a person or an agent.

Each layer raises its own subclasses (`OpenCodeError`, `StoreError`, `GitError`,
`Refused`...), and the edges catch `EnsembleError` alone: the CLI prints its message,
the screen shows it, the team tools send it to the agent as the error text. Anything
else that escapes is a bug, and is reported as one.
"""

from __future__ import annotations


class EnsembleError(Exception):
    """Something ensemble-tui cannot do; the message says why and, where it can, what to do."""
