"""Several `opencode serve` processes behind one client: each directory on one of them.

OpenCode runs every instance (one per directory: the lead's repository, each teammate's
worktree) on the one JavaScript thread of its process, and starting an instance for a new
worktree costs it about two seconds of CPU: one server is one core. A pool spreads the
directories over several servers, each with a database of its own, so a session lives on
exactly one of them and every call about it must go there. Every call of the client names
a directory (`?directory=`), so the pool routes by directory:
- the home directory (the repository, the lead's) is always on server 0;
- a directory seen for the first time goes to the server with the fewest directories
  whose folders still exist (a finished teammate's worktree is gone), and the choice is
  written to the route book (the store) before any call, so a resumed team finds each
  session where it was made;
- a fork is made on its source's server (the conversation is there), so the directory it
  is then moved to goes to that server too, whatever it was before;
- a session moved into the home directory from another server (a merged teammate's, whose
  worktree is gone) stays on that server: calls about it (`/session/<id>...`) go there,
  by a route of its own, also written to the book.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.models import Health, Session

log = logging.getLogger(__name__)

_SESSION_PATH = re.compile(r"/session/([^/]+)")


class RouteBook(Protocol):
    """Where the pool writes which server serves each directory (the store does)."""

    def opencode_routes(self) -> dict[str, int]: ...

    def set_opencode_route(self, directory: str, server: int) -> None: ...

    def drop_opencode_routes(self, directories: Sequence[str]) -> None: ...

    def opencode_session_routes(self) -> dict[str, int]: ...

    def set_opencode_session_route(self, session_id: str, server: int) -> None: ...


class MemoryRoutes:
    """A route book that forgets (until the store's is given)."""

    def __init__(self) -> None:
        self.routes: dict[str, int] = {}
        self.session_routes: dict[str, int] = {}

    def opencode_routes(self) -> dict[str, int]:
        return dict(self.routes)

    def set_opencode_route(self, directory: str, server: int) -> None:
        self.routes[directory] = server

    def drop_opencode_routes(self, directories: Sequence[str]) -> None:
        for directory in directories:
            self.routes.pop(directory, None)

    def opencode_session_routes(self) -> dict[str, int]:
        return dict(self.session_routes)

    def set_opencode_session_route(self, session_id: str, server: int) -> None:
        self.session_routes[session_id] = server


class ServerPool(OpenCodeClient):
    """The `OpenCodeClient` API over several servers (one client each), routed by directory."""

    def __init__(self, clients: Sequence[OpenCodeClient], home: str) -> None:
        if not clients:
            raise ValueError("a pool needs at least one server")
        first = clients[0]
        # Not OpenCodeClient.__init__: the pool has no connection of its own; what it is
        # asked without a directory goes to server 0.
        self.clients = list(clients)
        self.home = home
        self.base_url = first.base_url
        self.password = first.password
        self.auth = first.auth
        self.http = first.http
        self.version: str | None = None
        self.can_move_sessions: bool | None = None
        self._reading = {}  # identical reads in flight share one request, as in the client
        self._book: RouteBook = MemoryRoutes()
        self._routes: dict[str, int] = {}
        self._sessions: dict[str, int] = {}
        """The server of a session whose folder does not say it: a fork made in this run (on
        its source's server), a session moved into the home folder from another server (kept
        in the book). A move never changes a session's server."""

    def use_routes(self, book: RouteBook) -> None:
        """Route by *book* from now on (the routes it has, and each new one written to it)."""
        self._book = book
        self._routes = {**book.opencode_routes(), **self._routes}
        for directory, server in self._routes.items():
            book.set_opencode_route(directory, server)
        self._sessions = {**book.opencode_session_routes(), **self._sessions}
        for session_id, server in self._sessions.items():
            book.set_opencode_session_route(session_id, server)

    # Routing

    def server_of(self, directory: str) -> int:
        if directory == self.home:
            return 0
        server = self._routes.get(directory)
        if server is None:
            server = self._assign(directory)
        elif server >= len(self.clients):
            # Written by a run with more servers: that server's sessions are in its own
            # database, which no server of this run has open.
            log.warning(
                "%s was on OpenCode server %d, and only %d run now (opencode_servers)",
                directory,
                server,
                len(self.clients),
            )
            return server % len(self.clients)
        return server

    def server_for(self, directory: str) -> OpenCodeClient:
        return self.clients[self.server_of(directory)]

    def server_for_session(self, session_id: str, directory: str) -> OpenCodeClient:
        server = self._sessions.get(session_id)
        if server is None or server >= len(self.clients):
            return self.server_for(directory)
        return self.clients[server]

    def _assign(self, directory: str) -> int:
        """Put a new directory on the server with the fewest live directories."""
        gone = [known for known in self._routes if not os.path.isdir(known)]
        if gone:
            self._book.drop_opencode_routes(gone)
            for known in gone:
                del self._routes[known]
        load = [0] * len(self.clients)
        load[0] += 1  # the home directory, the lead's (its turns are the busiest)
        for server in self._routes.values():
            if server < len(load):
                load[server] += 1
        server = min(range(len(load)), key=lambda index: (load[index], index))
        self._route(directory, server)
        return server

    def _route(self, directory: str, server: int) -> None:
        self._book.set_opencode_route(directory, server)
        self._routes[directory] = server

    @property
    def servers(self) -> list[OpenCodeClient]:
        return list(self.clients)

    # The calls

    async def request(
        self,
        method: str,
        path: str,
        *,
        directory: str | None = None,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        time_limit: float | None = None,
    ) -> httpx.Response:
        session = _SESSION_PATH.match(path)
        if directory is None:
            target = self.clients[0]
        elif session is not None:
            target = self.server_for_session(session.group(1), directory)
        else:
            target = self.server_for(directory)
        return await target.request(
            method, path, directory=directory, json=json, params=params, time_limit=time_limit
        )

    async def connect(self) -> Health:
        """Connect to every server (each must be a supported version)."""
        answers = await asyncio.gather(*(client.connect() for client in self.clients))
        self.version = self.clients[0].version
        self.can_move_sessions = all(client.can_move_sessions for client in self.clients)
        return answers[0]

    async def has_move_session(self) -> bool:
        found = await asyncio.gather(*(client.has_move_session() for client in self.clients))
        return all(found)

    async def fork_session(
        self, session_id: str, directory: str, *, message_id: str | None = None
    ) -> Session:
        fork = await super().fork_session(session_id, directory, message_id=message_id)
        self._sessions[fork.id] = self.server_of(directory)
        return fork

    async def move_session(
        self, session_id: str, destination: str, *, origin: str | None = None
    ) -> None:
        """Move a session within its server (a fork's, else the one of *origin*, the folder
        it is in), which then serves *destination*."""
        server = self._sessions.get(session_id)
        if server is None:
            server = self.server_of(origin if origin is not None else destination)
        await self.clients[server].move_session(session_id, destination)
        if destination != self.home:
            self._route(destination, server)
        elif server != 0:  # the home stays on server 0: the session keeps a route
            self._book.set_opencode_session_route(session_id, server)
            self._sessions[session_id] = server

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
