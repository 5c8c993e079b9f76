"""Log records, sans-io: the body of ``POST /logs/`` split into records, and a redacted record
turned into the bytes the spool keeps and the sink receives.

* ``application/x-ndjson``: one JSON value a line. An object is a record; any other value (a
  string, a number, an array ...) becomes ``{"message": value}``.
* ``text/plain``: each line becomes ``{"message": line}``.
* Blank lines are skipped in both; a trailing ``\\r`` is dropped (CRLF bodies).
* Line numbers are 1-based and count every physical line, blank ones included.

Errors name the line and the problem, never the content of the line.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from proxy.errors import PayloadError, TooLarge
from proxy.redaction import parse_json

__all__ = ["RECORD_ID", "encode_record", "new_record_id", "parse_records", "record_id_of"]

RECORD_ID = "_record_id"


def parse_records(body: bytes, kind: str, charset: str | None = None, max_line_bytes: int | None = None) -> list[Any]:
    """Split ``body`` into records (``kind``: ``ndjson`` or ``text``); all or nothing.

    Raises :class:`~proxy.errors.PayloadError` or :class:`~proxy.errors.TooLarge` (a line over
    ``max_line_bytes``) naming the line: ``line N: problem``."""
    if kind not in ("ndjson", "text"):
        raise ValueError(f"unknown record format {kind!r}")
    encoding = (charset or "utf-8") if kind == "text" else "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        raise PayloadError("line 1: unknown charset") from None
    records: list[Any] = []
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if max_line_bytes is not None and len(raw) > max_line_bytes:
            raise TooLarge(f"line {number}: line longer than the limit of {max_line_bytes} bytes")
        try:
            text = raw.decode(encoding, errors="strict")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"line {number}: invalid {encoding} at byte {exc.start}") from None
        if not text.strip():
            continue
        if kind == "text":
            records.append({"message": text})
            continue
        try:
            value = parse_json(text)
        except PayloadError as exc:
            raise PayloadError(f"line {number}: {exc.message}") from None
        records.append(value if isinstance(value, dict) else {"message": value})
    return records


def new_record_id() -> str:
    """Unique, opaque; assigned once at ingest and stored with the record, so every redelivery
    carries the same one."""
    return uuid.uuid4().hex


def encode_record(value: Any, record_id: str) -> bytes:
    """One redacted record as one NDJSON line (without the newline), ``_record_id`` added.

    A ``_record_id`` the client sent is replaced: the sink relies on ours to de-duplicate."""
    if not isinstance(value, dict):  # the redactor keeps the shape; be safe anyway
        value = {"message": value}
    out = {k: v for k, v in value.items() if k != RECORD_ID}
    out[RECORD_ID] = record_id
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def record_id_of(body: bytes) -> str | None:
    """The ``_record_id`` of an encoded record (``None`` when it has none)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    rid = value.get(RECORD_ID) if isinstance(value, dict) else None
    return rid if isinstance(rid, str) else None
