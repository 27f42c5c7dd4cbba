"""What the event stream makes of each frame's data, served over real local HTTP: JSON
objects become events, anything else is skipped (and said), the same whether or not the
frames' directories are wanted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.frames import FrameServer
from ensemble_tui.opencode.client import OpenCodeClient
from ensemble_tui.opencode.events import (
    Event,
    PartDelta,
    ServerConnected,
    SessionStatusChanged,
    UnknownEvent,
)
from ensemble_tui.opencode.stream import EventStream, StreamConnected

DELTA = {
    "directory": "/a",
    "payload": {
        "id": "evt_1",
        "type": "message.part.delta",
        "properties": {
            "sessionID": "ses_a",
            "messageID": "msg_1",
            "partID": "prt_1",
            "field": "text",
            "delta": 'say "hi"\n',
        },
    },
}
IDLE = {
    "payload": {
        "type": "session.status",
        "properties": {"sessionID": "ses_a", "status": {"type": "idle"}},
    }
}


def data(text: str) -> bytes:
    return f"data: {text}\n\n".encode()


FRAMES = [
    data("not json at all"),
    data("[1, 2]"),
    data(" " + json.dumps(IDLE) + "  "),  # padded with whitespace: still one object
    data(json.dumps(IDLE) + " trailing"),
    data(json.dumps({"payload": {"type": "sync"}})),
    data(json.dumps({"payload": {"type": "server.heartbeat", "properties": {}}})),
    data(json.dumps({"payload": {"type": "file.watcher.updated", "properties": {"file": "x"}}})),
    data(json.dumps(DELTA)),
]


async def events_served(with_directories: bool) -> list[Any]:
    server = FrameServer()
    await server.start()
    server.arm(FRAMES)
    stream = EventStream(OpenCodeClient(server.url, password=""))
    found: list[Any] = []
    try:
        if with_directories:
            async for batch in stream.batches():
                found += batch
                if isinstance(found[-1], StreamConnected) or not isinstance(
                    found[-1].event, PartDelta
                ):
                    continue
                break
        else:
            async for item in stream.event_batches():
                found += item if isinstance(item, list) else [item]
                if isinstance(found[-1], PartDelta):
                    break
    finally:
        await stream.client.aclose()
        await server.stop()
    return found


@pytest.mark.parametrize("with_directories", [True, False])
async def test_only_json_objects_become_events(
    with_directories: bool, caplog: pytest.LogCaptureFixture
) -> None:
    items = await events_served(with_directories)
    assert isinstance(items[0], StreamConnected)
    events: list[Event] = [item.event if with_directories else item for item in items[1:]]
    kinds = [type(event) for event in events]
    assert kinds == [ServerConnected, SessionStatusChanged, UnknownEvent, PartDelta]
    delta = events[-1]
    assert isinstance(delta, PartDelta)
    assert (delta.session_id, delta.part_id, delta.delta) == ("ses_a", "prt_1", 'say "hi"\n')
    if with_directories:
        assert items[-1].directory == "/a"
    skipped = [r.getMessage() for r in caplog.records if "not JSON" in r.getMessage()]
    assert len(skipped) == 2, "the two frames that are not JSON are said, the others not"
