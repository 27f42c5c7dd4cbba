"""Following `GET /global/event`: typed events, reconnecting by itself.

OpenCode replays nothing after a reconnect, so the stream tells its consumer when it
connects (`StreamConnected`, with `reconnected=True` after a loss) and the consumer
resyncs from `GET /session/status` and friends. A connection that stops sending
heartbeats (one every 10 s) is treated as dead, and so is one that the server accepts but
does not answer: `opencode serve` takes connections a moment before it can answer them,
and one taken then is never answered (seen on 1.18.33 while it starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import (
    Event,
    GlobalEvent,
    ServerHeartbeat,
    parse_frame_event,
    parse_global_event,
)
from ensemble_tui.opencode.sse import EventDecoder

log = logging.getLogger(__name__)
_decoder = json.JSONDecoder()
_decode_json = _decoder.decode
# Made by the decoder (the C scanner where there is one); the type stubs leave it out.
_scan_json: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
_Parsed = TypeVar("_Parsed")


@dataclass(frozen=True)
class StreamConnected:
    """The stream is (again) receiving events; after a loss, state must be resynced (the
    state of the sessions on *server*, when there are several)."""

    reconnected: bool
    server: int = 0


@dataclass(frozen=True)
class StreamDisconnected:
    """The stream lost the server (number *server*); it retries after *retry_in* seconds."""

    reason: str
    retry_in: float
    server: int = 0


StreamItem = GlobalEvent | StreamConnected | StreamDisconnected


@dataclass
class Backoff:
    """Capped exponential backoff: initial, doubling, at most *maximum* seconds."""

    initial: float = 0.25
    # The server is usually local, where a refused connection costs nothing: a restarted
    # one is found within two seconds of answering.
    maximum: float = 2.0
    current: float = 0.0

    def next_delay(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.current * 2, self.maximum)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class EventStream:
    """An endless async iterator over `/global/event` that survives server restarts."""

    def __init__(
        self,
        client: OpenCodeClient,
        *,
        heartbeat_timeout: float = 25.0,
        answer_timeout: float = 5.0,
        backoff: Backoff | None = None,
        include_heartbeats: bool = False,
        server: int = 0,
    ) -> None:
        self.client = client
        self.server = server
        """Which of several servers this one is (its connection items say so)."""
        self.heartbeat_timeout = heartbeat_timeout
        self.answer_timeout = answer_timeout
        """How long a new connection may wait for the server's answer (its headers; the
        first frame follows at once). Doubled after each unanswered try, up to the
        heartbeat timeout, so a server slow to answer under load is still reached."""
        self._answer_limit = answer_timeout
        self.backoff = backoff or Backoff()
        self.include_heartbeats = include_heartbeats
        self.connected = False
        self.last_frame_at: float | None = None

    async def __aiter__(self) -> AsyncIterator[StreamItem]:
        async for batch in self.batches():
            for item in batch:
                yield item

    async def batches(self) -> AsyncIterator[list[StreamItem]]:
        """The same items, a list at a time: all the frames of one network read together,
        so a consumer pays the async iteration once per read rather than once per frame."""
        async for batch in self._batches(self._parse):
            yield batch if isinstance(batch, list) else [batch]

    async def event_batches(
        self,
    ) -> AsyncIterator[list[Event] | StreamConnected | StreamDisconnected]:
        """What `batches` gives, with each frame's event alone (not where it happened, which
        no session's state needs: one object less per frame), and a connection change
        on its own rather than in a list."""
        async for batch in self._batches(self._events):
            yield batch

    async def _batches(
        self, parse: Callable[[list[bytes]], list[_Parsed]]
    ) -> AsyncIterator[list[_Parsed] | StreamConnected | StreamDisconnected]:
        ever_connected = False
        while True:
            try:
                async for batch in self._one_connection(parse, reconnected=ever_connected):
                    if isinstance(batch, StreamConnected):
                        ever_connected = True
                        self.backoff.reset()
                    yield batch
                reason = "the server closed the event stream"
            except (httpx.HTTPError, TimeoutError, OSError) as error:
                reason = _describe(error)
            was_connected, self.connected = self.connected, False
            delay = self.backoff.next_delay()
            if was_connected or not ever_connected:
                log.info("event stream lost: %s; retrying in %.2fs", reason, delay)
            yield StreamDisconnected(reason=reason, retry_in=delay, server=self.server)
            await asyncio.sleep(delay)

    async def _one_connection(
        self, parse: Callable[[list[bytes]], list[_Parsed]], *, reconnected: bool
    ) -> AsyncIterator[list[_Parsed] | StreamConnected]:
        timeout = httpx.Timeout(10.0, read=self.heartbeat_timeout)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        async with contextlib.AsyncExitStack() as stack:
            limit = self._answer_limit
            try:
                async with asyncio.timeout(limit):
                    response = await stack.enter_async_context(
                        self.client.http.stream(
                            "GET", "/global/event", headers=headers, timeout=timeout
                        )
                    )
            except TimeoutError:
                self._answer_limit = min(limit * 2, self.heartbeat_timeout)
                raise _Unanswered(limit) from None
            self._answer_limit = self.answer_timeout
            if response.status_code >= 400:
                await response.aread()
                raise httpx.HTTPStatusError(
                    f"HTTP {response.status_code}", request=response.request, response=response
                )
            self.connected = True
            yield StreamConnected(reconnected=reconnected, server=self.server)
            decoder = EventDecoder()
            # The read timeout bounds the gap between frames: heartbeats keep it alive.
            async for chunk in response.aiter_bytes():
                self.last_frame_at = time.monotonic()
                batch = parse(decoder.feed(chunk))
                if batch:
                    yield batch

    def _parse(self, frames: list[bytes]) -> list[StreamItem]:
        """The events of these frames' data (bad frames are logged and skipped)."""
        found: list[StreamItem] = []
        include_heartbeats = self.include_heartbeats
        for data in frames:
            frame = _json_object(data)
            if frame is None:
                continue
            event = parse_global_event(frame)
            if event is None:
                continue
            if type(event.event) is ServerHeartbeat and not include_heartbeats:
                continue
            found.append(event)
        return found

    def _events(self, frames: list[bytes]) -> list[Event]:
        """`_parse` without the wrapper: each frame's event alone (`_json_object` inlined:
        this runs for every streamed token)."""
        found: list[Event] = []
        include_heartbeats = self.include_heartbeats
        for data in frames:
            try:
                text = data.decode()
                try:
                    frame, end = _scan_json(text, 0)
                except StopIteration:
                    end = -1
                if end != len(text):
                    frame = _decode_json(text)
            except ValueError:
                log.warning("ignoring an event frame that is not JSON: %.200r", data)
                continue
            if type(frame) is not dict:
                continue
            event = parse_frame_event(frame)
            if event is None:
                continue
            if type(event) is ServerHeartbeat and not include_heartbeats:
                continue
            found.append(event)
        return found


