"""One content decoder (``Content-Encoding``) for every body path, buffered or streamed, with
the shape of httpx's incremental decoders: ``decode(chunk) -> bytes`` as data arrives, then
``flush() -> bytes`` at the end of the body, which also refuses a truncated body.

The decoded size is bounded: ``limit`` bytes in all (a buffered body) or none (a stream, whose
framer bounds each message). A stream is bounded instead by its *compression ratio*: past the
first :data:`RATIO_GRACE` bytes, decoded bytes may be at most :data:`MAX_RATIO` times the
compressed bytes read so far (a bomb inflates ~1000:1; see :data:`MAX_RATIO`). A stream is
decoded in pieces of at most ``piece`` bytes (:meth:`ContentDecoder.pieces`): no single call
inflates more than that, so memory and CPU per call are bounded whatever one compressed chunk
holds. Errors are :class:`~proxy.errors.PayloadError` (corrupt or truncated),
:class:`~proxy.errors.TooLarge` and :class:`~proxy.errors.UnsupportedContent`
(an unknown coding).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from proxy.errors import PayloadError, TooLarge, UnsupportedContent

__all__ = ["MAX_RATIO", "PIECE", "RATIO_GRACE", "ContentDecoder", "decode_body"]

#: Most decoded bytes one ``decode`` call of a stream produces (and :meth:`ContentDecoder.pieces`
#: yields at a time): the transport hands them to the framer one by one, yielding to the loop.
PIECE = 64 * 1024
#: Largest compression ratio a stream may have (decoded / compressed bytes so far). Deflate
#: cannot exceed ~1032:1, and a bomb sits right there (a run of one byte). Real payloads are far
#: below: JSON, NDJSON and log lines compress 4-20:1, very repetitive logs up to ~100:1 (measured
#: with gzip -6 on this project's fixtures and benchmark corpora). 250:1 leaves 2.5x headroom over
#: the most repetitive real text and still cuts a bomb after a few MiB of decoded data.
MAX_RATIO = 250
#: The ratio is judged only past this many decoded bytes: a small body may compress at any ratio
#: (a 1 KiB header of zeros is harmless); this is also the most a bomb inflates unchecked.
RATIO_GRACE = 1024 * 1024


class ContentDecoder:
    """``identity``, ``gzip`` (``x-gzip``) or ``deflate`` (zlib-wrapped, as RFC 9110 means; a raw
    deflate stream is accepted too).

    ``limit``: most decoded bytes in all (None: a stream, bounded by ``max_ratio`` instead)."""

    def __init__(
        self, encoding: str, limit: int | None = None, *, piece: int = PIECE, max_ratio: float | None = MAX_RATIO
    ) -> None:
        enc = encoding.strip().lower()
        self.encoding = enc or "identity"
        self.limit = limit
        self.piece = piece
        self.max_ratio = max_ratio if limit is None else None
        self.size = 0  # decoded bytes so far
        self.read = 0  # compressed bytes so far
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
        """All of ``chunk`` decoded (a buffered body: at most ``limit`` bytes; a stream: see
        :meth:`pieces`, which bounds each step)."""
        return b"".join(self.pieces(chunk))

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        """``chunk`` decoded, in pieces of at most ``piece`` bytes (identity: slices of it), each
        inflated only when asked for; raises TooLarge past the limit or the ratio."""
        if self._z is None:
            self._count(chunk)
            for at in range(0, len(chunk), self.piece):
                yield chunk[at : at + self.piece] if len(chunk) > self.piece else chunk
            return
        data = chunk
        while data:
            room = self.piece if self.limit is None else min(self.piece, self.limit - self.size + 1)
            try:
                out = self._z.decompress(data, max(room, 1))
            except zlib.error:
                raise PayloadError(f"corrupt {self.encoding} body") from None
            # the ratio counts the compressed bytes this step consumed, not the whole chunk: a
            # bomb that arrives in one chunk is judged as it inflates, not after it
            self.read += len(data) - len(self._z.unconsumed_tail)
            data = self._z.unconsumed_tail
            if out:
                yield self._count(out)
            elif data:  # no progress with input left: cannot happen with zlib, but never spin
                raise PayloadError(f"corrupt {self.encoding} body")

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
            raise TooLarge(f"decoded body larger than the limit of {self.limit} bytes")
        if (
            self.max_ratio is not None
            and self._z is not None
            and self.size > RATIO_GRACE
            and self.size > self.max_ratio * max(self.read, 1)
        ):
            raise TooLarge(f"compression ratio above {self.max_ratio:g}:1")
        return out


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """A whole body, decoded and checked (at most ``limit`` bytes once decoded)."""
    dec = ContentDecoder(encoding, limit)
    if dec.identity:
        if len(body) > limit:
            raise TooLarge(f"body larger than the limit of {limit} bytes")
        return body
    return dec.decode(body) + dec.flush()
