"""One content decoder (``Content-Encoding``) for every body path, buffered or streamed, with
the shape of httpx's incremental decoders: ``decode(chunk) -> bytes`` as data arrives, then
``flush() -> bytes`` at the end of the body, which also refuses a truncated body.

The decoded size is bounded: ``limit`` bytes in all (a buffered body) or none (a stream, whose
framer bounds each message). Errors are :class:`~proxy.redaction.errors.PayloadError` (corrupt
or truncated), :class:`~proxy.redaction.errors.TooLarge` and
:class:`~proxy.redaction.errors.UnsupportedContent` (an unknown coding).
"""

from __future__ import annotations

import zlib

from proxy.errors import PayloadError, TooLarge, UnsupportedContent

__all__ = ["ContentDecoder", "decode_body"]


class ContentDecoder:
    """``identity``, ``gzip`` (``x-gzip``) or ``deflate`` (zlib-wrapped, as RFC 9110 means; a raw
    deflate stream is accepted too)."""

    def __init__(self, encoding: str, limit: int | None = None) -> None:
        enc = encoding.strip().lower()
        self.encoding = enc or "identity"
        self.limit = limit
        self.size = 0
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise UnsupportedContent("unsupported Content-Encoding (gzip, deflate and identity are accepted)")

    @property
    def identity(self) -> bool:
        return self._z is None

    def decode(self, chunk: bytes) -> bytes:
        if self._z is None:
            return self._count(chunk)
        room = -1 if self.limit is None else self.limit - self.size + 1
        try:
            out = self._z.decompress(chunk, max(room, 1)) if room >= 0 else self._z.decompress(chunk)
        except zlib.error:
            raise PayloadError(f"corrupt {self.encoding} body") from None
        if self._z.unconsumed_tail:
            raise self._too_large()
        return self._count(out)

    def flush(self) -> bytes:
        """The rest of the body; refuses a compressed body that ended before its end marker."""
        if self._z is None:
            return b""
        try:
            out = self._z.flush()
        except zlib.error:
            raise PayloadError(f"corrupt {self.encoding} body") from None
        if not self._z.eof:
            raise PayloadError(f"truncated {self.encoding} body")
        return self._count(out)

    def _count(self, out: bytes) -> bytes:
        self.size += len(out)
        if self.limit is not None and self.size > self.limit:
            raise self._too_large()
        return out

    def _too_large(self) -> TooLarge:
        return TooLarge(f"decoded body larger than the limit of {self.limit} bytes")


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """A whole body, decoded and checked (at most ``limit`` bytes once decoded)."""
    dec = ContentDecoder(encoding, limit)
    if dec.identity:
        if len(body) > limit:
            raise TooLarge(f"body larger than the limit of {limit} bytes")
        return body
    return dec.decode(body) + dec.flush()
