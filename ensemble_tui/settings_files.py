"""Reading the settings' layers: the files, the environment and `--set` flags, unvalidated.

No pydantic here: the screen reads the layers before its first frame (a file that is not
TOML, or an untrusted repository file, stops it there) and hands them to its start-up
worker, where `settings.validate_layers` checks every value. Only the keymap, which the
first frame draws, is read from the layers before that (`keys_for_first_frame`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ensemble_tui.errors import EnsembleError
from ensemble_tui.paths import config_home
from ensemble_tui.trust import TrustError, is_trusted, trusted_digest

ENV_PREFIX = "ENSEMBLE_"
USER_FILE = "ensemble.toml"
REPO_FILE = ".ensemble.toml"
# Settings that run a program or name a folder outside the repository.
NEEDS_TRUST = frozenset({"worktree_root", "opencode_bin", "check"})


class SettingsError(EnsembleError):
    """A setting that cannot be used; the message names the key, where it was set, and why."""


def needs_trust(key: str) -> bool:
    """Whether a setting runs a program or names a folder outside the repository, so a
    repository's own file may set it only once the user trusted that file."""
    return key in NEEDS_TRUST


@dataclass(frozen=True)
class Layer:
    """The settings one origin (a file, a variable, a flag) sets, as read, unvalidated."""

    origin: str
    values: dict[str, Any]


def flatten_keys(value: object, prefix: str = "") -> object:
    """TOML reads `app.merge = "M"` as a nested table: flatten it back to dotted ids."""
    if not isinstance(value, dict):
        return value
    flat: dict[str, object] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            nested = flatten_keys(item, f"{name}.")
            assert isinstance(nested, dict)
            flat.update(nested)
        else:
            flat[name] = item
    return flat


def read_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    """The file's settings and its exact bytes (which trust is recorded against)."""
    import tomllib  # Only when there is a file: the screen's start usually has none.

    try:
        content = path.read_bytes()
        return tomllib.loads(content.decode("utf-8")), content
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"{path} is not UTF-8 text (byte {error.start} cannot be read); "
            "save it as UTF-8, as TOML requires"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(f"{path} cannot be read: {error}") from None


def check_trust(path: Path, values: Mapping[str, Any], content: bytes) -> None:
    """Refuse a repository file that sets a program or outside path unless it is trusted."""
    risky = [key for key in values if needs_trust(key)]
    try:
        if not risky or is_trusted(path, content):
            return
        changed = trusted_digest(path) is not None
    except TrustError as error:
        raise SettingsError(str(error)) from None
    named = " and ".join(risky)
    why = "has changed since you trusted it" if changed else "is not trusted"
    raise SettingsError(
        f"{path} sets {named}, which would run a program or write outside the repository, "
        f"and the file {why}, so ensemble-tui will not use it. Read the file; if you agree "
        f"with it, run `ensemble-tui trust {path.parent}`. Or remove {named} from it "
        "(your own ~/.config/ensemble-tui/ensemble.toml or ENSEMBLE_* variables can set it)."
    )


def _environment(environ: Mapping[str, str]) -> list[Layer]:
    """ENSEMBLE_<KEY> variables, one layer each; JSON for lists and tables."""
    found: list[Layer] = []
    for variable, raw in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable == "ENSEMBLE_OPENCODE_BIN":
            continue
        key = variable[len(ENV_PREFIX) :].lower()
        value: Any = raw
        if raw.strip().startswith(("[", "{")):
            import json  # Here: the screen's first frame needs no JSON otherwise.

            try:
                value = json.loads(raw)
            except json.JSONDecodeError as error:
                raise SettingsError(f"{variable}: not valid JSON ({error})") from None
        found.append(Layer(variable, {key: value}))
    return found


def read_layers(
    repo_root: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Layer]:
    """Every layer that sets something, each overriding the ones before: the user's file,
    the repository's (refused unless trusted when it sets a program or an outside folder),
    the ENSEMBLE_* variables, then the flags."""
    layers: list[Layer] = []
    user_file = config_home() / USER_FILE
    if user_file.is_file():
        layers.append(Layer(str(user_file), read_toml(user_file)[0]))
    repo_file = repo_root / REPO_FILE if repo_root is not None else None
    if repo_file is not None and repo_file.is_file():
        values, content = read_toml(repo_file)
        check_trust(repo_file, values, content)
        layers.append(Layer(str(repo_file), values))
    layers += _environment(os.environ if environ is None else environ)
    for key, value in (flags or {}).items():
        if value is not None:
            layers.append(Layer(f"--set {key}", {key: value}))
    return layers


def keys_for_first_frame(layers: list[Layer]) -> dict[str, str] | None:
    """The keymap the layers set (the last one wins), when it is plainly a table of
    strings, as the full check would take it; None when only that check can tell."""
    keys: object = {}
    for layer in layers:
        if "keys" in layer.values:
            keys = flatten_keys(layer.values["keys"])
    if not isinstance(keys, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        return None
    return keys
