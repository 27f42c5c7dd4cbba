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
from ensemble_tui.opencode.pool import ServerPool
from ensemble_tui.opencode.server import OpenCodeServer, OpenCodeStartError, new_password
from ensemble_tui.options import RunOptions as RunOptions  # re-exported
from ensemble_tui.paths import repo_data_dir
from ensemble_tui.tools.server import TeamToolServer

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def opencode_client(options: RunOptions) -> AsyncIterator[OpenCodeClient]:
    """A connected client: to the server at `--url`, or to the one (`opencode_servers`: the
    ones) started for the repository."""
    if options.url is not None:
        if options.settings.opencode_servers > 1:
            log.warning("opencode_servers applies to the OpenCode ensemble-tui starts, not --url")
        async with OpenCodeClient(options.url, password=options.password) as client:
            await client.connect()
            yield client
        return
    servers = opencode_servers(options)
    async with contextlib.AsyncExitStack() as stack:
        try:
            await start_all(servers)
        finally:
            # Each one stopped on the way out, also those that started beside a failure.
            for server in servers:
                stack.push_async_callback(server.stop)
        clients = [
            await stack.enter_async_context(OpenCodeClient(server.url, password=server.password))
            for server in servers
        ]
        client = clients[0] if len(clients) == 1 else ServerPool(clients, str(options.repo_root))
        await client.connect()
        for server in servers:
            await stack.enter_async_context(kept_running(server))
        yield client


async def start_all(servers: list[OpenCodeServer]) -> None:
    """Start the servers side by side; the first failure stops the others' starts."""
    try:
        async with asyncio.TaskGroup() as group:
            for server in servers:
                group.create_task(server.start())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def opencode_servers(options: RunOptions) -> list[OpenCodeServer]:
    """The `opencode serve` processes to start for the repository, one password for all.

    The first keeps its sessions in OpenCode's usual database (one server is what it always
    was); each other one in a database of its own in ensemble-tui's folder for the
    repository, so that no two processes write one SQLite file.
    """
    folder = repo_data_dir(options.repo_root)
    password = new_password()
    return [
        OpenCodeServer(
            options.repo_root,
            log_path=folder / ("opencode.log" if number == 0 else f"opencode-{number}.log"),
            binary=options.opencode_bin,
            env=options.server_env,
            snapshots=options.settings.opencode_snapshots,
            password=password,
            database=None if number == 0 else folder / f"opencode-{number}.db",
        )
        for number in range(options.settings.opencode_servers)
    ]


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
        if isinstance(client, ServerPool):
            client.use_routes(store)
        coordinator = Coordinator(options.repo_root, store, client, options.settings)
        coordinator.on_resync(lambda server: after_reconnect(coordinator, server))
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
