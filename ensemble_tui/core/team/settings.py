"""How a coordinator behaves: its settings, apart from the coordinator so that what only
describes a run (the options the screen is started with) imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CoordinatorSettings:
    """How the coordinator behaves; the app's settings fill these in."""

    worktree_root: Path | None = None
    default_model: str | None = None
    models_by_agent: dict[str, str] = field(default_factory=dict)
    model_pool: list[str] = field(default_factory=list)
    model_assignment: str = "default"
    tool_rate: float = 2.0
    tool_burst: int = 20
    ack_cooldown: float = 60.0
    max_spawn_failures: int = 3
    max_members: int = 20
    max_starting: int = 8
    opencode_snapshots: bool = True
    """Whether the `opencode serve` ensemble-tui starts keeps OpenCode's snapshots."""
    opencode_servers: int = 1
    """How many `opencode serve` processes ensemble-tui starts (teammates spread over them)."""
    stall_threshold: float = 300.0
    timeout: float = 1800.0
    merge_on_cleanup: bool = True
    teammates_may_fork: bool = False
    check: str | None = None
    check_timeout: float = 600.0
    review_agent: str | None = None
    review_model: str | None = None
    review_timeout: float = 600.0
    until_done: bool = False
    no_progress_limit: int = 3
    budget_tokens: int | None = None
    budget_cost: float | None = None
    budget_time: float | None = None
    member_budget_tokens: int | None = None
