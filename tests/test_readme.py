"""The README says what the project really has: its commands, settings, keys and tools."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ensemble_tui.core.team.events import EVENT_TYPES
from ensemble_tui.settings import Settings
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tui.keys import known_bindings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_the_two_commands_come_first_and_every_make_command_exists() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert re.findall(r"^make (\w+)", first_block, re.MULTILINE) == ["demo", "test"]
    targets = set(re.findall(r"^([a-z][\w-]*):", MAKEFILE, re.MULTILINE))
    mentioned = set(re.findall(r"`make (\w+)`|^make (\w+)", README, re.MULTILINE))
    names = {name for pair in mentioned for name in pair if name}
    assert names <= targets, names - targets
    assert {"demo", "test", "screenshots", "bench"} <= names
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_setting_is_in_the_configuration_table_and_nothing_else() -> None:
    table = section("Configuration")
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert documented == set(Settings.model_fields)


def test_the_keys_table_names_real_binding_ids_and_every_app_action() -> None:
    table = section("The screen")
    ids = set(re.findall(r"`([a-z]+\.[a-z_]+)`", table))
    known = set(known_bindings())
    assert ids <= known, ids - known
    assert {i for i in known if i.startswith("app.")} <= ids


def test_every_team_tool_is_documented() -> None:
    table = section("The agents' team tools")
    documented = set(re.findall(r"^\| `(team_\w+)\(", table, re.MULTILINE))
    assert documented == set(TOOLS)


def test_every_json_event_type_is_documented_with_its_fields() -> None:
    table = section("Use it on your project")
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", table, re.MULTILINE))
    assert documented == set(EVENT_TYPES)
    for kind, cls in EVENT_TYPES.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{kind}` |"))
        common = {"time", "member", "task", "sender", "recipient", "text"}
        own = {f.name for f in dataclasses.fields(cls)} - common
        missing = {name for name in own if f"`{name}`" not in row}
        assert not missing, f"{kind}: the README does not name {missing}"
