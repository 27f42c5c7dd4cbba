"""Frames shaped like OpenCode 1.18.33's `/global/event`, served over real local HTTP.

The templates are the frames recorded in tests/fixtures/opencode-1.18.33: each
generated frame is a recorded one with its ids, session and text replaced, so the
parsers meet the same shapes (and the same unknown types) as from the real server.
A turn per session is: busy, an assistant message, a text part, many deltas, the
finished part, a step-finish with tokens, a diff and a file-watcher event (types we
ignore), then idle; sessions interleave their frames the way parallel teammates do.

`FrameServer` is a tiny asyncio HTTP/1.1 server on 127.0.0.1 answering
`GET /global/event` with `text/event-stream`: all frames at once (to measure
throughput) or paced at a given rate (to measure key latency under load). The
connection then stays open, so the client never reconnects mid-measurement.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

FIXTURE = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/opencode-1.18.33/global-events.jsonl"
)
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "streaming",
    "text",
    "arrives",
]
DELTAS_PER_PART = 40
END_PART = "prt_bench_end"


def _templates() -> dict[str, dict[str, Any]]:
    """The first recorded frame of each payload type (and each part type)."""
    found: dict[str, dict[str, Any]] = {}
    for line in FIXTURE.read_text().splitlines():
        if not line.strip():
            continue
        frame = json.loads(line)
        payload = frame["payload"]
        key = payload["type"]
        if key == "message.part.updated":
            key += ":" + payload["properties"]["part"]["type"]
        if key == "message.updated":
            key += ":" + payload["properties"]["info"]["role"]
        found.setdefault(key, frame)
    return found


class FrameMaker:
    """Builds frames for given sessions from the recorded templates."""

    def __init__(self) -> None:
        self.templates = _templates()
        self.count = 0

    def frame(self, key: str, session: str, directory: str, **changes: Any) -> dict[str, Any]:
        self.count += 1
        frame = copy.deepcopy(self.templates[key])
        frame["directory"] = directory
        payload = frame["payload"]
        payload["id"] = f"evt_bench_{self.count:08d}"
        properties = payload["properties"]
        if "sessionID" in properties:
            properties["sessionID"] = session
        for field in ("part", "info"):
            if field in properties and "sessionID" in properties[field]:
                properties[field]["sessionID"] = session
        for path, value in changes.items():
            target = properties
            *parents, last = path.split(".")
            for parent in parents:
                target = target[parent]
            target[last] = value
        return frame

    def turn(self, session: str, directory: str, number: int) -> Iterator[dict[str, Any]]:
        """One assistant turn of *session*, frame by frame."""
        message = f"msg_bench_{session}_{number:05d}"
        part = f"prt_bench_{session}_{number:05d}"
        base = {"part.messageID": message, "part.id": part}
        yield self.frame("session.status", session, directory, **{"status": {"type": "busy"}})
        yield self.frame("message.updated:assistant", session, directory, **{"info.id": message})
        yield self.frame(
            "message.part.updated:text", session, directory, **base, **{"part.text": ""}
        )
        text = ""
        for index in range(DELTAS_PER_PART):
            word = WORDS[(number + index) % len(WORDS)] + (" " if index % 9 else ".\n\n")
            text += word
            yield self.frame(
                "message.part.delta",
                session,
                directory,
                messageID=message,
                partID=part,
                delta=word,
            )
            if index == DELTAS_PER_PART // 2:
                yield self.frame("file.watcher.updated", session, directory)
        yield self.frame(
            "message.part.updated:text",
            session,
            directory,
            **base,
            **{"part.text": text, "part.time": {"start": 1, "end": 2}},
        )
        yield self.frame(
            "message.part.updated:step-finish",
            session,
            directory,
            **{**base, "part.id": part + "s"},
        )
        yield self.frame("session.diff", session, directory)
        yield self.frame("session.status", session, directory, **{"status": {"type": "idle"}})


def generate(count: int, sessions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """About *count* frames of turns interleaved over *sessions* ((id, directory) pairs),
    ending with one delta on the first session's END_PART that marks the end."""
    maker = FrameMaker()
    turns = [maker.turn(session, directory, 0) for session, directory in sessions]
    numbers = [0] * len(sessions)
    frames: list[dict[str, Any]] = []
    while len(frames) < count - 1:
        for index, (session, directory) in enumerate(sessions):
            if len(frames) == count - 1:
                break
            frame = next(turns[index], None)
            if frame is None:
                numbers[index] += 1
                turns[index] = maker.turn(session, directory, numbers[index])
                frame = next(turns[index])
            frames.append(frame)
    session, directory = sessions[0]
    frames.append(
        maker.frame(
            "message.part.delta",
            session,
            directory,
            messageID="msg_bench_end",
            partID=END_PART,
            delta=".",
        )
    )
    return frames


