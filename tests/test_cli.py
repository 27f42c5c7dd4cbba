"""The `ensemble-tui` command line, run as a real subprocess where it matters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_tui import __version__
from ensemble_tui.demo.first_turn import run_first_turn


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ensemble_tui", *args], capture_output=True, text=True, check=False
    )


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"ensemble-tui {__version__}"


def test_help_names_the_commands() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "OpenCode agents" in done.stdout
    assert "demo" in done.stdout
    demo_help = run_cli("demo", "--help")
    assert demo_help.returncode == 0
    assert "ENSEMBLE_OPENCODE_BIN" in demo_help.stdout


def test_an_unknown_command_is_refused() -> None:
    done = run_cli("fly")
    assert done.returncode == 2
    assert "invalid choice: 'fly'" in done.stderr


def test_demo_without_opencode_says_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    done = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "demo"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "npm install -g opencode-ai@1.18.33" in done.stderr


async def test_the_demo_turn_writes_in_the_worktree_only(
    opencode_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    lines: list[str] = []
    worktree = await run_first_turn(lines.append)
    assert (worktree / "greet.py").read_text().startswith("def greet(")
    repo = worktree.parent.parent / "project"
    assert not (repo / "greet.py").exists()
    assert "  tool write: greet.py" in lines
    assert lines.count("  status: idle") == 1
