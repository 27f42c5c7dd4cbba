"""The real `ensemble-tui` command in a real terminal: tmux at 100x30.

It starts `ensemble-tui PATH` (which starts its own `opencode serve` with the scripted
model), waits for the panes, pastes a lead's script into the prompt box, presses `esc`,
`j` and `enter`, and reads the screen with `tmux capture-pane`. A terminal gives no
events to await, so the test polls the screen; the short gap after `esc` is there
because a terminal reads `esc` followed at once by a key as alt+key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ensemble_tui.demo.scenarios import tool
from ensemble_tui.demo.script import script_block

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

KEY_GAP = 0.4


class Terminal:
    """One tmux session on a private server."""

    def __init__(self, socket: str, name: str) -> None:
        self.socket = socket
        self.name = name

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, seen: Callable[[str], bool], what: str, limit: float = 90) -> str:
        deadline = time.monotonic() + limit
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if "EXITED" in screen:
                raise AssertionError(f"ensemble-tui ended before {what}; the screen was:\n{screen}")
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.name, key)
            if key == "Escape":
                time.sleep(KEY_GAP)

    def paste(self, text: str, scratch: Path) -> None:
        scratch.write_text(text)
        self.tmux("load-buffer", str(scratch))
        self.tmux("paste-buffer", "-p", "-t", self.name)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    found = Terminal(f"ensemble-smoke-{os.getpid()}", "smoke")
    try:
        yield found
    finally:
        subprocess.run(["tmux", "-L", found.socket, "kill-server"], capture_output=True)


def test_the_command_shows_the_team_and_switches_to_a_teammate(
    terminal: Terminal,
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env: dict[str, str],
) -> None:
    command = Path(sys.executable).parent / "ensemble-tui"
    env = {
        **opencode_env,
        "ENSEMBLE_OPENCODE_BIN": opencode_bin,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
    }
    launcher = tmp_path / "launch.sh"
    exports = "".join(f"export {key}={_quote(value)}\n" for key, value in env.items())
    launcher.write_text(f"{exports}{command} {git_repo}\necho EXITED $?\nsleep 600\n")
    terminal.tmux(
        "new-session", "-d", "-s", terminal.name, "-x", "100", "-y", "30", f"sh {launcher}"
    )
    screen = terminal.wait_for(
        lambda s: "connected" in s and "lead" in s, "the lead and a connection"
    )
    assert "Tasks" in screen, "the task board"
    assert "Messages" in screen, "the messages"

    lead = script_block(
        tool("ensemble_team_create", name="smoke"),
        tool(
            "ensemble_team_spawn", name="alice", prompt="Say hi.\n" + script_block({"text": "hi"})
        ),
        {"text": "alice is at work."},
    )
    terminal.paste(lead, tmp_path / "paste.txt")
    terminal.keys("Enter")
    terminal.wait_for(lambda s: "ensemble/smoke/alice" in s, "alice in the team list")

    terminal.keys("Escape", "j", "Enter")
    screen = terminal.wait_for(lambda s: "╭─ alice" in s, "alice's session in the pane")
    lines = screen.splitlines()
    assert len(lines) == 30
    assert "Team" in lines[0]
    assert "▶ alice" in screen, "the list marks the shown member"
    assert "Message alice" in screen, "the prompt talks to alice"
    # Toasts sit at the top right for a few seconds, over the task board's title: its
    # footer says it is still there, below them.
    assert "enter details" in screen, "the task board"
    assert "Messages" in screen

    terminal.keys("C-q")
    terminal.wait_for(lambda s: "EXITED 0" in s, "a clean exit", limit=60)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"
