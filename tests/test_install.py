"""Installed as a tool (`pipx install .`, `uv tool install .`), ensemble-tui works on its own.

Both build a wheel from the clone and install it into a fresh virtualenv, then link its
`ensemble-tui` onto PATH. This test does the same offline: the wheel is built with the
hatchling of the dev extras, and the fresh venv borrows the dependencies of this one
(pipx and uv would download them), so what is checked is the wheel: its entry point,
its package data and its imports. Deselect it with `-m "not install"`.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from ensemble_tui import __version__

CLONE = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.install


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_wheel_installed_in_a_fresh_venv_gives_a_working_command(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    dist = tmp_path / "dist"
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, CLONE, cwd=tmp_path)
    (wheel,) = dist.glob("ensemble_tui-*.whl")
    tool = tmp_path / "tool"
    run(sys.executable, "-m", "venv", "--without-pip", tool, cwd=tmp_path)
    python = tool / "bin" / "python"
    run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = run(python, "-c", purelib, cwd=tmp_path).stdout.strip()
    # The dependencies come from this venv; its editable ensemble_tui is not on that path.
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    command = tool / "bin" / "ensemble-tui"
    assert run(command, "--version", cwd=tmp_path).stdout.strip() == f"ensemble-tui {__version__}"
    assert "--url URL" in run(command, "--help", cwd=tmp_path).stdout
    assert "stall_threshold" in run(command, "config", cwd=tmp_path).stdout
    imported = run(
        python,
        "-c",
        "import ensemble_tui, pathlib; from ensemble_tui.tui.app import make_app; "
        "from ensemble_tui.demo.run import make_demo_project; "
        "print(pathlib.Path(ensemble_tui.__file__).parent)",
        cwd=tmp_path,
    )
    installed = Path(imported.stdout.strip())
    assert installed.is_relative_to(tool)  # the wheel's copy, not the clone
    assert (installed / "tui" / "app.tcss").is_file()
