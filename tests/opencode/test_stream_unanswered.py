"""A connection the server takes but never answers does not hold the event stream up.

`opencode serve` 1.18.33 takes connections a moment before it can answer them while it
starts, and never answers one taken then: a stream reconnecting to a restarted server
waited the whole heartbeat timeout (25 s) on such a connection. A tiny local server here
takes the first connections and stays silent (the real one does so only in a window too
short to hit on purpose), then answers as OpenCode does.
"""

from __future__ import annotations

import asyncio
import json
import time

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.stream import (
    Backoff,
    EventStream,
    StreamConnected,
    StreamDisconnected,
)

CONNECTED = {"payload": {"type": "server.connected", "properties": {}}}


class SilentAtFirst:
    """Takes every connection; stays silent on the first *silent* ones, then answers
    `GET /global/event` with the stream's headers and one frame, and keeps it open."""

    def __init__(self, silent: int) -> None:
        self.silent = silent
        self.taken = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.taken += 1
        await reader.readuntil(b"\r\n\r\n")
        if self.taken > self.silent:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            frame = f"data: {json.dumps(CONNECTED)}\n\n".encode()
            writer.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            await writer.drain()
        # Silent or answered, the connection stays open until the client lets go.
        await reader.read()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_an_unanswered_connection_is_tried_again_with_a_longer_wait_each_time() -> None:
    server = SilentAtFirst(silent=2)
    url = await server.start()
    items: list[StreamConnected | StreamDisconnected] = []
    began = time.monotonic()
    try:
        async with OpenCodeClient(url, password="") as client:
            stream = EventStream(
                client,
                heartbeat_timeout=30.0,
                answer_timeout=0.2,
                backoff=Backoff(initial=0.05, maximum=0.05),
            )
            async with asyncio.timeout(20):
                async for item in stream:
                    if isinstance(item, StreamConnected | StreamDisconnected):
                        items.append(item)
                    if isinstance(item, StreamConnected):
                        break
    finally:
        await server.stop()
    took = time.monotonic() - began

    reasons = [item.reason for item in items if isinstance(item, StreamDisconnected)]
    assert reasons == [
        "the server took the connection but did not answer within 0.2s",
        "the server took the connection but did not answer within 0.4s",
    ]
    assert items[-1] == StreamConnected(reconnected=False)
    assert server.taken == 3
    # Far below the heartbeat timeout that an unanswered connection used to wait for.
    assert took < 10, took
