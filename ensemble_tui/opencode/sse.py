"""Server-sent events, decoded from bytes as they arrive: only the `data` of each event.

`/global/event` sends every streamed token as one event, so this is on the hottest
path there is. A chunk of the stream holds many whole events; those are cut out in a
few `bytes` operations (the common `data: ...` event without another line costs one
slice), and only the rare event with several lines is read line by line, following
the EventSource rules: lines end in CRLF, LF or CR, a line starting with `:` is a
comment, several `data` lines join with a newline, and fields other than `data` are
ignored (OpenCode sends none we use).
"""

from __future__ import annotations

_DATA = b"data:"


class EventDecoder:
    """Feed it the stream's bytes in any pieces; it returns the data of each whole event."""

    def __init__(self) -> None:
        self._pending = b""
        self._trailing_cr = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of every event completed by *chunk*, in order (events with no data
        line are skipped, as EventSource skips them)."""
        if not chunk:
            return []
        if self._trailing_cr:
            # A CR ended the last chunk: a LF starting this one belongs to it.
            chunk = b"\r" + chunk
            self._trailing_cr = False
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                self._trailing_cr = True
                chunk = chunk[:-1]
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._pending + chunk if self._pending else chunk
        blocks = buffer.split(b"\n\n")
        self._pending = blocks.pop()
        found: list[bytes] = []
        for block in blocks:
            if block.startswith(b"data: ") and b"\n" not in block:
                found.append(block[6:])
            elif block:
                data = _block_data(block)
                if data is not None:
                    found.append(data)
        return found


def _block_data(block: bytes) -> bytes | None:
    """The data of one event given line by line (None if it has no data line)."""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        if line == b"data":
            data.append(b"")
        elif line.startswith(_DATA):
            value = line[len(_DATA) :]
            data.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(data) if data else None
