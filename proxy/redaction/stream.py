"""Stream framers: pure objects that cut a byte stream into messages, holding back only the
incomplete tail, with a bound on how much they may hold.

Contract (as mitmproxy's stream callables and httpx's incremental decoders): ``feed(chunk)``
returns the messages completed by ``chunk``; ``flush()`` returns what is left at the end of the
stream. A message over the limit raises :class:`StreamError` as soon as the limit is passed, so
nothing of it is ever forwarded.
"""

from __future__ import annotations


class StreamError(ValueError):
    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class LineFramer:
    """NDJSON and line-oriented text: one message per ``\\n``-terminated line (``\\r\\n`` ok)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self.line_no = 0

    @property
    def held(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                break
            piece = chunk[start:nl]
            if len(self._buf) + len(piece) > self.max_line:
                raise self._too_long()
            self._buf += piece
            line = bytes(self._buf).removesuffix(b"\r")
            self._buf.clear()
            self.line_no += 1
            out.append(line)
            start = nl + 1
        rest = chunk[start:]
        if len(self._buf) + len(rest) > self.max_line:
            raise self._too_long()
        self._buf += rest
        return out

    def flush(self) -> bytes | None:
        if not self._buf:
            return None
        self.line_no += 1
        line = bytes(self._buf).removesuffix(b"\r")
        self._buf.clear()
        return line

    def _too_long(self) -> StreamError:
        return StreamError(f"line {self.line_no + 1} is longer than {self.max_line} bytes", too_large=True)


class SseFramer:
    """``text/event-stream``: one message per event (lines up to a blank line)."""

    def __init__(self, max_event: int) -> None:
        self.max_event = max_event
        self._lines = LineFramer(max_event)
        self._event: list[bytes] = []
        self._size = 0

    @property
    def held(self) -> int:
        return self._lines.held + self._size

    def feed(self, chunk: bytes) -> list[list[bytes]]:
        return self._take(self._lines.feed(chunk))

    def flush(self) -> list[list[bytes]]:
        tail = self._lines.flush()
        events = self._take([tail] if tail is not None else [])
        if self._event:
            events.append(self._event)
            self._event, self._size = [], 0
        return events

    def _take(self, lines: list[bytes]) -> list[list[bytes]]:
        events = []
        for line in lines:
            if line == b"":
                if self._event:
                    events.append(self._event)
                self._event, self._size = [], 0
                continue
            self._size += len(line) + 1
            if self._size > self.max_event:
                raise StreamError(f"event larger than {self.max_event} bytes", too_large=True)
            self._event.append(line)
        return events
