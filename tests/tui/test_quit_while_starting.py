"""Closing the screen while OpenCode's version is still being checked (a second or more on
a fresh start) stops the check's child at once: the exit does not wait for it."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ensemble_tui.options import RunOptions
from ensemble_tui.tui import app as app_module
from ensemble_tui.tui.app import make_app
from tests.tui.conftest import SIZE


async def test_quitting_during_the_version_check_stops_it(
    tmp_path: Path, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCode cannot be made to hang on purpose: a script that never answers `--version`
    stands in for it (it says its pid through a FIFO once it runs). The quit's grace for a
    running team to stop is taken away: a start is not waited for at all (before the fix
    the quit waited out the grace, 15 s, and without one it never ended)."""
    monkeypatch.setattr(app_module, "STOP_GRACE", None)
    started = tmp_path / "started"
    os.mkfifo(started)
    binary = tmp_path / "opencode"
    binary.write_text(f"#!/bin/sh\necho $$ > {started}; exec sleep 600\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    options = RunOptions(
        repo_root=git_repo,
        prompt="",
        opencode_bin=str(binary),
        store_path=tmp_path / "state.db",
    )
    app = make_app(options)
    alive_at_exit: list[bool] = []
    exit_app = app.exit

    def exit(*args: Any, **kwargs: Any) -> None:
        alive_at_exit.append(alive(pid))
        exit_app(*args, **kwargs)

    app.exit = exit  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        pid = int(await asyncio.to_thread(started.read_text))
        await pilot.press("ctrl+q")
    assert alive_at_exit == [False], "the check's child is stopped before the exit"
    assert not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
