"""ensemble-tui's settings: one model, read from files, the environment and flags.

Layers, each overriding the one before:
1. the defaults below;
2. `ensemble.toml` in the XDG config folder (`~/.config/ensemble-tui/ensemble.toml`);
3. `.ensemble.toml` in the repository (settings that run a program or name a folder
   outside the repository only once the user trusted the file, see `trust.py`);
4. `ENSEMBLE_<KEY>` environment variables (lists and tables as JSON);
5. command-line flags.

`settings_files.read_layers` reads the layers (no pydantic, so the screen can read them
before its first frame); `validate_layers` checks them into one `Settings`, remembering
where each value came from, and a bad value names the key, the file (or variable, or
flag) and what is allowed.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ensemble_tui.settings_files import Layer, flatten_keys, read_layers, read_toml
from ensemble_tui.settings_files import SettingsError as SettingsError
from ensemble_tui.settings_files import needs_trust as needs_trust

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from ensemble_tui.core.team.settings import CoordinatorSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def _seconds(value: object) -> object:
    """Accept 300, "300", "90s", "5m" or "1h" as a number of seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration; write seconds or e.g. '90s', '5m', '1h'"
            )
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


def _true_or_false(value: object) -> object:
    """Only true or false: pydantic would also take "yes", "on" or 1, which hide typos."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{value!r} is not a boolean; write true or false")


def format_duration(seconds: float) -> str:
    """Seconds as the README writes them: 300 is '5m', 3600 '1h', 90 '90s'."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
MAX_OPENCODE_SERVERS = 8


