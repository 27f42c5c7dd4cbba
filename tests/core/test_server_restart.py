"""The OpenCode server is killed and restarted on the same port while a team works."""

from __future__ import annotations

from pathlib import Path

from ensemble_tui.composition import opencode_client, running_coordinator
from ensemble_tui.core.models import TaskStatus
from ensemble_tui.core.team.settings import CoordinatorSettings
from ensemble_tui.demo.scenarios import slow_alice_team
from ensemble_tui.opencode.server import OpenCodeServer, new_password
from ensemble_tui.options import RunOptions
from tests.conftest import git
from tests.core.conftest import start_and_wait_for_alice

LEAD = slow_alice_team("restart")


async def test_the_team_resumes_after_the_server_restarts(
    tmp_path: Path,
    git_repo: Path,
    opencode_bin: str,
    opencode_env_without_snapshots: dict[str, str],
) -> None:
    password = new_password()

    def server(port: int | None) -> OpenCodeServer:
        log = tmp_path / "opencode.log"
        return OpenCodeServer(
            git_repo,
            log_path=log,
            binary=opencode_bin,
            env=opencode_env_without_snapshots,
            port=port,
            password=password,
        )

    first = await server(None).start()
    options = RunOptions(
        repo_root=git_repo,
        prompt=LEAD,
        url=first.url,
        password=password,
        store_path=tmp_path / "state.db",
        settings=CoordinatorSettings(worktree_root=tmp_path / "worktrees"),
    )
    second: OpenCodeServer | None = None
    try:
        async with (
            opencode_client(options) as client,
            running_coordinator(options, client) as coord,
        ):
            await start_and_wait_for_alice(coord, LEAD)
            first.kill_now()
            await first.stop()
            second = await server(first.port).start()
            await coord.wait_until_settled(limit=180)

            assert coord.team is not None
            tasks = coord.board.list_tasks(coord.team.id)
            kinds = [event.type for event in coord.feed.recent]
    finally:
        if second is not None:
            await second.stop()
        await first.stop()

    assert "server.restarted" in kinds
    assert kinds.count("server.connected") == 2
    assert {task.status for task in tasks} == {TaskStatus.COMPLETED}
    assert "alice.txt" in git(git_repo, "ls-tree", "-r", "--name-only", "ensemble/restart/alice")
    assert "summary.txt" in git(git_repo, "ls-tree", "-r", "--name-only", "ensemble/restart/bob")
