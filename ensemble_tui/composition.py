"""The composition root: the one place that builds and wires the running parts.

The CLI, the screen, the demo and the tests all start a team through here:
`opencode_client` gives a connected OpenCode client (to `--url`, or to an
`opencode serve` started for the repository), `running_coordinator` the store, the
coordinator, the team tool server (the agents' port), recovery's resync and the
watchdog, all stopped again on the way out. Nothing below this module builds another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from ensemble_tui.core.store.store import Store
from ensemble_tui.core.team.budget import Budgets
from ensemble_tui.core.team.continuation import Continuation
from ensemble_tui.core.team.coordinator import Coordinator
from ensemble_tui.core.team.forking import NO_MOVE_ROUTE
from ensemble_tui.core.team.recovery import after_reconnect
from ensemble_tui.core.team.team_tools import TeamTools
from ensemble_tui.core.team.watchdog import Watchdog
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.server import OpenCodeServer, OpenCodeStartError
from ensemble_tui.options import RunOptions as RunOptions  # re-exported
from ensemble_tui.paths import repo_data_dir
from ensemble_tui.tools.server import TeamToolServer

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def opencode_client(options: RunOptions) -> AsyncIterator[OpenCodeClient]:
    """A connected client: to the server at `--url`, or to one started for the repository."""
    if options.url is not None:
        async with OpenCodeClient(options.url, password=options.password) as client:
            await client.connect()
            yield client
        return
    log_path = repo_data_dir(options.repo_root) / "opencode.log"
    server = OpenCodeServer(
        options.repo_root,
        log_path=log_path,
        binary=options.opencode_bin,
        env=options.server_env,
        snapshots=options.settings.opencode_snapshots,
    )
    async with server, OpenCodeClient(server.url, password=server.password) as client:
        await client.connect()
        async with kept_running(server):
            yield client


@contextlib.asynccontextmanager
async def kept_running(server: OpenCodeServer) -> AsyncIterator[None]:
    """Start *server* again on its port whenever it exits; the event stream reconnects and
    recovery resumes the team. If it cannot be started, the body ends at once with an
    `OpenCodeStartError` that names the server's log."""
    host = asyncio.current_task()
    assert host is not None
    failure: list[str] = []

    async def keep() -> None:
        while True:
            status = await server.exited()
            log.warning("opencode serve exited with status %s; starting it again", status)
            try:
                await server.restart()
            except OpenCodeStartError as error:
                failure.append(
                    f"OpenCode (the `opencode serve` ensemble-tui started) exited with status "
                    f"{status} and could not be started again: {error}"
                )
                host.cancel()
                return

    watcher = asyncio.create_task(keep(), name="ensemble-opencode-watcher")
    try:
        yield
    except asyncio.CancelledError:
        if failure and host.uncancel() == 0:
            raise OpenCodeStartError(failure[0]) from None
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


@contextlib.asynccontextmanager
async def running_coordinator(
    options: RunOptions, client: OpenCodeClient
) -> AsyncIterator[Coordinator]:
    """A coordinator with its tool server and event stream running, stopped afterwards."""
    store_path = options.store_path or repo_data_dir(options.repo_root) / "state.db"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    if client.can_move_sessions is False:
        log.warning(NO_MOVE_ROUTE)
    with Store(store_path) as store:
        coordinator = Coordinator(options.repo_root, store, client, options.settings)
        coordinator.on_resync(lambda: after_reconnect(coordinator))
        tools = TeamTools(coordinator)
        settings = options.settings
        async with TeamToolServer(tools, rate=settings.tool_rate, burst=settings.tool_burst) as srv:
            coordinator.tool_server_url = srv.url
            await coordinator.reviews.check_agent()
            await coordinator.start_events()
            coordinator.continuation = Continuation(coordinator)
            watchers = [
                asyncio.create_task(Watchdog(coordinator).run(), name="ensemble-watchdog"),
                asyncio.create_task(Budgets(coordinator).run(), name="ensemble-budgets"),
                asyncio.create_task(coordinator.continuation.run(), name="ensemble-until-done"),
            ]
            try:
                yield coordinator
            finally:
                for watcher in watchers:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                await coordinator.checks.close()
                await coordinator.reviews.close()
                await coordinator.starts.close()
                await coordinator.stop_events()
