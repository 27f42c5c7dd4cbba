"""The first calls for a new folder wait longer than other calls: OpenCode starts an
instance for the folder before it answers, which took over the usual 30 s while it was
starting dozens of teammates (and one of fifty spawns failed with "no answer in time").

A stdlib HTTP server that answers late stands in for the busy OpenCode here: a real one
cannot be made that slow on demand. The client's usual limit is shrunk to 0.3 s, and
the new-folder limit to 3 s, so the test waits one second, not minutes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ensemble_tui.opencode import client as client_module
from ensemble_tui.opencode.client import OpenCodeClient, OpenCodeError

LATE = 1.0


class _Late(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, body: object) -> None:
        time.sleep(LATE)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # The call with the usual limit gives up before the late answer, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/session?"):
            self._answer({"id": "ses_1", "directory": "/tmp/new", "title": "abe (t)"})
        elif self.path.startswith("/mcp?"):
            self._answer({"ensemble": {"status": "connected"}})
        else:
            self._answer(True)

    def do_GET(self) -> None:
        self._answer([])


@pytest.fixture
def late_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Late)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_making_a_session_and_adding_the_tools_in_a_new_folder_may_take_longer(
    late_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "NEW_FOLDER_LIMIT", 3.0)
    async with OpenCodeClient(late_server, password="", timeout=0.3) as client:
        session = await client.create_session("/tmp/new", title="abe (t)")
        assert session.id == "ses_1"
        statuses = await client.add_mcp_server("/tmp/new", "ensemble", "http://x/mcp")
        assert statuses["ensemble"].status == "connected"
        # Any other call keeps the usual limit.
        with pytest.raises(OpenCodeError, match=r"no answer from .* in time"):
            await client.list_sessions("/tmp/new")
