"""`ensemble-tui run --json` as a user runs it: a subprocess that starts its own OpenCode."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from ensemble_tui.demo.scenarios import two_teammates
from tests.conftest import git, heavy_modules_after, isolated


def test_run_json_prints_the_story_in_order_and_exits_0(
    git_repo: Path, opencode_bin: str, opencode_env: dict[str, str]
) -> None:
    env = dict(opencode_env, ENSEMBLE_OPENCODE_BIN=opencode_bin)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ensemble_tui",
            "run",
            "--json",
            "--timeout",
            "240",
            two_teammates("cli"),
        ],
        cwd=git_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [event["type"] for event in events]
    assert all(isinstance(event["time"], str) for event in events)

    order = [
        "server.connected",
        "lead.started",
        "team.created",
        "task.added",
        "member.spawned",
        "task.claimed",
        "task.completed",
        "message.sent",
        "message.delivered",
        "run.finished",
    ]
    positions = [kinds.index(kind) for kind in order]
    assert positions == sorted(positions), kinds
    # The team's report comes last: the team is open, its two branches kept.
    assert kinds[-2:] == ["run.finished", "team.report"]
    report = events[-1]
    assert report["reason"].startswith("the run ended")
    assert sorted(m["name"] for m in report["members"]) == ["alice", "bob", "lead"]
    assert report["tokens"] > 0
    assert "model.unavailable" not in kinds
    assert kinds.count("member.spawned") == 2
    assert kinds.count("task.completed") == 3
    spawned = [event for event in events if event["type"] == "member.spawned"]
    assert {event["member"] for event in spawned} == {"alice", "bob"}
    sent = [event for event in events if event["type"] == "message.sent"]
    assert {(event["from"], event["to"]) for event in sent} >= {("alice", "bob"), ("bob", "lead")}

    # State and worktrees live in the XDG data folder, not in the repository.
    data = Path(env["XDG_DATA_HOME"]) / "ensemble-tui" / "repos"
    assert len(list(data.glob("*/state.db"))) == 1
    assert len(list(data.glob("*/worktrees/cli/*"))) == 2
    assert git(git_repo, "status", "--porcelain") == ""


def test_run_refuses_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "run", "--repo", str(tmp_path), "do it"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "is not inside a git repository" in done.stderr


def test_run_refuses_an_empty_prompt_and_a_bad_timeout(git_repo: Path) -> None:
    empty = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "run", "  "],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert empty.returncode == 2
    assert "PROMPT is empty" in empty.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "ensemble_tui", "run", "--timeout", "-3", "go"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "--timeout must be a positive number" in bad.stderr


def test_a_refused_run_imports_neither_the_coordinator_nor_the_opencode_client(
    git_repo: Path,
) -> None:
    """A refused `run` is said at once: the team's machinery (over a second of imports)
    loads only once every check has passed."""
    loaded, done = heavy_modules_after(["run", "--timeout", "-3", "go"], git_repo)
    assert "--timeout must be a positive number" in done.stderr
    assert loaded == []


def test_a_run_loads_the_mcp_server_parts_alone_and_no_command_line_of_httpx(
    git_repo: Path, tmp_path: Path
) -> None:
    """`run` imports the MCP SDK's server parts but not what the SDK's package roots
    import (its client side, FastMCP, pydantic-settings), nor httpx's own command line
    (Rich, Pygments): about 0.2 s of CPU less at every start. The run is real up to
    OpenCode, which is not there: its address refuses the first request."""
    modules = (
        "ensemble_tui.tools.server",
        "mcp.types",
        "mcp.client.session",
        "mcp.server.fastmcp",
        "pydantic_settings",
        "rich",
        "pygments",
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # Held and never listening: connections are refused.
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        loaded, done = heavy_modules_after(
            ["run", "--url", url, "go"], git_repo, isolated(tmp_path), modules
        )
    assert "cannot reach OpenCode" in done.stderr
    assert loaded == ["ensemble_tui.tools.server", "mcp.types"]


GC_PROBE = """
import asyncio, contextlib, gc, sys
from ensemble_tui import cli

real_run = asyncio.run

def run(main):
    print("COLLECTOR", gc.isenabled(), gc.get_freeze_count(), flush=True)
    return real_run(main)

asyncio.run = run
with contextlib.suppress(SystemExit):
    cli.main(sys.argv[1:])
"""


def test_a_run_starts_its_team_with_the_collector_on_and_start_up_frozen(
    git_repo: Path, tmp_path: Path
) -> None:
    """The collector waits while `run`'s modules load (its passes over them were a fifth
    of the start's CPU), then leaves them out of its passes and is on again for the run."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # Held and never listening: connections are refused.
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        done = subprocess.run(
            [sys.executable, "-c", GC_PROBE, "run", "--url", url, "go"],
            cwd=git_repo,
            env=isolated(tmp_path),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    _, enabled, frozen = done.stdout.split()
    assert enabled == "True"
    # Start-up's objects: the modules of the team, the tool server and the client.
    assert int(frozen) > 50_000
    assert "cannot reach OpenCode" in done.stderr
