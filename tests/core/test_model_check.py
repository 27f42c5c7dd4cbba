"""Which model the lead will use, and what a new user with none is told (issue 12, item 1)."""

from __future__ import annotations

from ensemble_tui.core.team.model_check import FIX, judge
from ensemble_tui.opencode.models import Providers


def providers(**models: list[str]) -> Providers:
    return Providers.model_validate(
        {
            "providers": [
                {"id": name, "name": name.title(), "models": {m: {"id": m} for m in ids}}
                for name, ids in models.items()
            ],
            "default": {name: ids[0] for name, ids in models.items() if ids},
        }
    )


def test_no_connected_provider_is_said_with_the_fix() -> None:
    found = judge(None, None, providers(), [])
    assert not found.usable
    assert found.problem == "No model provider is connected in OpenCode."
    assert found.describe().endswith(FIX)
    assert "opencode auth login" in found.describe()
    assert "--set default_model=provider/model" in found.describe()


def test_the_model_comes_from_the_setting_then_opencode_then_its_default() -> None:
    usable = providers(opencode=["big-pickle", "other"], scripted=["scripted"])
    assert judge("scripted/scripted", "opencode/other", usable, ["opencode"]).model == (
        "scripted/scripted"
    )
    configured = judge(None, "opencode/other", usable, ["opencode"])
    assert (configured.model, configured.source) == ("opencode/other", "OpenCode's `model` setting")
    default = judge(None, None, usable, ["opencode"])
    assert (default.model, default.source) == ("opencode/big-pickle", "OpenCode's default")
    assert default.usable


def test_a_model_of_an_unconnected_provider_or_unknown_id_is_named() -> None:
    usable = providers(opencode=["big-pickle"])
    other = judge("anthropic/claude", None, usable, ["opencode"])
    assert other.problem is not None
    assert "anthropic/claude (default_model)" in other.problem
    assert "provider anthropic is not connected (connected: opencode)" in other.problem
    unknown = judge("opencode/nope", None, usable, ["opencode"])
    assert unknown.problem is not None
    assert "Opencode has no model nope" in unknown.problem
    bad = judge("no-slash", None, usable, ["opencode"])
    assert bad.problem is not None
    assert "is not valid" in bad.problem
