"""The repository's state file, checked once before a start: usable, or moved aside.

A state.db that is not a database, or whose pages are damaged, would otherwise fail in
the middle of a team's work with a raw SQLite error. It holds nothing the user made
(their work is on branches and in worktrees), so a broken one is renamed to
`state.db.broken-<time>` (kept for a look) and a fresh one is started. A file written
by a newer ensemble-tui is not broken: it is left alone and the start is refused.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ensemble_tui.core.store.connection import BrokenStateError, StoreConnection
from ensemble_tui.core.store.schema import SchemaError
from ensemble_tui.errors import EnsembleError
from ensemble_tui.paths import repo_data_dir

STATE_FILE = "state.db"
# SQLite keeps recent writes of a WAL database in these companions; they move with it.
_COMPANIONS = ("-wal", "-shm")


class StateFileError(EnsembleError):
    """The state file cannot be used and was left as it is; the message says what to do."""


def state_file(repo_root: Path) -> Path:
    """Where a repository's team state lives."""
    return repo_data_dir(repo_root) / STATE_FILE


def move_aside(path: Path) -> Path:
    """Rename a broken state file (and its WAL companions) to `<name>.broken-<time>`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.broken-{stamp}-{number}")
    for suffix in _COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    path.rename(aside)
    return aside


def check_state_file(path: Path) -> str | None:
    """Open the state file once (integrity check and migrations included).

    Returns None when it is usable (or new); when it was broken, moves it aside and
    returns a sentence saying so. Raises StateFileError when it cannot be used and must
    not be moved (a newer schema, a permission problem, another process holding it).
    """
    if not path.exists():
        return None
    try:
        with StoreConnection(path):
            return None
    except SchemaError as error:
        raise StateFileError(
            f"{path}: {error} To start afresh with this version instead, move the file "
            f"aside (mv {path} {path}.newer)."
        ) from None
    except BrokenStateError as error:
        try:
            aside = move_aside(path)
        except OSError as move_error:
            raise StateFileError(
                f"{error} It could not be moved aside ({move_error}); move or delete it "
                "yourself to start afresh."
            ) from None
        return (
            f"The team state {path} was damaged ({error.problem}); it was moved aside to "
            f"{aside} and a fresh one was started. Your work on teammates' branches is "
            "untouched (see `git branch --list 'ensemble/*'`)."
        )
    except sqlite3.Error as error:
        raise StateFileError(f"{path} cannot be opened: {error}") from None
