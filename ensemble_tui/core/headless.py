"""`ensemble-tui run`: a team with no screen, its feed printed as it happens.

It starts OpenCode (or attaches to one), the team tool server and a lead, sends the
prompt, and returns once the lead and every teammate are idle with nothing waiting
for delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ensemble_tui.core.coordinator import Coordinator, CoordinatorSettings
from ensemble_tui.core.feed import FeedEvent
from ensemble_tui.core.models import TeamStatus
from ensemble_tui.core.paths import repo_data_dir
from ensemble_tui.core.recovery import resume_team
from ensemble_tui.core.store import Store
from ensemble_tui.core.team_tools import TeamTools
from ensemble_tui.core.watchdog import Watchdog
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.server import OpenCodeServer
from ensemble_tui.tools.server import TeamToolServer


class RunFailed(Exception):
    """The headless run could not finish; the message says why."""


@dataclass
class RunOptions:
    """Everything `run` needs; the CLI fills it from flags and settings."""

    repo_root: Path
    prompt: str
    url: str | None = None
    password: str | None = None
    json_output: bool = False
    timeout: float = 1800.0
    opencode_bin: str | None = None
    server_env: Mapping[str, str] | None = None
    store_path: Path | None = None
    resume: bool = False
    team_name: str | None = None
    session_id: str | None = None
    settings: CoordinatorSettings = field(default_factory=CoordinatorSettings)


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
        options.repo_root, log_path=log_path, binary=options.opencode_bin, env=options.server_env
    )
    async with server, OpenCodeClient(server.url, password=server.password) as client:
        await client.connect()
        yield client


@contextlib.asynccontextmanager
async def running_coordinator(
    options: RunOptions, client: OpenCodeClient
) -> AsyncIterator[Coordinator]:
    """A coordinator with its tool server and event stream running, stopped afterwards."""
    store_path = options.store_path or repo_data_dir(options.repo_root) / "state.db"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with Store(store_path) as store:
        coordinator = Coordinator(options.repo_root, store, client, options.settings)
        tools = TeamTools(coordinator)
        settings = options.settings
        async with TeamToolServer(tools, rate=settings.tool_rate, burst=settings.tool_burst) as srv:
            coordinator.tool_server_url = srv.url
            await coordinator.start_events()
            watchdog = asyncio.create_task(Watchdog(coordinator).run(), name="ensemble-watchdog")
            try:
                yield coordinator
            finally:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
                await coordinator.stop_events()


def feed_printer(out: TextIO, *, as_json: bool) -> Callable[[FeedEvent], None]:
    """A feed subscriber that writes each event as a line (or a JSON object) to *out*."""

    def show(event: FeedEvent) -> None:
        out.write((event.to_json() if as_json else event.to_line()) + "\n")
        out.flush()

    return show


async def drive_team(coordinator: Coordinator, prompt: str, limit: float) -> None:
    """Give a new lead *prompt* and wait until the whole team is idle (RunFailed if not)."""
    lead = await coordinator.start_lead()
    coordinator.feed.publish("prompt.sent", member="lead", text=prompt)
    await coordinator.prompt(lead, prompt)
    try:
        await coordinator.wait_until_settled(limit=limit)
    except TimeoutError:
        raise RunFailed(
            f"the team did not finish within {limit:.0f}s "
            "(raise --timeout, or look at the feed above for who is stuck)"
        ) from None
    coordinator.feed.publish("run.finished", text="the lead and every teammate are idle")


async def resume_and_wait(coordinator: Coordinator, limit: float) -> None:
    """Pick up the repository's unfinished team and wait until it is idle (no new prompt)."""
    active = coordinator.store.list_teams(TeamStatus.ACTIVE)
    if not active:
        raise RunFailed("there is no unfinished team in this repository to resume")
    team = max(active, key=lambda found: found.created)
    await resume_team(coordinator, team)
    try:
        await coordinator.wait_until_settled(limit=limit)
    except TimeoutError:
        raise RunFailed(f"the resumed team did not finish within {limit:.0f}s") from None
    coordinator.feed.publish("run.finished", text="the lead and every teammate are idle")


async def run_headless(options: RunOptions, out: TextIO = sys.stdout) -> None:
    """Run the team to quiescence, printing its feed; raises RunFailed on timeout."""
    async with opencode_client(options) as client, running_coordinator(options, client) as coord:
        coord.feed.subscribe(feed_printer(out, as_json=options.json_output), replay=True)
        if options.resume:
            await resume_and_wait(coord, options.timeout)
        else:
            await drive_team(coord, options.prompt, options.timeout)
