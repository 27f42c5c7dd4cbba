"""The OpenCode HTTP client: one `httpx.AsyncClient`, typed results, one error type.

Every call sends the session's directory (`?directory=`), because OpenCode keeps
statuses, permissions and questions per directory and answers `{}`, `[]` or 404
without it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import httpx
from pydantic import TypeAdapter, ValidationError

from ensemble_tui.errors import EnsembleError
from ensemble_tui.opencode.models import (
    Agent,
    FileDiff,
    Health,
    McpStatus,
    MessageWithParts,
    ModelRef,
    PermissionReply,
    PermissionRequest,
    PermissionRule,
    ProviderCatalogue,
    Providers,
    QuestionRequest,
    ServerConfig,
    Session,
    SessionStatus,
    Todo,
)
from ensemble_tui.opencode.version import check_supported_version

T = TypeVar("T")

DEFAULT_USERNAME = "opencode"
MOVE_SESSION = "/experimental/control-plane/move-session"


class OpenCodeError(EnsembleError):
    """A call to OpenCode failed; says which call, the status code and the server's reason."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        self.call = call
        self.reason = reason
        self.status = status
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"OpenCode {call} failed{code}: {reason}")


def _server_reason(response: httpx.Response) -> str:
    """Pull the human-readable message out of one of OpenCode's error shapes."""
    if response.status_code == 401:
        return (
            "the server wants a password and the one given is wrong or missing "
            "(set OPENCODE_SERVER_PASSWORD or pass --password)"
        )
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
        for key in ("message", "name", "_tag"):
            if body.get(key):
                return str(body[key])
    return str(body)[:300]


NEW_FOLDER_LIMIT = 180.0
"""How long the first calls for a new folder (making its session, adding the team tools)
may take: OpenCode starts an instance for the folder first, which took over 30 s (the
limit of other calls) while it was starting dozens of teammates on a busy machine."""


