"""The team tools served over MCP (streamable HTTP) on 127.0.0.1, inside the app's loop.

One `TeamToolServer` serves every member. Each member's OpenCode MCP config carries
its own bearer token; the HTTP layer answers 401 to a request without a known token,
and each tool call is run for the `Caller` that token belongs to. The transport is
stateless with JSON responses: every request stands alone, so a coordinator restart
or a revoked token takes effect at the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from ensemble_tui import __version__
from ensemble_tui.core.team.identity import Caller
from ensemble_tui.tools.api import LEAD_ONLY_TOOLS, REVIEWER_TOOLS, TeamOperations
from ensemble_tui.tools.arguments import input_schema
from ensemble_tui.tools.definitions import TOOLS
from ensemble_tui.tools.dispatch import ToolDispatcher, ToolOutcome
from ensemble_tui.tools.ratelimit import Clock, RateLimiter
from ensemble_tui.tools.serving import Server, StreamableHTTPSessionManager, types

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SERVER_NAME = "ensemble"
INSTRUCTIONS = (
    "Team tools of ensemble-tui: a lead and teammates, each in its own session and git "
    "worktree, share a task board and send each other messages. The lead plans "
    "(team_create, team_tasks_add, team_spawn) and merges (team_merge); everyone claims "
    "and completes tasks and reports with team_message. Address the lead as 'lead'."
)
# The ASGI scope key under which the HTTP layer hands the resolved caller to the tool call.
_CALLER_KEY = "ensemble.caller"


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON-RPC shaped HTTP error, so MCP clients show the message."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def _log_unexpected_end(task: asyncio.Task[None]) -> None:
    """Say so in the log when the server dies on its own: the agents lose their tools."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("the team tool server stopped", exc_info=task.exception())


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn as a guest of the app's loop: no signal handlers, and a startup event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host application (Textual, or the headless runner) owns SIGINT and SIGTERM.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class TeamToolServer:
    """The MCP server of the team tools; `await start()` then hand out `url` and tokens."""

    def __init__(
        self,
        operations: TeamOperations,
        *,
        rate: float,
        burst: int,
        clock: Clock = time.monotonic,
        shutdown_grace: int = 3,
    ) -> None:
        self.operations = operations
        self.dispatcher = ToolDispatcher(operations, RateLimiter(rate, burst, clock=clock))
        self.shutdown_grace = shutdown_grace
        self.tools = [
            types.Tool(name=name, description=model.description, inputSchema=input_schema(model))
            for name, model in TOOLS.items()
        ]
        self.mcp: Server[Any, Request] = Server(
            SERVER_NAME, version=__version__, instructions=INSTRUCTIONS
        )
        # Registered directly: the SDK's decorators are untyped and would revalidate input.
        self.mcp.request_handlers[types.ListToolsRequest] = self._list_tools
        self.mcp.request_handlers[types.CallToolRequest] = self._call_tool
        self._port: int | None = None
        self._uvicorn: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._manager: StreamableHTTPSessionManager | None = None

    @property
    def url(self) -> str:
        """The MCP endpoint, e.g. `http://127.0.0.1:43127/mcp` (only once started)."""
        if self._port is None:
            raise RuntimeError("the team tool server is not started")
        return f"http://127.0.0.1:{self._port}{MCP_PATH}"

    async def __aenter__(self) -> TeamToolServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and serve until `stop()`; returns once serving."""
        if self._task is not None:
            raise RuntimeError("the team tool server is already started")
        # Bound and listening before uvicorn starts: the port is ours, with no race.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.setblocking(False)
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=self.shutdown_grace,
        )
        server = _EmbeddedUvicorn(config)
        manager = StreamableHTTPSessionManager(self.mcp, json_response=True, stateless=True)
        self._uvicorn, self._manager = server, manager
        task = asyncio.create_task(self._serve(listener, manager, server), name="ensemble-mcp")
        task.add_done_callback(_log_unexpected_end)
        self._task = task
        ready = asyncio.create_task(server.ready.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            if not server.ready.is_set():
                # Cancelled, or uvicorn failed: leave nothing running behind.
                task.cancel()
                listener.close()
                self._task = self._uvicorn = self._manager = None
        if self._task is None:
            error = task.exception() if task.done() and not task.cancelled() else None
            raise RuntimeError(f"the team tool server did not start: {error}") from error
        self._port = listener.getsockname()[1]
        logger.info("team tools served at %s", self.url)

    @staticmethod
    async def _serve(
        listener: socket.socket, manager: StreamableHTTPSessionManager, server: uvicorn.Server
    ) -> None:
        """Run the MCP session manager and uvicorn in one task, so both end together."""
        try:
            async with manager.run():
                await server.serve(sockets=[listener])
        finally:
            listener.close()

    async def stop(self) -> None:
        """Stop serving: finish the calls in flight (for a short grace time), then close."""
        task, server = self._task, self._uvicorn
        if task is None or server is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait({task})
        finally:
            self._task = self._uvicorn = self._manager = None
            self._port = None

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The HTTP layer: one path, POST only, and a known bearer token on every request."""
        if scope["type"] != "http":
            return
        assert self._manager is not None
        if scope["path"].rstrip("/") != MCP_PATH:
            await _error(404, f"not found: the MCP endpoint is {MCP_PATH}")(scope, receive, send)
            return
        # Authentication comes first, so a client with a bad token is told so whatever it tries.
        caller = self._identify(scope)
        if caller is None:
            response = _error(
                401,
                "unauthorized: a valid ensemble-tui member token is required",
                headers={"WWW-Authenticate": 'Bearer realm="ensemble-tui"'},
            )
            await response(scope, receive, send)
            return
        if scope["method"] != "POST":
            # Stateless: no server-initiated stream (GET) and no session to end (DELETE).
            response = _error(405, "method not allowed", headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        scope[_CALLER_KEY] = caller
        await self._manager.handle_request(scope, receive, send)

    def _identify(self, scope: Scope) -> Caller | None:
        """The caller the request's bearer token belongs to (None when unknown or failing)."""
        token = bearer_token(scope)
        if token is None:
            return None
        try:
            return self.operations.identify(token)
        except Exception:
            logger.exception("identify() failed; the request is refused")
            return None

    def _current_caller(self) -> Caller | None:
        """The caller resolved by the HTTP layer for the request being handled."""
        request = self.mcp.request_context.request
        caller = request.scope.get(_CALLER_KEY) if isinstance(request, Request) else None
        return caller if isinstance(caller, Caller) else None

    def tools_for(self, caller: Caller | None) -> list[types.Tool]:
        """The tools a caller may call, the only ones listed to it: OpenCode sends every
        listed tool's schema with each of the session's steps, to the model and through
        its own CPU (the lead's tools in a teammate's list cost OpenCode a tenth of a
        step's CPU and the model some 1,500 tokens a step). A call to another is still
        refused by the dispatcher."""
        if caller is None:
            return self.tools
        if caller.reviews is not None:
            return [tool for tool in self.tools if tool.name in REVIEWER_TOOLS]
        hidden = REVIEWER_TOOLS if caller.is_lead else REVIEWER_TOOLS | LEAD_ONLY_TOOLS
        return [tool for tool in self.tools if tool.name not in hidden]

    async def _list_tools(self, request: types.ListToolsRequest) -> types.ServerResult:
        return types.ServerResult(
            types.ListToolsResult(tools=self.tools_for(self._current_caller()))
        )

    async def _call_tool(self, request: types.CallToolRequest) -> types.ServerResult:
        params = request.params
        outcome: ToolOutcome = await self.dispatcher.call(
            self._current_caller(), params.name, dict(params.arguments or {})
        )
        content = [types.TextContent(type="text", text=outcome.text)]
        return types.ServerResult(types.CallToolResult(content=content, isError=outcome.is_error))
