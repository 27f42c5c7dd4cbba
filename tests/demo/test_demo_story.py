"""The demo's story, headless and fast: the real OpenCode, the scripted model, three teammates."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys

import pytest

from ensemble_tui.demo.run import run_demo_headless


def test_the_demo_ends_with_every_teammates_work_merged(
    opencode_bin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENSEMBLE_OPENCODE_BIN", opencode_bin)
    out = io.StringIO()
    place = asyncio.run(run_demo_headless(pace=0.0, out=out))
    said = out.getvalue()

    repo = place.repo
    assert (repo / "textstats" / "sentences.py").exists()
    assert (repo / "textstats" / "readability.py").exists()
    assert "## Sentences and readability" in (repo / "README.md").read_text()
    status = subprocess.run(
        ["git", "status", "--short"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert sorted(status) == [
        " M README.md",
        "?? tests/",
        "?? textstats/readability.py",
        "?? textstats/sentences.py",
    ]
    branches = subprocess.run(
        ["git", "branch", "--list", "ensemble/*"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert branches == ""
    # The code the team wrote works: its own tests pass on the merged tree.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
    assert "permission.asked" in said
    assert "(the viewer allows cy asks to use external_directory" in said
    assert "permission.answered" in said
    assert said.index("team.cleaned_up") < said.index("run.finished")
    assert f"The team's work is in {repo}" in said