class OpenCodeClient:
    """A typed client for one `opencode serve` (v1 API, OpenCode 1.18.x)."""

    def __init__(
        self,
        base_url: str,
        *,
        password: str | None = None,
        username: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        password = password if password is not None else os.environ.get("OPENCODE_SERVER_PASSWORD")
        username = username or os.environ.get("OPENCODE_SERVER_USERNAME") or DEFAULT_USERNAME
        self.password = password or None
        """The server's password, for `opencode attach` to the same server."""
        self.auth = httpx.BasicAuth(username, password) if password else None
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=self.auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )
        self.version: str | None = None
        self.can_move_sessions: bool | None = None
        """Whether the server has the experimental move-session route (None: not checked)."""
        self._reading: dict[tuple[str, str], asyncio.Future[Any]] = {}

    # Where a directory's calls go: one server here; `ServerPool` spreads them over several.

    def server_of(self, directory: str) -> int:
        """The number (from 0) of the server whose instance serves *directory*."""
        return 0

    def server_for(self, directory: str) -> OpenCodeClient:
        """The client of the server that serves *directory*: its URL for `opencode attach`."""
        return self

    def server_for_session(self, session_id: str, directory: str) -> OpenCodeClient:
        """The client of the server that has the session, asked about in *directory*."""
        return self

    @property
    def servers(self) -> list[OpenCodeClient]:
        """A client per server, in the servers' order (each follows its own events)."""
        return [self]

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> OpenCodeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

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
        """Send one request; any failure becomes an `OpenCodeError` naming the call."""
        call = f"{method} {path}"
        query: dict[str, str | int] = dict(params or {})
        if directory is not None:
            query["directory"] = directory
        extra: dict[str, Any] = {} if time_limit is None else {"timeout": time_limit}
        try:
            response = await self.http.request(method, path, params=query, json=json, **extra)
        except httpx.TimeoutException as error:
            raise OpenCodeError(call, f"no answer from {self.base_url} in time") from error
        except httpx.TransportError as error:
            reason = f"cannot reach OpenCode at {self.base_url} ({type(error).__name__})"
            raise OpenCodeError(call, reason) from error
        if response.status_code >= 400:
            raise OpenCodeError(call, _server_reason(response), response.status_code)
        if response.headers.get("content-type", "").startswith("text/html"):
            # The web UI is OpenCode's catch-all route: HTML means no such API here.
            raise OpenCodeError(call, "this OpenCode server does not have that API", 404)
        return response

    async def _call(self, adapter: TypeAdapter[T], method: str, path: str, **kwargs: Any) -> T:
        """Send a request and validate its JSON answer with *adapter*."""
        response = await self.request(method, path, **kwargs)
        if not response.content:
            raise OpenCodeError(f"{method} {path}", "the server sent an empty answer")
        try:
            return adapter.validate_json(response.content)
        except ValidationError as error:
            reason = f"unexpected answer: {error.errors()[0]['msg']}"
            raise OpenCodeError(f"{method} {path}", reason) from error

    # Server

    async def health(self) -> Health:
        """`GET /global/health`: whether the server is up and its version."""
        return await self._call(_HEALTH, "GET", "/global/health", time_limit=5.0)

    async def connect(self) -> Health:
        """Check the server answers and that its version is supported; remember it."""
        health = await self.health()
        check_supported_version(health.version)
        self.version = health.version
        self.can_move_sessions = await self.has_move_session()
        return health

    async def moves_sessions(self) -> bool:
        """Whether the server can move a session to another folder (asked once)."""
        if self.can_move_sessions is None:
            self.can_move_sessions = await self.has_move_session()
        return self.can_move_sessions

    async def has_move_session(self) -> bool:
        """Whether the server has `POST /experimental/control-plane/move-session`.

        An empty body is refused with a 400 by a server that has the route; one without
        it answers with its web page (or a 404). Nothing is moved either way.
        """
        try:
            await self.request("POST", MOVE_SESSION, json={}, time_limit=5.0)
        except OpenCodeError as error:
            return error.status == 400
        return True

    async def _shared_read(self, key: tuple[str, str], read: Callable[[], Awaitable[T]]) -> T:
        """One request for identical reads made while it is in flight: a `team_spawn` of
        fifty checks OpenCode's agents once, not fifty times (each read costs OpenCode
        CPU). A caller that gives up does not cancel the others' request."""
        pending = self._reading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(read())
            self._reading[key] = pending

            def done(future: asyncio.Future[Any]) -> None:
                self._reading.pop(key, None)
                if not future.cancelled():
                    future.exception()  # retrieved: every caller may have given up

            pending.add_done_callback(done)
        return cast(T, await asyncio.shield(pending))

    async def agents(self, directory: str) -> list[Agent]:
        """`GET /agent`: the agents a session of *directory* may use."""
        return await self._shared_read(
            ("agents", directory), lambda: self._call(_AGENTS, "GET", "/agent", directory=directory)
        )

    async def providers(self, directory: str) -> Providers:
        """`GET /config/providers`: the configured providers and their models."""
        return await self._shared_read(
            ("providers", directory),
            lambda: self._call(_PROVIDERS, "GET", "/config/providers", directory=directory),
        )

    # Sessions

    async def create_session(
        self,
        directory: str,
        *,
        title: str | None = None,
        parent_id: str | None = None,
        permission: Sequence[PermissionRule] | None = None,
    ) -> Session:
        """Create a session whose tools run in *directory*."""
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if parent_id is not None:
            body["parentID"] = parent_id
        if permission is not None:
            body["permission"] = [rule.model_dump(by_alias=True) for rule in permission]
        return await self._call(
            _SESSION,
            "POST",
            "/session",
            directory=directory,
            json=body,
            time_limit=NEW_FOLDER_LIMIT,
        )

    async def fork_session(
        self, session_id: str, directory: str, *, message_id: str | None = None
    ) -> Session:
        """A new session with the conversation copied (only before *message_id* if given),
        in the same directory and with no parent."""
        body = {"messageID": message_id} if message_id else {}
        path = f"/session/{session_id}/fork"
        return await self._call(_SESSION, "POST", path, directory=directory, json=body)

    async def move_session(
        self, session_id: str, destination: str, *, origin: str | None = None
    ) -> None:
        """Move a session to another directory: its next turns run their tools there.
        *origin*, the folder it is in now, tells a pool of servers which one has it.

        The route is experimental; `can_move_sessions` says whether the server has it.
        """
        body = {"sessionID": session_id, "destination": {"directory": destination}}
        await self.request("POST", MOVE_SESSION, json=body)

    async def summarize(self, session_id: str, directory: str, model: ModelRef) -> bool:
        """Compact the session's conversation into a summary; returns once it is written."""
        body = model.model_dump(by_alias=True)
        path = f"/session/{session_id}/summarize"
        return await self._call(
            _BOOL, "POST", path, directory=directory, json=body, time_limit=300.0
        )

    async def get_session(self, session_id: str, directory: str) -> Session:
        return await self._call(_SESSION, "GET", f"/session/{session_id}", directory=directory)

    async def add_session_permissions(
        self, session_id: str, directory: str, rules: Sequence[PermissionRule]
    ) -> Session:
        """Append permission rules to a session (OpenCode appends; the last match wins)."""
        body = {"permission": [rule.model_dump(by_alias=True) for rule in rules]}
        path = f"/session/{session_id}"
        return await self._call(_SESSION, "PATCH", path, directory=directory, json=body)

    async def list_sessions(self, directory: str) -> list[Session]:
        return await self._call(_SESSIONS, "GET", "/session", directory=directory)

    async def delete_session(self, session_id: str, directory: str) -> bool:
        return await self._call(_BOOL, "DELETE", f"/session/{session_id}", directory=directory)

    async def abort(self, session_id: str, directory: str) -> bool:
        """Stop the session's current turn (true also when it was idle)."""
        path = f"/session/{session_id}/abort"
        return await self._call(_BOOL, "POST", path, directory=directory)

    async def prompt_async(
        self,
        session_id: str,
        directory: str,
        text: str,
        *,
        agent: str,
        model: ModelRef | None,
        system: str | None = None,
        no_reply: bool = False,
    ) -> None:
        """Queue a user message; the server answers at once and the turn runs on its own.

        Pass the session's agent and model every time: OpenCode makes the last ones
        sticky, and a prompt without them can switch the session's agent.
        """
        body: dict[str, Any] = {"parts": [{"type": "text", "text": text}], "agent": agent}
        if model is not None:
            body["model"] = model.model_dump(by_alias=True)
        if system:
            body["system"] = system
        if no_reply:
            body["noReply"] = True
        path = f"/session/{session_id}/prompt_async"
        await self.request("POST", path, directory=directory, json=body)

    async def messages(
        self, session_id: str, directory: str, *, limit: int | None = None
    ) -> list[MessageWithParts]:
        """The session's messages with their parts, oldest first (the newest *limit*)."""
        params = {"limit": limit} if limit is not None else None
        path = f"/session/{session_id}/message"
        return await self._call(_MESSAGES, "GET", path, directory=directory, params=params)

    async def diff(
        self, session_id: str, directory: str, *, message_id: str | None = None
    ) -> list[FileDiff]:
        """Files changed by one turn (*message_id* is that turn's user message)."""
        params = {"messageID": message_id} if message_id else None
        path = f"/session/{session_id}/diff"
        return await self._call(_DIFFS, "GET", path, directory=directory, params=params)

    async def todos(self, session_id: str, directory: str) -> list[Todo]:
        path = f"/session/{session_id}/todo"
        return await self._call(_TODOS, "GET", path, directory=directory)

    async def statuses(self, directory: str) -> dict[str, SessionStatus]:
        """Statuses of the directory's sessions that are not idle (absent means idle)."""
        return await self._call(_STATUSES, "GET", "/session/status", directory=directory)

    # Permissions and questions

    async def permissions(self, directory: str) -> list[PermissionRequest]:
        return await self._call(_PERMISSIONS, "GET", "/permission", directory=directory)

    async def reply_permission(
        self,
        request_id: str,
        directory: str,
        reply: PermissionReply,
        message: str | None = None,
    ) -> bool:
        """Answer a permission request: allow once, allow always, or reject (with why)."""
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        path = f"/permission/{request_id}/reply"
        return await self._call(_BOOL, "POST", path, directory=directory, json=body)

    async def questions(self, directory: str) -> list[QuestionRequest]:
        return await self._call(_QUESTIONS, "GET", "/question", directory=directory)

    async def reply_question(
        self, request_id: str, directory: str, answers: Sequence[Sequence[str]]
    ) -> bool:
        """Answer a question request: one list of chosen labels per question."""
        body = {"answers": [list(answer) for answer in answers]}
        path = f"/question/{request_id}/reply"
        return await self._call(_BOOL, "POST", path, directory=directory, json=body)

    async def reject_question(self, request_id: str, directory: str) -> bool:
        path = f"/question/{request_id}/reject"
        return await self._call(_BOOL, "POST", path, directory=directory)

    async def dispose_instance(self, directory: str) -> bool:
        """Have OpenCode drop its instance for *directory* (its services, watchers and team
        tools for that folder); the folder's next request starts a new one."""
        return await self._call(_BOOL, "POST", "/instance/dispose", directory=directory)

    # MCP

    async def add_mcp_server(
        self, directory: str, name: str, url: str, *, token: str | None = None
    ) -> dict[str, McpStatus]:
        """Give the sessions of *directory* a remote MCP server (with a bearer token)."""
        config: dict[str, Any] = {"type": "remote", "url": url, "oauth": False}
        if token is not None:
            config["headers"] = {"Authorization": f"Bearer {token}"}
        body = {"name": name, "config": config}
        return await self._call(
            _MCP, "POST", "/mcp", directory=directory, json=body, time_limit=NEW_FOLDER_LIMIT
        )

    async def mcp_status(self, directory: str) -> dict[str, McpStatus]:
        return await self._call(_MCP, "GET", "/mcp", directory=directory)

    # Providers and models

    async def provider_catalogue(self, directory: str) -> ProviderCatalogue:
        """`GET /provider`: which providers are connected (have a key or need none)."""
        return await self._call(_CATALOGUE, "GET", "/provider", directory=directory)

    async def server_config(self, directory: str) -> ServerConfig:
        """`GET /config`: the server's configuration for *directory* (its `model`)."""
        return await self._call(_CONFIG, "GET", "/config", directory=directory)


_HEALTH = TypeAdapter(Health)
_AGENTS = TypeAdapter(list[Agent])
_PROVIDERS = TypeAdapter(Providers)
_SESSION = TypeAdapter(Session)
_BOOL = TypeAdapter(bool)
_SESSIONS = TypeAdapter(list[Session])
_MESSAGES = TypeAdapter(list[MessageWithParts])
_DIFFS = TypeAdapter(list[FileDiff])
_TODOS = TypeAdapter(list[Todo])
_STATUSES: TypeAdapter[dict[str, SessionStatus]] = TypeAdapter(dict[str, SessionStatus])
_PERMISSIONS = TypeAdapter(list[PermissionRequest])
_QUESTIONS = TypeAdapter(list[QuestionRequest])
_MCP = TypeAdapter(dict[str, McpStatus])
_CATALOGUE = TypeAdapter(ProviderCatalogue)
_CONFIG = TypeAdapter(ServerConfig)