EventBatch = list[Event] | StreamConnected | StreamDisconnected


class EventSource(Protocol):
    """What the coordinator follows: `EventStream.event_batches`, or several merged."""

    def event_batches(self) -> AsyncIterator[EventBatch]: ...


@dataclass(frozen=True)
class _PumpFailed:
    error: BaseException


class MergedEvents:
    """The event batches of several servers' streams as one (each stream reconnects and
    says so on its own, numbered by its server). A bounded queue between them: a consumer
    that falls behind slows the readers rather than piling up batches."""

    def __init__(self, streams: list[EventStream]) -> None:
        self.streams = streams

    async def event_batches(self) -> AsyncIterator[EventBatch]:
        queue: asyncio.Queue[EventBatch | _PumpFailed] = asyncio.Queue(4 * len(self.streams))

        async def pump(stream: EventStream) -> None:
            try:
                async for batch in stream.event_batches():
                    await queue.put(batch)
            except Exception as error:
                await queue.put(_PumpFailed(error))

        pumps = [
            asyncio.create_task(pump(stream), name=f"ensemble-events-{stream.server}")
            for stream in self.streams
        ]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _PumpFailed):
                    raise item.error
                yield item
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)


def event_source(client: OpenCodeClient) -> EventSource:
    """The events of every server *client* reaches, as one source."""
    streams = [EventStream(server, server=number) for number, server in enumerate(client.servers)]
    return streams[0] if len(streams) == 1 else MergedEvents(streams)


def _json_object(data: bytes) -> dict[str, Any] | None:
    """The JSON object of one frame's data (None for anything else; not JSON is logged).

    The C scanner is called directly: `json.loads` would add two regular expressions and
    two calls around it, a third of its time on a streamed token. Anything it does not
    take whole (surrounding whitespace, an error) goes to the full decoder, which decides
    as `json.loads` does.
    """
    try:
        text = data.decode()
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _decode_json(text)
    except ValueError:
        log.warning("ignoring an event frame that is not JSON: %.200r", data)
        return None
    return value if type(value) is dict else None


class _Unanswered(TimeoutError):
    """The server took the connection but gave no answer within *limit* seconds."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"the server took the connection but did not answer within {limit:g}s")


def _describe(error: BaseException) -> str:
    if isinstance(error, _Unanswered):
        return str(error)
    if isinstance(error, httpx.ReadTimeout):
        return "no heartbeat from the server (connection presumed dead)"
    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 401:
        return "the server refused the password (HTTP 401)"
    if isinstance(error, httpx.ConnectError):
        return "cannot connect to the server"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
