"""Stream redactors, and the framers under them.

Every stream redactor keeps the contract of :class:`proxy.redaction.core.StreamRedactor`:
``await feed(chunk) -> bytes`` gives the redacted bytes of every message ``chunk`` completed,
``await flush() -> bytes`` the rest at the end of the stream; ``held`` is what waits for the rest
of its message. They are made by :meth:`proxy.redaction.core.Redaction.stream` (NDJSON, SSE,
chunked text) and :meth:`~proxy.redaction.core.Redaction.messages` (WebSocket text).

The framers below them are pure and synchronous: they cut bytes into messages, holding back only
the incomplete tail, with a bound on how much they may hold. A message over the limit raises
:class:`~proxy.errors.TooLarge` as soon as the limit is passed, so nothing of it is
ever forwarded.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from proxy.errors import PayloadError, RedactionError, TooLarge, UnsupportedContent, Withheld
from proxy.policy import AuditEvent
from proxy.redaction.plan import Batch, Detect, OnMessage, Plan, run
from recognizers.types import Finding

if TYPE_CHECKING:
    from proxy.redaction.core import Redaction

__all__ = [
    "LineFramer",
    "MessageRedactor",
    "NdjsonRedactor",
    "Passthrough",
    "SseEvent",
    "SseFramer",
    "SseRedactor",
    "TextRedactor",
    "TextStream",
    "safe_cut",
]


class LineFramer:
    """NDJSON and line-oriented text: one message per ``\\n``-terminated line (``\\r\\n`` ok).

    Lines are cut with ``bytes.split`` (C speed: a chunk of blank lines costs a list of empty
    bytes, no Python step per byte); only the incomplete tail is copied into the buffer."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self.line_no = 0

    @property
    def held(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if len(self._buf) + len(chunk) > self.max_line:
                raise self._too_long(0)
            self._buf += chunk
            return []
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if self._buf:
            if len(self._buf) + len(lines[0]) > self.max_line:
                raise self._too_long(0)
            self._buf += lines[0]
            lines[0] = bytes(self._buf)
            self._buf.clear()
        if len(chunk) - len(lines) > self.max_line and max(map(len, lines)) > self.max_line:
            raise self._too_long(next(i for i, line in enumerate(lines) if len(line) > self.max_line))
        if len(rest) > self.max_line:
            raise self._too_long(len(lines))
        if b"\r" in chunk or lines[0].endswith(b"\r"):  # the \r may have come with the last chunk
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        self.line_no += len(lines)
        self._buf += rest
        return lines

    def flush(self) -> bytes | None:
        if not self._buf:
            return None
        self.line_no += 1
        line = bytes(self._buf).removesuffix(b"\r")
        self._buf.clear()
        return line

    def _too_long(self, index: int) -> TooLarge:
        return TooLarge(f"line {self.line_no + index + 1} is longer than {self.max_line} bytes")


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
                raise TooLarge(f"event larger than {self.max_event} bytes")
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


def _field(line: bytes) -> tuple[bytes, bytes]:
    name, sep, value = line.partition(b":")
    if sep and value.startswith(b" "):
        value = value[1:]
    return name, value


class SseEvent:
    """One parsed ``text/event-stream`` event: its data (joined), the values of its ``id`` and
    ``event`` lines (scanned too: they are free text), and its lines in order."""

    __slots__ = ("data", "fields", "lines")

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        data = []
        #: (line index, value) of ``id:`` and ``event:`` lines
        self.fields: list[tuple[int, bytes]] = []
        for i, line in enumerate(lines):
            name, value = _field(line)
            if name == b"data":
                data.append(value)
            elif name in (b"id", b"event"):
                self.fields.append((i, value))
        self.data: bytes | None = b"\n".join(data) if data else None

    def render(self, data: str | None, fields: dict[int, str] | None = None) -> bytes:
        """The event with its data and ``id``/``event`` values replaced. A comment keeps its
        meaning (a keep-alive) but not its text; ``retry`` passes only as a number of at most 7 digits; lines of any
        other field are dropped (clients ignore them; they could carry anything)."""
        out: list[bytes] = []
        wrote = False
        fields = fields or {}
        for i, line in enumerate(self.lines):
            if line.startswith(b":"):
                out.append(b":")
                continue
            name, value = _field(line)
            if name == b"data":
                if not wrote and data is not None:
                    out.extend(b"data: " + part.encode() for part in data.split("\n"))
                    wrote = True
            elif name in (b"id", b"event"):
                if i in fields:
                    out.append(name + b": " + fields[i].replace("\n", " ").encode())
            elif name == b"retry" and value.isdigit() and len(value) <= 7:  # ms: a number, not a phone
                out.append(b"retry: " + value)
        return b"\n".join(out) + b"\n\n"


class TextStream:
    """Chunked text, boundary-safe: decoded incrementally, scanned in windows, and cut only where
    no finding can still be growing (see :func:`safe_cut`); the tail is held back and scanned
    again with what follows. At most ``max_held`` bytes are ever held."""

    def __init__(self, window: int, max_held: int, charset: str = "utf-8", holdback: int = 256) -> None:
        try:
            self._decoder = codecs.getincrementaldecoder(charset)("strict")
        except LookupError:
            raise UnsupportedContent("unknown charset") from None
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
            raise PayloadError("invalid text in stream") from None

    def ready(self, final: bool = False) -> bool:
        return bool(self.buf) and (final or len(self.buf) >= self.window)

    def take(self, findings: list[Finding], final: bool = False) -> tuple[str, list[Finding]]:
        """Given the findings of :attr:`buf`, the prefix that may be emitted now (and its
        findings); the rest stays held."""
        cut = len(self.buf) if final else safe_cut(self.buf, [(f.start, f.end) for f in findings], self.holdback)
        if cut == 0 and len(self.buf.encode("utf-8")) > self.max_held:
            raise TooLarge(f"no safe place to cut the text within {self.max_held} bytes")
        prefix, self.buf = self.buf[:cut], self.buf[cut:]
        return prefix, [f for f in findings if f.end <= cut]


# ---- stream redactors ----------------------------------------------------------------------------
class Passthrough:
    """A direction the destination does not redact: bytes out as they came in."""

    held = 0

    async def feed(self, chunk: bytes) -> bytes:
        return chunk

    async def flush(self) -> bytes:
        return b""


def _cut(err: RedactionError, partial: bytearray) -> RedactionError:
    err.partial = bytes(partial)
    return err


class _Redactor:
    """What every stream redactor holds: its destination's redaction, detection, the callback
    per message."""

    def __init__(self, redaction: Redaction, detect: Detect, on_message: OnMessage, scope: str | None = None) -> None:
        self._red = redaction
        self._detect = detect
        self._on_message = on_message
        #: The conversation the transport knows (pseudonyms), for messages that name none.
        self._scope = scope


class NdjsonRedactor(_Redactor):
    """One JSON value a line; the lines one chunk completes go to detection in one call. A bad
    line ends the stream: the lines before it are redacted and carried as ``partial``."""

    def __init__(self, redaction: Redaction, detect: Detect, on_message: OnMessage, scope: str | None = None) -> None:
        super().__init__(redaction, detect, on_message, scope)
        self._framer = LineFramer(redaction.limits.max_message_bytes)

    @property
    def held(self) -> int:
        return self._framer.held

    async def feed(self, chunk: bytes) -> bytes:
        return await self._lines(self._framer.feed(chunk))

    async def flush(self) -> bytes:
        tail = self._framer.flush()
        return await self._lines([tail] if tail is not None else [])

    async def _lines(self, lines: list[bytes]) -> bytes:
        if not lines:
            return b""
        first = self._framer.line_no - len(lines) + 1
        plans: list[Plan | None] = []
        err: RedactionError | None = None
        for i, line in enumerate(lines):
            if not line.strip():
                plans.append(None)
                continue
            try:
                plans.append(self._red.plan_line(line, self._scope))
            except PayloadError as exc:
                err = PayloadError(f"line {first + i}: {exc.message}")
                break
            except Withheld as exc:  # the lines before it go; the stream ends with it
                err = exc
                break
        results = iter(await run(Batch([p for p in plans if p is not None]), self._detect))
        out = bytearray()
        for line, plan in zip(lines, plans, strict=False):
            if plan is None:
                out += line + b"\n"
                continue
            value, events = next(results)
            self._on_message(events)
            out += value + b"\n"
        if err is not None:
            raise _cut(err, out)
        return bytes(out)


class SseRedactor(_Redactor):
    """``text/event-stream``: each event's data redacted as a chat message (JSON by the field
    rules, other text whole); the events one chunk completes go to detection in one call."""

    def __init__(self, redaction: Redaction, detect: Detect, on_message: OnMessage, scope: str | None = None) -> None:
        super().__init__(redaction, detect, on_message, scope)
        self._framer = SseFramer(redaction.limits.max_message_bytes)

    @property
    def held(self) -> int:
        return self._framer.held

    async def feed(self, chunk: bytes) -> bytes:
        return await self._events(self._framer.feed(chunk))

    async def flush(self) -> bytes:
        return await self._events(self._framer.flush())

    async def _events(self, raw: list[list[bytes]]) -> bytes:
        if not raw:
            return b""
        events = [SseEvent(e) for e in raw]
        plans: list[tuple[Plan | None, list[tuple[int, Plan]]]] = []
        err: RedactionError | None = None
        for ev in events:
            try:
                data = self._red.plan_message(ev.data.decode("utf-8"), self._scope) if ev.data is not None else None
                fields = [(i, self._red.plan_text(v.decode("utf-8"), "sse.field", self._scope)) for i, v in ev.fields]
            except UnicodeDecodeError:
                err = PayloadError("event is not valid UTF-8")
                break
            plans.append((data, fields))
        flat = [p for data, fields in plans for p in ([data] if data else []) + [f for _, f in fields]]
        results = iter(await run(Batch(flat), self._detect))
        out = bytearray()
        for ev, (data, fields) in zip(events, plans, strict=False):
            decisions: list[AuditEvent] = []
            value = None
            if data is not None:
                value, evs = next(results)
                decisions += evs
            replaced: dict[int, str] = {}
            for i, _ in fields:
                text, evs = next(results)
                replaced[i] = str(text)
                decisions += evs
            if data is not None or fields:
                self._on_message(decisions)
            out += ev.render(None if value is None else str(value), replaced)
        if err is not None:
            raise _cut(err, out)
        return bytes(out)


class TextRedactor(_Redactor):
    """Chunked text, boundary-safe (see :class:`TextStream`): forwarded as UTF-8."""

    def __init__(
        self,
        redaction: Redaction,
        detect: Detect,
        on_message: OnMessage,
        charset: str = "utf-8",
        scope: str | None = None,
    ) -> None:
        super().__init__(redaction, detect, on_message, scope)
        lim = redaction.limits
        self._text = TextStream(lim.stream_window_bytes, lim.max_message_bytes, charset)

    @property
    def held(self) -> int:
        return self._text.held

    async def feed(self, chunk: bytes) -> bytes:
        self._text.feed(chunk)
        return await self._drain(False)

    async def flush(self) -> bytes:
        self._text.feed(b"", final=True)
        return await self._drain(True)

    async def _drain(self, final: bool) -> bytes:
        out = bytearray()
        ts = self._text
        while ts.ready(final):
            (findings,) = await self._detect([ts.buf])
            try:
                prefix, inside = ts.take(findings, final)
            except RedactionError as err:
                raise _cut(err, out) from None
            if not prefix:
                break  # no safe cut yet: wait for more of the stream
            if self._red.policy.pseudonymises:
                plan = self._red.plan_text(prefix, "body", self._scope)
                await plan.resolve([inside])
                text, events = plan.finish([inside])
            else:
                text, events = self._red.finish_text(prefix, inside, "body")
            self._on_message(events)
            out += text.encode("utf-8")
        return bytes(out)


class MessageRedactor(_Redactor):
    """WebSocket text messages: each ``feed`` is one whole message (aiohttp reassembles
    fragments and checks UTF-8 and the size limit), redacted as a chat message."""

    held = 0

    async def feed(self, chunk: bytes) -> bytes:
        try:
            data = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("message is not valid UTF-8") from None
        value, events = await run(self._red.plan_message(data, self._scope), self._detect)
        self._on_message(events)
        return str(value).encode("utf-8")

    async def flush(self) -> bytes:
        return b""
