"""Where ensemble-tui keeps its state: XDG directories, one folder per repository."""

from __future__ import annotations

import hashlib
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


def repo_key(repo_root: Path) -> str:
    """A stable, path-safe name for a repository: its folder name and a hash of its path."""
    resolved = str(repo_root.resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(resolved).name)[:40] or "repo"
    return f"{name}-{digest}"


def repo_data_dir(repo_root: Path) -> Path:
    """The folder that holds one repository's database, logs and worktrees."""
    return data_home() / "repos" / repo_key(repo_root)
