"""The layers below the screen never import Textual or Rich (checked in a fresh interpreter).

httpx imports Rich on its own when Rich is installed (for its optional CLI), so looking
at `sys.modules` would blame us for it. Instead the probe makes `textual` and `rich`
unimportable and imports every module of the headless packages: any module of ours
that needs either fails to import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS_PACKAGES = ["ensemble_tui.opencode", "ensemble_tui.core", "ensemble_tui.tools"]

PROBE = """
import importlib, importlib.abc, pkgutil, sys

class Forbid(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual", "rich"):
            raise ImportError(name + " is forbidden below the screen")
        return None

sys.meta_path.insert(0, Forbid())
package = importlib.import_module({package!r})
names = [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.parametrize("package", HEADLESS_PACKAGES)
def test_package_imports_without_textual_or_rich(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if package == "ensemble_tui.opencode":
        assert int(done.stdout) >= 5, "the probe must really have imported the modules"


def test_the_probe_catches_a_module_that_imports_rich() -> None:
    code = PROBE.format(package="json").replace("print(len(names))", "import rich.text")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "forbidden below the screen" in done.stderr
