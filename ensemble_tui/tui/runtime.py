"""Running the team inside the app's own loop, and handing the terminal to `opencode attach`.

`run_team` enters the same context managers as the headless `run` (OpenCode, the tool
server, the coordinator's event stream) and holds them open until told to stop, so
they are entered and left in one task, as their task groups require.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from ensemble_tui.options import RunOptions

if TYPE_CHECKING:
    from ensemble_tui.core.team.coordinator import Coordinator

# What the team needs and the first frame does not: the composition root (and with it the
# whole core, OpenCode's client and models, git, the MCP server), the bridge and the
# human's port. Loaded in a thread once the screen is up, so keys are answered meanwhile.
TEAM_MODULES = (
    "ensemble_tui.composition",
    "ensemble_tui.core.team.startup",
    "ensemble_tui.core.team.control",
    "ensemble_tui.tui.bridge",
)


def load_team_modules() -> None:
    """Import `TEAM_MODULES` (those already loaded cost nothing)."""
    for name in TEAM_MODULES:
        importlib.import_module(name)


async def run_team(
    options: RunOptions, started: Callable[[Coordinator], None], stop: asyncio.Event
) -> None:
    """Start OpenCode (or attach) and the coordinator; pick up the unfinished team (or the
    one asked for) or start a lead, send the options' prompt if any, and keep it all
    running until *stop*."""
    if options.settle is not None:
        # The settings' check (pydantic and the model) and finding OpenCode, left by the
        # command line until the screen was up; a refusal closes the screen with it.
        settle, options.settle = options.settle, None
        await asyncio.to_thread(settle, options)
    from ensemble_tui.opencode.server import opencode_version

    if options.opencode_bin and not options.url:
        # Here rather than before the screen opens: the check takes a second or more (and
        # a screen closed meanwhile stops it rather than waiting for it). Before the team's
        # imports: an OpenCode refused (too old, broken) closes the screen without them.
        await opencode_version(options.opencode_bin)
    # Imported here, once the screen is up, and off the event loop: the composition root
    # brings the MCP server and the whole core, a second of CPU or more of imports.
    await asyncio.to_thread(load_team_modules)
    from ensemble_tui.composition import opencode_client, running_coordinator
    from ensemble_tui.core.team.events import TeamOpened
    from ensemble_tui.core.team.startup import start_or_resume

    async with opencode_client(options) as client, running_coordinator(options, client) as coord:
        said = await start_or_resume(
            coord, team_name=options.team_name, session_id=options.session_id
        )
        coord.record(TeamOpened(text=said))
        if options.prompt and coord.lead is not None:
            await coord.prompt(coord.lead, options.prompt)
        started(coord)
        # After the screen has the team: the check reads the server (a moment on a fresh
        # one) and anything it finds reaches the screen as `model.unavailable`.
        await coord.check_model()
        await stop.wait()


@dataclass(frozen=True)
class AttachCommand:
    """`opencode attach URL --session ID --dir DIR`, with the password in the environment."""

    argv: tuple[str, ...]
    env: dict[str, str]


def attach_command(
    url: str,
    session_id: str,
    directory: str,
    *,
    password: str | None = None,
    binary: str | None = None,
) -> AttachCommand:
    """The command that opens OpenCode's own TUI on one session of the running server.

    The password goes in `OPENCODE_SERVER_PASSWORD` (which `attach` reads) rather than in
    `-p`, so it does not show in the process list.
    """
    from ensemble_tui.opencode.server import find_opencode  # after the first frame

    argv = (find_opencode(binary), "attach", url, "--session", session_id, "--dir", directory)
    env = dict(os.environ)
    if password:
        env["OPENCODE_SERVER_PASSWORD"] = password
    return AttachCommand(argv, env)


HANDOVER_NOTE = "opening OpenCode… (ctrl+c or its own quit key comes back here)"


async def run_attached(command: AttachCommand, terminal: TextIO | None = None) -> int:
    """Run `opencode attach` on the terminal and return its exit status; the terminal is
    cleared and says what comes first, since OpenCode takes seconds to draw."""
    out = terminal or sys.__stdout__
    if out is not None:
        out.write(f"\x1b[2J\x1b[H{HANDOVER_NOTE}\n")
        out.flush()
    process = await asyncio.create_subprocess_exec(*command.argv, env=command.env)
    return await process.wait()
