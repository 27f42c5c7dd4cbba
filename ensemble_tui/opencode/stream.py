"""Following `GET /global/event`: typed events, reconnecting by itself.

OpenCode replays nothing after a reconnect, so the stream tells its consumer when it
connects (`StreamConnected`, with `reconnected=True` after a loss) and the consumer
resyncs from `GET /session/status` and friends. A connection that stops sending
heartbeats (one every 10 s) is treated as dead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from httpx_sse import SSEError, aconnect_sse

from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import GlobalEvent, ServerHeartbeat, parse_global_event

log = logging.getLogger(__name__)
YIELD_EVERY = 32


@dataclass(frozen=True)
class StreamConnected:
    """The stream is (again) receiving events; after a loss, state must be resynced."""

    reconnected: bool


@dataclass(frozen=True)
class StreamDisconnected:
    """The stream lost the server; it retries after *retry_in* seconds."""

    reason: str
    retry_in: float


StreamItem = GlobalEvent | StreamConnected | StreamDisconnected


@dataclass
class Backoff:
    """Capped exponential backoff: initial, doubling, at most *maximum* seconds."""

    initial: float = 0.25
    maximum: float = 10.0
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
        backoff: Backoff | None = None,
        include_heartbeats: bool = False,
    ) -> None:
        self.client = client
        self.heartbeat_timeout = heartbeat_timeout
        self.backoff = backoff or Backoff()
        self.include_heartbeats = include_heartbeats
        self.connected = False
        self.last_frame_at: float | None = None

    async def __aiter__(self) -> AsyncIterator[StreamItem]:
        ever_connected = False
        while True:
            try:
                async for item in self._one_connection(reconnected=ever_connected):
                    if isinstance(item, StreamConnected):
                        ever_connected = True
                        self.backoff.reset()
                    yield item
                reason = "the server closed the event stream"
            except (httpx.HTTPError, SSEError, TimeoutError, OSError) as error:
                reason = _describe(error)
            was_connected, self.connected = self.connected, False
            delay = self.backoff.next_delay()
            if was_connected or not ever_connected:
                log.info("event stream lost: %s; retrying in %.2fs", reason, delay)
            yield StreamDisconnected(reason=reason, retry_in=delay)
            await asyncio.sleep(delay)

    async def _one_connection(self, *, reconnected: bool) -> AsyncIterator[StreamItem]:
        timeout = httpx.Timeout(10.0, read=self.heartbeat_timeout)
        async with aconnect_sse(
            self.client.http, "GET", "/global/event", timeout=timeout
        ) as source:
            response = source.response
            if response.status_code >= 400:
                await response.aread()
                raise httpx.HTTPStatusError(
                    f"HTTP {response.status_code}", request=response.request, response=response
                )
            self.connected = True
            yield StreamConnected(reconnected=reconnected)
            # The read timeout bounds the gap between frames: heartbeats keep it alive.
            read = 0
            async for sse in source.aiter_sse():
                read += 1
                if read % YIELD_EVERY == 0:
                    # One network read holds ~150 frames: let keys and redraws in between.
                    await asyncio.sleep(0)
                self.last_frame_at = time.monotonic()
                try:
                    frame = json.loads(sse.data)
                except json.JSONDecodeError:
                    log.warning("ignoring an event frame that is not JSON: %.200s", sse.data)
                    continue
                if not isinstance(frame, dict):
                    continue
                event = parse_global_event(frame)
                if event is None:
                    continue
                if isinstance(event.event, ServerHeartbeat) and not self.include_heartbeats:
                    continue
                yield event


def _describe(error: BaseException) -> str:
    if isinstance(error, httpx.ReadTimeout):
        return "no heartbeat from the server (connection presumed dead)"
    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 401:
        return "the server refused the password (HTTP 401)"
    if isinstance(error, httpx.ConnectError):
        return "cannot connect to the server"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
