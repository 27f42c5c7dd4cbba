"""The foundation demo: one scripted agent turn through the real OpenCode, printed live.

It makes a throwaway git repository and a worktree, starts the scripted model and
`opencode serve` in an isolated HOME, and has a session in the worktree write a file,
while the `/global/event` stream is printed as it arrives.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ensemble_tui.demo.environment import scripted_opencode_environment
from ensemble_tui.demo.scripted_model import MODEL_ID, PROVIDER_ID, ScriptedModel, script_block
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import (
    PartUpdated,
    SessionStatusChanged,
)
from ensemble_tui.opencode.models import ModelRef, TextPart, ToolCompleted, ToolPart
from ensemble_tui.opencode.server import OpenCodeServer, find_opencode
from ensemble_tui.opencode.stream import EventStream, StreamConnected, StreamDisconnected

SCRIPT = script_block(
    {
        "reasoning": "The user wants a greeting module; I will write it and check git.",
        "tool": "write",
        "args": {
            "filePath": "greet.py",
            "content": 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n',
        },
    },
    {"tool": "bash", "args": {"command": "git status --short", "description": "Show changes"}},
    {"text": "I wrote **greet.py** in my worktree; the main checkout is untouched."},
)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=demo", "-c", "user.email=demo@localhost", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def make_demo_repository(root: Path) -> tuple[Path, Path]:
    """Create a small repository and a worktree on branch `ensemble/demo/alice`."""
    repo = root / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo project\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "initial commit")
    worktree = root / "worktrees" / "alice"
    _git(repo, "worktree", "add", "-q", "-b", "ensemble/demo/alice", str(worktree))
    return repo, worktree


async def run_first_turn(say: Callable[[str], None] = print) -> Path:
    """Run the demo turn, reporting each step through *say*; return the worktree."""
    opencode = find_opencode()
    root = Path(tempfile.mkdtemp(prefix="ensemble-demo-"))
    repo, worktree = make_demo_repository(root)
    with ScriptedModel(log_path=root / "model.log") as model:
        env = scripted_opencode_environment(root / "home", model.base_url)
        server = OpenCodeServer(repo, log_path=root / "opencode.log", binary=opencode, env=env)
        say("starting opencode serve with the scripted model...")
        async with server, OpenCodeClient(server.url, password="") as client:
            health = await client.connect()
            say(f"OpenCode {health.version} at {server.url}")
            session = await client.create_session(str(worktree), title="alice")
            say(f"session {session.id} in {worktree}")
            stream = EventStream(client)
            last_status = ""
            async for item in stream:
                if isinstance(item, StreamConnected):
                    model_ref = ModelRef(provider_id=PROVIDER_ID, model_id=MODEL_ID)
                    await client.prompt_async(
                        session.id, str(worktree), SCRIPT, agent="build", model=model_ref
                    )
                    continue
                if isinstance(item, StreamDisconnected):
                    say(f"(event stream: {item.reason})")
                    continue
                event = item.event
                if isinstance(event, SessionStatusChanged) and event.session_id == session.id:
                    if event.status.type != last_status:
                        last_status = event.status.type
                        say(f"  status: {last_status}")
                    if last_status == "idle":
                        break
                elif isinstance(event, PartUpdated) and event.session_id == session.id:
                    part = event.part
                    if isinstance(part, ToolPart) and isinstance(part.state, ToolCompleted):
                        say(f"  tool {part.tool}: {part.state.title}")
                    elif isinstance(part, TextPart) and part.text and part.time.end is not None:
                        say(f"  says: {part.text.splitlines()[0][:100]}")
    say(f"worktree: {sorted(p.name for p in worktree.iterdir() if p.name != '.git')}")
    say(f"main checkout: {sorted(p.name for p in repo.iterdir() if p.name != '.git')}")
    say(f"Everything is in {root}. The full team demo comes in a later release.")
    return worktree


def main() -> None:
    asyncio.run(run_first_turn())
