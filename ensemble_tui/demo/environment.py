"""An isolated environment for running the real OpenCode with the scripted model.

Tests, the demo and the benchmarks point HOME and the XDG folders into a throwaway
folder, so no user state is read or written, and name the scripted model as the only
provider.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from ensemble_tui.demo.provider import write_scripted_provider_config

_XDG_FOLDERS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}


def isolated_environment(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return os.environ with HOME and the XDG folders moved under *home* (created)."""
    env = dict(os.environ)
    env["HOME"] = str(home)
    for variable, relative in _XDG_FOLDERS.items():
        folder = home / relative
        folder.mkdir(parents=True, exist_ok=True)
        env[variable] = str(folder)
    for variable in ("OPENCODE_SERVER_PASSWORD", "OPENCODE_SERVER_USERNAME", "OPENCODE_CONFIG"):
        env.pop(variable, None)
    env.update(
        {
            # Offline and quiet: no model catalogue download, no self-update.
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        }
    )
    env.update(extra or {})
    return env


def scripted_opencode_environment(
    home: Path, model_base_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An isolated environment whose OpenCode uses the scripted model at *model_base_url*."""
    env = isolated_environment(home, extra)
    write_scripted_provider_config(Path(env["XDG_CONFIG_HOME"]) / "opencode", model_base_url)
    return env


def without_model_catalogue(env: dict[str, str]) -> dict[str, str]:
    """Give *env*'s OpenCode an empty catalogue of providers and models; return *env*.

    OpenCode otherwise reads its bundled catalogue (every provider and model it knows of)
    and sorts it again for each folder it works in: about 1.3 s of CPU for each new
    worktree (measured, a first turn in a folder took 2.6 s with it and 1.25 s without).
    A scripted OpenCode needs none of it: its one provider, the scripted model, is written
    out whole in its config, and the catalogue's providers need keys or the network.
    """
    catalogue = Path(env["HOME"]) / "models.json"
    catalogue.write_text("{}\n")
    env["OPENCODE_MODELS_PATH"] = str(catalogue)
    return env


def seed_opencode_config(env: dict[str, str], deps: Path | None) -> dict[str, str]:
    """Put the installed plugin package into the config folder of *env*'s OpenCode, so it
    finds its dependencies there and installs nothing; return *env*.

    The package's files are hard links (a copy across file systems): OpenCode only reads
    them once they are in place.
    """
    if deps is not None:
        folder = Path(env["XDG_CONFIG_HOME"]) / "opencode"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(deps / name, folder / name)
        shutil.copytree(
            deps / "node_modules", folder / "node_modules", symlinks=True, copy_function=_link
        )
    return env


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
