"""What one run of a team is started with: the options the CLI fills in from its flags and
settings, for the screen, `run` and the demo. Light on purpose: the screen imports it
before its first frame, and the composition root (which brings MCP) only after."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ensemble_tui.core.team.settings import CoordinatorSettings


@dataclass
class RunOptions:
    """Everything `run` needs; the CLI fills it from flags and settings."""

    repo_root: Path
    prompt: str
    url: str | None = None
    password: str | None = None
    json_output: bool = False
    timeout: float = 1800.0
    opencode_bin: str | None = None
    server_env: Mapping[str, str] | None = None
    store_path: Path | None = None
    resume: bool = False
    team_name: str | None = None
    session_id: str | None = None
    settings: CoordinatorSettings = field(default_factory=CoordinatorSettings)
    settle: Callable[[RunOptions], None] | None = None
    """What is left to check before the team starts, if anything: the screen opens before
    the settings are validated (pydantic is slow to load), and its start-up worker calls
    this first, off the event loop, to fill in `settings` and `opencode_bin` or refuse."""