def _server_count(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return value  # pydantic says what it wanted
    try:
        count = int(value)
    except ValueError:
        return value
    if not 1 <= count <= MAX_OPENCODE_SERVERS:
        raise ValueError(
            f"{count} OpenCode servers: write 1 to {MAX_OPENCODE_SERVERS} (one per core of "
            "this machine is the most that helps)"
        )
    return count


ServerCount = Annotated[int, BeforeValidator(_server_count)]
Boolean = Annotated[bool, BeforeValidator(_true_or_false)]


def _model_name(value: str) -> str:
    if not re.fullmatch(r"[^/\s]+/\S+", value):
        raise ValueError(
            f"{value!r} is not a model: write provider/model, e.g. 'anthropic/claude-sonnet-4'"
        )
    return value


ModelName = Annotated[str, AfterValidator(_model_name)]


class Settings(BaseModel):
    """Everything a user can set. Durations are seconds (or '90s', '5m', '1h').

    A plain model: `load_settings` reads the layers itself (to name each value's origin),
    so pydantic-settings, which costs the screen's start a tenth of a second, is not used.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    merge_on_cleanup: Boolean = True
    """On team_cleanup, merge every teammate's branch into your working directory
    (conflicting ones are always kept); false keeps every branch for you to merge."""

    teammates_may_fork: Boolean = False
    """Let teammates fork themselves with team_fork (the lead always may)."""

    stall_threshold: Duration = 300.0
    """A working teammate quiet this long is marked stalled, nudged once, and the lead told."""

    timeout: Duration = 1800.0
    """A teammate quiet this long (from its last activity) is stopped, its work committed."""

    rate_limit: float = Field(default=2.0, gt=0)
    """Team tool calls per second each member may make on average."""

    rate_burst: int = Field(default=20, ge=1)
    """Team tool calls a member may make at once before the rate limit applies."""

    max_members: int = Field(default=20, ge=1)
    """The most teammates a team may have at work at once; a spawn beyond it is refused."""

    max_starting: int = Field(default=8, ge=1)
    """The most teammates starting at once (OpenCode starting up for a new worktree, until
    the teammate's first step); further spawns wait their turn."""

    opencode_snapshots: Boolean = True
    """OpenCode's snapshots (its undo and per-turn diffs) in the OpenCode ensemble-tui
    starts; false saves OpenCode about half the CPU time of each step."""

    opencode_servers: ServerCount = 1
    """How many `opencode serve` processes ensemble-tui starts (not with --url): teammates'
    worktrees are spread over them, as OpenCode runs each on one core."""

    worktree_root: Path | None = None
    """Where teammates' worktrees go (default: the XDG data folder, outside the repository)."""

    opencode_bin: str | None = None
    """The `opencode` to run (default: ENSEMBLE_OPENCODE_BIN, then the one on PATH)."""

    check: str | None = None
    """A shell command (e.g. `make test`) run in a teammate's worktree when it has completed
    its last task and before any merge; a failing check blocks the merge."""

    check_timeout: Duration = 600.0
    """How long a check may run before it is stopped and counted as timed out."""

    review_agent: str | None = Field(default=None, min_length=1)
    """An OpenCode agent (e.g. `plan`) that reviews a teammate's branch after its check
    passes, read-only, and approves it or asks for changes; a branch it has not approved
    is not merged (unless you merge it anyway on the screen). None: no review."""

    review_model: ModelName | None = None
    """The reviewer's model (provider/model); default: as a teammate of that agent."""

    review_timeout: Duration = 600.0
    """How long one review may take before it is stopped and counted as giving no verdict."""

    until_done: Boolean = False
    """Keep the team going until every task is done: when the lead stops with open tasks
    and everyone is idle, it is told exactly what remains (`run --until-done`, `u`)."""

    no_progress_limit: int = Field(default=3, ge=1)
    """Until-done rounds in a row that change nothing (no task moved, no commit, no
    message) before the team is paused and `run` exits 3."""

    budget_tokens: int | None = Field(default=None, ge=1)
    """The most tokens the whole team may use; at 80% the lead and you are warned, at
    100% the team is paused, its work committed (`run` exits 4)."""

    budget_cost: float | None = Field(default=None, gt=0)
    """The most the whole team may cost (in the provider's currency, as OpenCode counts it)."""

    budget_time: Duration | None = None
    """The longest the team may run, from its creation (e.g. '2h')."""

    member_budget_tokens: int | None = Field(default=None, ge=1)
    """The most tokens one teammate may use; past it the teammate gets no more prompts, its
    turn is stopped and its work committed, and the lead is told."""

    default_model: ModelName | None = None
    """The model (provider/model) for the lead and for teammates nothing else decides."""

    models_by_agent: dict[str, ModelName] = Field(default_factory=dict)
    """A model per agent, e.g. {plan = "anthropic/claude-opus-4"}: used when a spawn names none."""

    model_pool: list[ModelName] = Field(default_factory=list)
    """Models handed to teammates in turn (with model_assignment rotate or random)."""

    model_assignment: Literal["default", "rotate", "random"] = "default"
    """How teammates get a model from model_pool: default (do not use the pool), rotate, random."""

    keys: Annotated[dict[str, str], BeforeValidator(flatten_keys)] = Field(default_factory=dict)
    """Key bindings by id, e.g. [keys] app.merge = "M" (the README lists the ids)."""


@dataclass
class LoadedSettings:
    """The effective settings and, for each key set somewhere, where it came from."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, key: str) -> str:
        return self.sources.get(key, "default")


@functools.cache
def _field_docs() -> dict[str, str]:
    """Each setting's docstring, read from this module's source when an error needs one
    (pydantic's use_attribute_docstrings would parse it at every start, before the screen)."""
    try:
        tree = ast.parse(inspect.getsource(Settings))
    except (OSError, TypeError):
        return {}  # No source (a frozen build): the refusal still names the key and why.
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for field_node, doc_node in itertools.pairwise(body):
        if (
            isinstance(field_node, ast.AnnAssign)
            and isinstance(field_node.target, ast.Name)
            and isinstance(doc_node, ast.Expr)
            and isinstance(doc_node.value, ast.Constant)
            and isinstance(doc_node.value.value, str)
        ):
            docs[field_node.target.id] = " ".join(doc_node.value.value.split())
    return docs


def _field_doc(key: str) -> str:
    return _field_docs().get(key, "")


def _check_layer(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Validate one layer's keys and values on their own, so errors can name the origin."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in Settings.model_fields:
            known = ", ".join(sorted(Settings.model_fields))
            raise SettingsError(f"{origin}: unknown setting {key!r}; the settings are: {known}")
        try:
            # The field's own validation (type, constraints, duration parsing) on its own.
            probe = Settings.__pydantic_validator__.validate_assignment(
                Settings.model_construct(), key, value
            )
            checked[key] = getattr(probe, key)
        except ValidationError as error:
            reason = "; ".join(e["msg"] for e in error.errors())
            raise SettingsError(
                f"{origin}: {key} = {value!r} is not allowed ({reason}). {key}: {_field_doc(key)}"
            ) from None
        if isinstance(checked[key], float) and not math.isfinite(checked[key]):
            # TOML, JSON and pydantic accept inf and nan; no setting means either.
            raise SettingsError(
                f"{origin}: {key} = {value!r} is not allowed (a finite number is needed). "
                f"{key}: {_field_doc(key)}"
            )
    return checked


def read_repository_file(path: Path) -> tuple[dict[str, Any], bytes]:
    """A repository's settings file, validated, and its bytes (for `ensemble-tui trust`)."""
    values, content = read_toml(path)
    return _check_layer(values, str(path)), content


def validate_layers(layers: list[Layer]) -> LoadedSettings:
    """Check each layer's keys and values (naming its origin in a refusal), then merge them
    into one Settings, remembering where each value came from."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for key, value in _check_layer(layer.values, layer.origin).items():
            merged[key] = value
            sources[key] = layer.origin
    try:
        settings = Settings(**merged)
    except ValidationError as error:
        raise SettingsError(f"the settings do not fit together: {error}") from None
    return LoadedSettings(settings, sources)


def load_settings(
    repo_root: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read the layers and merge them into one validated Settings."""
    return validate_layers(read_layers(repo_root, flags, environ))


def coordinator_settings(settings: Settings) -> CoordinatorSettings:
    """The part of the settings the coordinator acts on."""
    from ensemble_tui.core.team.settings import CoordinatorSettings  # Only when needed.

    return CoordinatorSettings(
        worktree_root=settings.worktree_root,
        default_model=settings.default_model,
        models_by_agent=dict(settings.models_by_agent),
        model_pool=list(settings.model_pool),
        model_assignment=settings.model_assignment,
        tool_rate=settings.rate_limit,
        tool_burst=settings.rate_burst,
        stall_threshold=settings.stall_threshold,
        timeout=settings.timeout,
        merge_on_cleanup=settings.merge_on_cleanup,
        teammates_may_fork=settings.teammates_may_fork,
        check=settings.check,
        check_timeout=settings.check_timeout,
        review_agent=settings.review_agent,
        review_model=settings.review_model,
        review_timeout=settings.review_timeout,
        until_done=settings.until_done,
        no_progress_limit=settings.no_progress_limit,
        budget_tokens=settings.budget_tokens,
        budget_cost=settings.budget_cost,
        budget_time=settings.budget_time,
        member_budget_tokens=settings.member_budget_tokens,
        max_members=settings.max_members,
        max_starting=settings.max_starting,
        opencode_snapshots=settings.opencode_snapshots,
        opencode_servers=settings.opencode_servers,
    )


def _is_duration(info: FieldInfo) -> bool:
    """Whether a field takes a duration (also an optional one, `Duration | None`)."""
    metadata = list(info.metadata)
    for arg in get_args(info.annotation):
        metadata += getattr(arg, "__metadata__", ())
    return any(getattr(item, "func", None) is _seconds for item in metadata)


def describe(loaded: LoadedSettings) -> str:
    """The effective settings as `ensemble-tui config` prints them: value and origin."""
    rows = []
    for key, info in Settings.model_fields.items():
        value = getattr(loaded.settings, key)
        if _is_duration(info) and value is not None:
            shown = format_duration(value)
        else:
            shown = json.dumps(value, default=str) if not isinstance(value, str) else value
        rows.append((key, shown, loaded.source_of(key)))
    width = max(len(key) for key, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    return "\n".join(f"{k:<{width}}  {v:<{value_width}}  ({src})" for k, v, src in rows)
