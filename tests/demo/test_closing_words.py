"""The demo's closing hints work when pasted into a shell that has not got `.venv/bin` on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ensemble_tui.demo.run import closing_words, make_demo_project


def test_the_closing_hints_run_as_written_and_show_new_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo` runs `.venv/bin/ensemble-tui` without putting it on PATH, and the team's
    new files are untracked: every hint must still work, and the diff must show them."""
    place = make_demo_project(tmp_path / "demo")
    (place.repo / "textstats" / "shout.py").write_text(
        "def shout(text):\n    return text.upper()\n"
    )
    (place.repo / "tests").mkdir()
    (place.repo / "tests" / "test_shout.py").write_text(
        "from textstats.shout import shout\n\n\ndef test_shout():\n    assert shout('a') == 'A'\n"
    )
    with (place.repo / "README.md").open("a") as readme:
        readme.write("\nShouting is supported.\n")
    plain_path = "/usr/local/bin:/usr/bin:/bin"
    monkeypatch.setenv("PATH", plain_path)
    words = closing_words(place)

    hints = words.split("Try next:\n", 1)[1].splitlines()
    commands = [line.split("  #", 1)[0].strip() for line in hints if line.strip()]
    runnable = [command for command in commands if "/path/to/your/repo" not in command]
    assert any("git status" in command for command in runnable)
    done = subprocess.run(
        ["bash", "-c", " && ".join(runnable)],
        env={**os.environ, "PATH": plain_path},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "+def shout(text):" in done.stdout  # the new file is in the diff
    assert "+Shouting is supported." in done.stdout
    assert "usage: ensemble-tui run" in done.stdout
    assert "1 passed" in done.stdout
