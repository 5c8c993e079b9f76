"""Un-masking: pseudonym tokens coming back (a partner's answer quoting ``<PERSON_3f9c...>``)
replaced by the values the vault holds for them. Sans-io: the vault's ``reveal`` is injected.

Bytes in, bytes out, everything but the tokens passed as it came (the answer is not parsed nor
re-serialised). Tokens are ASCII, so they are found in the bytes of any ASCII-compatible charset
without decoding (a UTF-8 multi-byte sequence never holds an ASCII byte). In JSON (and SSE,
NDJSON, JSON WebSocket messages) the value is written JSON-escaped and the escaped form of a
token (``\\u003cPERSON_...\\u003e``, as some serialisers write ``<``) is found too; in plain text,
control characters of a value become blanks. A token the vault does not know (erased, expired,
forged) stays exactly as it is.

Stream-safe: a chunk's tail that could be the start of a token is held back (at most
:data:`MAX_TOKEN` bytes) and searched again with the next chunk, so a token split across chunks
is found whole. One ``reveal`` per chunk (or message), and none when a chunk holds no token.
"""

from __future__ import annotations

import json as _json
from collections.abc import Awaitable, Callable, Sequence

import regex

__all__ = ["MAX_TOKEN", "MessageUnmasker", "StreamUnmasker", "unmaskable"]

Reveal = Callable[[Sequence[str]], Awaitable[dict[str, str]]]

#: A token, raw or with ``<``/``>`` JSON-escaped; group 1 is what is between the brackets.
_TOKEN = regex.compile(rb"(?:<|\\u003[cC])([A-Z][A-Z0-9_]{0,47}_[0-9a-f]{16})(?:>|\\u003[eE])")
#: The longest form of a token, in bytes: what a stream may hold back.
MAX_TOKEN = 6 + 48 + 1 + 16 + 6
_CONTROL = regex.compile(r"[\x00-\x1f\x7f]")


def unmaskable(ctype: str) -> bool:
    """Text-like bodies (JSON, NDJSON, SSE, text/*): where a token can be written back."""
    return (
        ctype.startswith("text/")
        or ctype in ("application/json", "application/x-ndjson")
        or (ctype.startswith("application/") and ctype.endswith("+json"))
    )


def _keep_from(data: bytes) -> int:
    """Where the tail that could still grow into a token starts (``len(data)``: none)."""
    start = max(len(data) - MAX_TOKEN, 0)
    at = start
    while True:
        lt, bs = data.find(b"<", at), data.find(b"\\", at)
        i = min((x for x in (lt, bs) if x >= 0), default=-1)
        if i < 0:
            return len(data)
        m = _TOKEN.match(data, i, partial=True)
        if m is not None and m.partial:
            return i
        at = i + 1


class _Replacer:
    def __init__(self, reveal: Reveal, json: bool, charset: str = "utf-8") -> None:
        self._reveal = reveal
        self._json = json
        self._charset = charset

    def _encode(self, value: str, escaped: bool) -> bytes | None:
        text = _json.dumps(value, ensure_ascii=False)[1:-1] if self._json or escaped else _CONTROL.sub(" ", value)
        try:
            return text.encode(self._charset)
        except (UnicodeEncodeError, LookupError):
            return None

    async def replace(self, data: bytes) -> bytes:
        found = _TOKEN.findall(data)
        if not found:
            return data
        tokens = list(dict.fromkeys("<" + t.decode("ascii") + ">" for t in found))
        values = await self._reveal(tokens)
        if not values:
            return data

        def sub(m: regex.Match[bytes]) -> bytes:
            whole: bytes = m.group(0)
            value = values.get("<" + m.group(1).decode("ascii") + ">")
            out = None if value is None else self._encode(value, whole[:1] == b"\\")
            return whole if out is None else out

        return bytes(_TOKEN.sub(sub, data))


class StreamUnmasker:
    """A body (JSON, NDJSON, SSE, text), chunk by chunk: the stream contract of
    :class:`proxy.redaction.core.StreamRedactor`."""

    def __init__(self, reveal: Reveal, *, json: bool, charset: str = "utf-8") -> None:
        self._r = _Replacer(reveal, json, charset)
        self._buf = b""

    @property
    def held(self) -> int:
        return len(self._buf)

    async def feed(self, chunk: bytes) -> bytes:
        data = self._buf + chunk if self._buf else chunk
        cut = _keep_from(data)
        self._buf = data[cut:]
        return await self._r.replace(data[:cut]) if cut else b""

    async def flush(self) -> bytes:
        data, self._buf = self._buf, b""
        return await self._r.replace(data) if data else b""


class MessageUnmasker:
    """WebSocket text messages, one whole message per ``feed``: JSON-escaped values in a message
    that is JSON, plain ones otherwise."""

    held = 0

    def __init__(self, reveal: Reveal) -> None:
        self._json = _Replacer(reveal, True)
        self._text = _Replacer(reveal, False)

    async def feed(self, chunk: bytes) -> bytes:
        looks_json = chunk.lstrip()[:1] in (b"{", b"[", b'"')
        return await (self._json if looks_json else self._text).replace(chunk)

    async def flush(self) -> bytes:
        return b""
