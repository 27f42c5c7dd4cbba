"""Settings: layers and their precedence, clear errors, model resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.core.team.spawn import choose_model
from ensemble_tui.settings import (
    LoadedSettings,
    SettingsError,
    coordinator_settings,
    describe,
    load_settings,
)


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tmp_path / "config" / "ensemble-tui" / "ensemble.toml"
    path.parent.mkdir(parents=True)
    return path


def test_each_layer_overrides_the_one_before_and_is_named(
    user_config: Path, tmp_path: Path
) -> None:
    user_config.write_text('stall_threshold = "2m"\ntimeout = 600\nrate_limit = 5\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".ensemble.toml").write_text("timeout = 900\nrate_limit = 3\n")
    environ = {"ENSEMBLE_RATE_LIMIT": "4", "ENSEMBLE_MODEL_POOL": '["a/one", "b/two"]'}
    loaded = load_settings(repo, {"rate_limit": 1.5}, environ)

    settings = loaded.settings
    assert (settings.stall_threshold, settings.timeout, settings.rate_limit) == (120, 900, 1.5)
    assert settings.model_pool == ["a/one", "b/two"]
    assert loaded.source_of("stall_threshold") == str(user_config)
    assert loaded.source_of("timeout") == str(repo / ".ensemble.toml")
    assert loaded.source_of("model_pool") == "ENSEMBLE_MODEL_POOL"
    assert loaded.source_of("rate_limit") == "--set rate_limit"
    assert loaded.source_of("merge_on_cleanup") == "default"
    table = describe(loaded)
    assert "rate_limit" in table
    assert "(--set rate_limit)" in table
    assert "(ENSEMBLE_MODEL_POOL)" in table


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ('timeout = "soon"', ["timeout", "not a duration", "5m"]),
        ("timeout = -3", ["timeout", "greater than 0"]),
        ('model_pool = ["gpt4"]', ["model_pool", "provider/model"]),
        ('model_assignment = "best"', ["model_assignment", "'rotate'"]),
        ("colour = 'blue'", ["unknown setting 'colour'", "merge_on_cleanup"]),
        ("timeout = ", ["not valid TOML"]),
        ('merge_on_cleanup = "yes"', ["merge_on_cleanup", "'yes' is not a boolean", "true"]),
        ("merge_on_cleanup = 1", ["merge_on_cleanup", "true or false"]),
        ("opencode_servers = 0", ["opencode_servers", "0 OpenCode servers: write 1 to 8"]),
        ("opencode_servers = 9", ["opencode_servers", "9 OpenCode servers: write 1 to 8"]),
        ('opencode_servers = "two"', ["opencode_servers", "valid integer"]),
    ],
)
def test_a_bad_value_names_the_key_the_file_and_what_is_allowed(
    user_config: Path, text: str, phrases: list[str]
) -> None:
    user_config.write_text(text + "\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(None, None, {})
    message = str(refused.value)
    assert str(user_config) in message
    for phrase in phrases:
        assert phrase in message


def test_bad_environment_values_name_the_variable(user_config: Path) -> None:
    with pytest.raises(SettingsError, match="ENSEMBLE_MODELS_BY_AGENT: not valid JSON"):
        load_settings(None, None, {"ENSEMBLE_MODELS_BY_AGENT": "{plan:"})
    with pytest.raises(SettingsError, match="ENSEMBLE_MERGE_ON_CLEANUP: merge_on_cleanup"):
        load_settings(None, None, {"ENSEMBLE_MERGE_ON_CLEANUP": "perhaps"})


def test_booleans_from_the_environment_are_true_or_false(user_config: Path) -> None:
    environ = {"ENSEMBLE_MERGE_ON_CLEANUP": "False"}
    assert load_settings(None, None, environ).settings.merge_on_cleanup is False
    with pytest.raises(SettingsError, match=r"ENSEMBLE_MERGE_ON_CLEANUP: .*true or false"):
        load_settings(None, None, {"ENSEMBLE_MERGE_ON_CLEANUP": "on"})


def test_config_shows_durations_as_the_readme_writes_them(user_config: Path) -> None:
    user_config.write_text('timeout = 5400\nstall_threshold = "90s"\n')

    def shown(loaded: LoadedSettings) -> dict[str, str]:
        return {line.split()[0]: line.split()[1] for line in describe(loaded).splitlines()}

    assert shown(load_settings(None, None, {}))["timeout"] == "90m"
    assert shown(load_settings(None, None, {}))["stall_threshold"] == "90s"
    user_config.write_text("")
    assert shown(load_settings(None, None, {}))["stall_threshold"] == "5m"
    # An optional duration is shown the same way once set, and as null until then.
    assert shown(load_settings(None, None, {}))["budget_time"] == "null"
    assert shown(load_settings(None, {"budget_time": "2h"}, {}))["budget_time"] == "2h"


def test_budgets_and_until_done_reach_the_coordinator(user_config: Path) -> None:
    user_config.write_text(
        "until_done = true\nno_progress_limit = 5\nbudget_tokens = 100000\n"
        'budget_cost = 2.5\nbudget_time = "1h"\nmember_budget_tokens = 20000\n'
    )
    acting = coordinator_settings(load_settings(None, None, {}).settings)
    assert acting.until_done
    assert (acting.no_progress_limit, acting.budget_tokens) == (5, 100000)
    assert (acting.budget_cost, acting.budget_time, acting.member_budget_tokens) == (
        2.5,
        3600,
        20000,
    )
    user_config.write_text("budget_tokens = 0\n")
    with pytest.raises(SettingsError, match="budget_tokens = 0 is not allowed"):
        load_settings(None, None, {})


def test_the_coordinator_gets_the_settings_it_acts_on(user_config: Path) -> None:
    loaded = load_settings(None, {"merge_on_cleanup": False, "stall_threshold": "90s"}, {})
    acting = coordinator_settings(loaded.settings)
    assert not acting.merge_on_cleanup
    assert acting.stall_threshold == 90


def test_model_resolution_order() -> None:
    settings = CoordinatorSettings(
        default_model="d/default",
        models_by_agent={"plan": "p/planner"},
        model_pool=["x/one", "y/two"],
        model_assignment="rotate",
    )
    assert str(choose_model(settings, "build", "e/explicit", 0)) == "e/explicit"
    assert str(choose_model(settings, "plan", None, 0)) == "p/planner"
    assert [str(choose_model(settings, "build", None, n)) for n in range(3)] == [
        "x/one",
        "y/two",
        "x/one",
    ]
    settings.model_assignment = "random"
    assert str(choose_model(settings, "build", None, 0)) in {"x/one", "y/two"}
    settings.model_assignment = "default"
    assert str(choose_model(settings, "build", None, 0)) == "d/default"
    assert choose_model(CoordinatorSettings(), "build", None, 0) is None


def test_dotted_key_ids_may_be_written_as_toml_tables(user_config: Path) -> None:
    user_config.write_text('[keys]\napp.merge = "M"\n"app.diff" = "D"\n')
    assert load_settings(None, None, {}).settings.keys == {"app.merge": "M", "app.diff": "D"}


def test_a_refusal_quotes_what_the_setting_is_for(user_config: Path) -> None:
    user_config.write_text("budget_tokens = 0\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(None, None, {})
    assert "budget_tokens: The most tokens the whole team may use; at 80% the lead" in str(
        refused.value
    )


def test_the_number_of_opencode_servers_comes_from_the_environment_to_the_coordinator(
    user_config: Path,
) -> None:
    loaded = load_settings(None, None, {"ENSEMBLE_OPENCODE_SERVERS": "2"})
    assert coordinator_settings(loaded.settings).opencode_servers == 2
    assert load_settings(None, None, {}).settings.opencode_servers == 1
