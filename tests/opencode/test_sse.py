"""The event decoder follows the EventSource rules however the bytes are cut."""

from __future__ import annotations

import pytest

from ensemble_tui.opencode.sse import EventDecoder

STREAM = (
    b": a comment first\n"
    b'data: {"a": 1}\n\n'
    b"event: ignored\r\nid: 7\r\ndata: first line\r\ndata:second line\r\n\r\n"
    b"retry: 100\n\n"
    b"data\n\n"
    b"data: caf\xc3\xa9\rdata: cr only\r\r"
    b"data: last"
)
# The retry-only event has no data and is skipped; the last one never ended.
EXPECTED = [b'{"a": 1}', b"first line\nsecond line", b"", "café\ncr only".encode()]


def decode_in_pieces(size: int) -> list[bytes]:
    decoder = EventDecoder()
    found: list[bytes] = []
    for start in range(0, len(STREAM), size):
        found += decoder.feed(STREAM[start : start + size])
    return found


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(STREAM)])
def test_events_come_out_whole_whatever_the_pieces(size: int) -> None:
    assert decode_in_pieces(size) == EXPECTED


def test_an_unfinished_event_waits_for_its_blank_line() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: half") == []
    assert decoder.feed(b" and the rest\n") == []
    assert decoder.feed(b"\n") == [b"half and the rest"]
