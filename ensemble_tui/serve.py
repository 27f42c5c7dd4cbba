"""`ensemble-tui serve`: the same screen in a browser, through textual-serve.

textual-serve runs the command it is given once per browser connection and relays the
terminal over a websocket; it has no authentication of its own. Whoever reaches the
page drives the agents (and through them, a shell), so this module puts checks in
front of it:

- on loopback (the default) the Host header must name the loopback address it
  listens on (no DNS rebinding) and a websocket's Origin must be the page's own (no
  other web page open in the same browser may drive the app);
- beyond loopback, a token is required: the page, its files and its websocket answer
  only to `?token=...` or the cookie the page sets from it; a missing or short token
  is refused before anything listens;
- one browser at a time: each connection starts its own app on the repository, and
  two apps must not run one team.

The OpenCode password travels to the app in its environment, never on a command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_VARIABLE = "ENSEMBLE_SERVE_TOKEN"
TOKEN_COOKIE = "ensemble_serve_token"
MIN_TOKEN_LENGTH = 16


class ServeRefused(Exception):
    """Serving as asked would be unsafe or cannot work; the message says why."""


def is_loopback(host: str) -> bool:
    """Whether *host* (a name or an address) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    """A port nothing listens on right now at *host*."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServePlan:
    """What to serve, where, and behind which token."""

    command: str
    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        """The address to open in a browser (with the token, when there is one)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"/?token={self.token}" if self.token else "/"
        return f"http://{host}:{self.port}{query}"


def app_command(args: argparse.Namespace) -> list[str]:
    """The plain command with the same options, as the browser's app will run it."""
    if args.demo:
        return [sys.executable, "-m", "ensemble_tui", "demo"]
    argv = [sys.executable, "-m", "ensemble_tui", "tui", str(args.path.resolve())]
    if args.url:
        argv += ["--url", args.url]
    for pair in args.set or []:
        argv += ["--set", pair]
    if args.session:
        argv += ["--session", args.session]
    if args.team:
        argv += ["--team", args.team]
    return argv


def plan_serving(args: argparse.Namespace, environ: dict[str, str]) -> ServePlan:
    """Check the host, port and token, and decide what to run (refusing what is unsafe)."""
    token = args.token or environ.get(TOKEN_VARIABLE) or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ServeRefused(
            f"the token is too short ({len(token)} characters): use at least "
            f"{MIN_TOKEN_LENGTH}, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    if not is_loopback(args.host) and token is None:
        raise ServeRefused(
            f"serving on {args.host} lets anyone who reaches it drive your agents: give a "
            f"token with --token or {TOKEN_VARIABLE} (at least {MIN_TOKEN_LENGTH} "
            "characters), or serve on 127.0.0.1 and reach it through an SSH tunnel"
        )
    if args.port is not None and not 0 < args.port < 65536:
        raise ServeRefused(f"--port must be between 1 and 65535, not {args.port}")
    port = args.port if args.port is not None else free_port(args.host)
    return ServePlan(shlex.join(app_command(args)), args.host, port, token)


Handler = Callable[[Any], Awaitable[Any]]


def make_server(plan: ServePlan, title: str) -> Any:
    """textual-serve's server with the checks of this module in front of it."""
    from aiohttp import web
    from textual_serve.server import Server

    class GuardedServer(Server):
        """Checks every request before textual-serve sees it; one browser at a time."""

        def __init__(self) -> None:
            super().__init__(plan.command, host=plan.host, port=plan.port, title=title)
            self.connected = False

        async def _make_app(self) -> web.Application:
            app: web.Application = await super()._make_app()
            app.middlewares.append(self.guard)
            return app

        @web.middleware
        async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
            refusal = refusal_for(plan, request)
            if refusal is not None:
                status, text = refusal
                return web.Response(status=status, text=text)
            response: web.StreamResponse = await handler(request)
            if plan.token and request.query.get("token") and isinstance(response, web.Response):
                response.set_cookie(TOKEN_COOKIE, plan.token, httponly=True, samesite="Strict")
            return response

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page's websocket address is the one the browser used to get the page.
            self.public_url = f"http://{request.host}"
            response: web.StreamResponse = await super().handle_index(request)
            return response

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            if self.connected:
                raise web.HTTPConflict(
                    text="ensemble-tui is open in another browser tab; close it first"
                )
            self.connected = True
            try:
                return await super().handle_websocket(request)
            finally:
                self.connected = False

        async def on_startup(self, app: web.Application) -> None:
            """Nothing to say yet: this runs before the server listens."""

        def serve(self, debug: bool = False) -> None:
            """textual-serve's `serve`, with the URL printed once the server listens.

            textual-serve says where it serves from its start-up hook, which aiohttp runs
            before it opens the socket: whoever followed the URL at once (a script, a
            quick user) found nothing listening there. aiohttp's `print` is called once
            every site listens."""
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(signal_number, self.request_exit)
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                print=lambda _said: print(
                    f"ensemble-tui: open {plan.url} in a browser (ctrl+c stops)", flush=True
                ),
            )

    return GuardedServer()


def refusal_for(plan: ServePlan, request: Any) -> tuple[int, str] | None:
    """Why a request (an aiohttp one) must not reach the app: its status and text; None
    lets it in."""
    host: str = request.host
    if plan.token is None:
        allowed = {f"{name}:{plan.port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        if host not in allowed:
            return 403, f"unexpected Host {host!r}: open http://127.0.0.1:{plan.port}/"
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
        return 403, "requests from another site's page are refused"
    if plan.token is not None:
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not hmac.compare_digest(given.encode(), plan.token.encode()):
            return 401, "this ensemble-tui wants its token: open the URL it printed"
    return None


def serve(args: argparse.Namespace, plan: ServePlan) -> None:
    """Serve the screen as *plan* says until interrupted."""
    if args.password:
        # The app finds it there; a command line would show it to every user of `ps`.
        os.environ["OPENCODE_SERVER_PASSWORD"] = args.password
    title = "ensemble-tui demo" if args.demo else f"ensemble-tui · {Path(args.path).resolve().name}"
    server = make_server(plan, title)
    try:
        server.serve()
    except OSError as error:
        raise ServeRefused(f"cannot listen on {args.host}:{plan.port}: {error.strerror}") from None
