"""Where ensemble-tui keeps its state: XDG directories, one folder per repository."""

from __future__ import annotations

import os
import re
from pathlib import Path

APP_NAME = "ensemble-tui"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says relative paths are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def data_home() -> Path:
    """The XDG data directory of ensemble-tui (`$XDG_DATA_HOME/ensemble-tui`)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_NAME


def config_home() -> Path:
    """The XDG config directory of ensemble-tui (`$XDG_CONFIG_HOME/ensemble-tui`)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP_NAME


def cache_home() -> Path:
    """The XDG cache directory of ensemble-tui (`$XDG_CACHE_HOME/ensemble-tui`): files
    that can be deleted at any time and are made again."""
    return _xdg("XDG_CACHE_HOME", ".cache") / APP_NAME


def private_dir(path: Path) -> Path:
    """Create `path` readable by the user only (0700) and return it.

    The state of a team (prompts, messages, the teammates' work) is nobody else's
    business on a shared machine. Folders this creates are 0700, and so is every
    folder from the data home down to `path`, which mends older installs; a folder
    of the user's own choosing that already exists is left as it is.
    """
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    ours = data_home()
    owned = [path, *path.parents] if path.is_relative_to(ours) else []
    for folder in {*missing, *(f for f in owned if f.is_relative_to(ours))}:
        os.chmod(folder, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` if missing, readable and writable by the user only (0600); return it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    return path


def repo_key(repo_root: Path) -> str:
    """A stable, path-safe name for a repository: its folder name and a hash of its path."""
    import hashlib  # Here: not before the screen's first frame.

    resolved = str(repo_root.resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(resolved).name)[:40] or "repo"
    return f"{name}-{digest}"


def repo_data_dir(repo_root: Path) -> Path:
    """The folder that holds one repository's database, logs and worktrees."""
    return data_home() / "repos" / repo_key(repo_root)