def encode(frames: list[dict[str, Any]]) -> list[bytes]:
    return [f"data: {json.dumps(frame)}\n\n".encode() for frame in frames]


CONNECTED = encode([_templates()["server.connected"]])[0]
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"connection: close\r\n\r\n"
)


class FrameServer:
    """Serves the armed frames to each `GET /global/event`, then keeps the connection open."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.rate: float | None = None
        self.url = ""
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    @property
    def handlers(self) -> frozenset[asyncio.Task[None]]:
        """The connection handlers running (one per client, from its first byte on)."""
        return frozenset(self._handlers)

    def arm(self, frames: list[bytes], rate: float | None = None) -> None:
        """What the next connection gets: all at once, or *rate* frames a second."""
        self.frames, self.rate = frames, rate

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Close every connection and the server, and wait for their handlers to end."""
        self._closing.set()
        for writer in list(self._open):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Python 3.11's wait_closed does not wait for the handlers: a paced one still
        # writing would be cancelled by asyncio.run at the end instead.
        await asyncio.gather(*self._handlers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client: the armed frames, then the connection held open until stop().

        Ends quietly when the client goes away, the server stops, or the task is
        cancelled: asyncio reports a connection handler that ends with any exception,
        a cancellation included, as an error ("Exception in callback ...")."""
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        self._open.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            frames, rate = self.frames, self.rate
            writer.write(HEAD + CONNECTED)
            if rate is None:
                writer.write(b"".join(frames))
            else:
                await self._paced(writer, frames, rate)
            await writer.drain()
            await self._closing.wait()  # Held open until stop(): no reconnect.
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(writer)
            if handler is not None:
                self._handlers.discard(handler)

    async def _paced(self, writer: asyncio.StreamWriter, frames: list[bytes], rate: float) -> None:
        """Write *frames* at *rate* a second, in a burst every 10 ms, until all are sent,
        the client has gone or the server stops."""
        start = time.perf_counter()
        sent = 0
        while sent < len(frames) and not (writer.is_closing() or self._closing.is_set()):
            due = min(len(frames), int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                writer.write(b"".join(frames[sent:due]))
                sent = due
            await asyncio.sleep(0.01)


async def bare_loop(url: str, expected: int, http: httpx.AsyncClient | None = None) -> float:
    """The baseline: httpx-sse and `json.loads` over the stream; seconds for *expected* frames.

    Given *http*, the client was made before the clock starts (making one loads the TLS
    certificates: tens of milliseconds that have nothing to do with the stream); without,
    making it is timed.
    """
    start = time.perf_counter()
    client = http or httpx.AsyncClient(timeout=30)
    seen = 0
    async with aconnect_sse(client, "GET", f"{url}/global/event") as source:
        async for sse in source.aiter_sse():
            json.loads(sse.data)
            seen += 1
            if seen > expected:  # The connected frame comes first.
                break
    if http is None:
        await client.aclose()
    return time.perf_counter() - start
