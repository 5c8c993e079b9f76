"""Stream framers: pure objects that cut a byte stream into messages, holding back only the
incomplete tail, with a bound on how much they may hold.

Contract (as mitmproxy's stream callables and httpx's incremental decoders): ``feed(chunk)``
returns the messages completed by ``chunk``; ``flush()`` returns what is left at the end of the
stream. A message over the limit raises :class:`StreamError` as soon as the limit is passed, so
nothing of it is ever forwarded.
"""

from __future__ import annotations

from recognizers.types import Finding


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


def safe_cut(text: str, spans: list[tuple[int, int]], holdback: int) -> int:
    """Where a streamed text may be cut: the last whitespace at least ``holdback`` characters
    before its end that no finding crosses. Everything after the cut is held back and scanned
    again with the next chunk, so a value split across chunks is seen whole. Returns 0 when no
    safe cut exists yet (hold everything)."""
    limit = len(text) - holdback
    if limit <= 0:
        return 0
    cut = limit
    while cut > 0:
        # move left to a whitespace boundary
        while cut > 0 and not text[cut - 1].isspace():
            cut -= 1
        if cut == 0:
            return 0
        crossing = [s for s, e in spans if s < cut < e]
        if not crossing:
            return cut
        cut = min(s for s in crossing)
    return 0


class SseEvent:
    """One parsed ``text/event-stream`` event: its data (joined) and its other lines, in order."""

    __slots__ = ("data", "lines")

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        data = []
        for line in lines:
            if line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line == b"data":
                data.append(b"")
        self.data: bytes | None = b"\n".join(data) if data else None

    def render(self, data: str | None) -> bytes:
        """The event with its data replaced (comments, ``event:``, ``id:``, ``retry:`` kept)."""
        out: list[bytes] = []
        wrote = False
        for line in self.lines:
            if line.startswith(b"data:") or line == b"data":
                if not wrote and data is not None:
                    out.extend(b"data: " + part.encode() for part in data.split("\n"))
                    wrote = True
                continue
            out.append(line)
        return b"\n".join(out) + b"\n\n"


class TextStream:
    """Chunked text, boundary-safe: decoded incrementally, scanned in windows, and cut only where
    no finding can still be growing (see :func:`safe_cut`); the tail is held back and scanned
    again with what follows. At most ``max_held`` bytes are ever held."""

    def __init__(self, window: int, max_held: int, charset: str = "utf-8", holdback: int = 256) -> None:
        import codecs

        try:
            self._decoder = codecs.getincrementaldecoder(charset)("strict")
        except LookupError:
            raise StreamError("unknown charset") from None
        self.window = window
        self.max_held = max_held
        self.holdback = min(holdback, max(window // 2, 1))
        self.buf = ""

    @property
    def held(self) -> int:
        return len(self.buf)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        try:
            self.buf += self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            raise StreamError("invalid text in stream") from None

    def ready(self, final: bool = False) -> bool:
        return bool(self.buf) and (final or len(self.buf) >= self.window)

    def take(self, findings: list[Finding], final: bool = False) -> tuple[str, list[Finding]]:
        """Given the findings of :attr:`buf`, the prefix that may be emitted now (and its
        findings); the rest stays held."""
        cut = len(self.buf) if final else safe_cut(self.buf, [(f.start, f.end) for f in findings], self.holdback)
        if cut == 0 and len(self.buf.encode("utf-8")) > self.max_held:
            raise StreamError(f"no safe place to cut the text within {self.max_held} bytes", too_large=True)
        prefix, self.buf = self.buf[:cut], self.buf[cut:]
        return prefix, [f for f in findings if f.end <= cut]
