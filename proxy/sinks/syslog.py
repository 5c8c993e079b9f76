"""RFC 5424 messages with RFC 6587 octet-counted framing, sans-io.

One record becomes one message::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME - - - {"...":"...","_record_id":"..."}

* PRI = facility * 8 + severity; the severity comes from the record's ``level`` (or
  ``severity``) field when it names one (``error``, ``warning``, ``3`` ...), else informational.
* TIMESTAMP is when the proxy accepted the record (UTC, microseconds).
* MSG is the redacted record as one line of JSON (JSON escapes newlines, so a record never
  spans lines); no BOM (RFC 5424 allows MSG-ANY, and file outputs stay plain JSON).
* Framing: ``MSG-LEN SP SYSLOG-MSG``, so messages may contain anything, newlines included.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

INFORMATIONAL = 6

_SEVERITIES = {
    "emerg": 0, "emergency": 0, "panic": 0,
    "alert": 1,
    "crit": 2, "critical": 2, "fatal": 2,
    "err": 3, "error": 3,
    "warn": 4, "warning": 4,
    "notice": 5,
    "info": 6, "informational": 6,
    "debug": 7, "trace": 7,
}  # fmt: skip

_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")


def header_field(value: str, max_len: int) -> str:
    """A HOSTNAME / APP-NAME / PROCID / MSGID: printable US-ASCII without spaces, or ``-``."""
    cleaned = _NOT_PRINTUSASCII.sub("_", value)[:max_len]
    return cleaned or "-"


def severity_of(record: Any) -> int:
    if not isinstance(record, dict):
        return INFORMATIONAL
    for key in ("level", "severity", "log_level", "levelname"):
        value = record.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 0 <= value <= 7:
            return value
        if isinstance(value, str):
            got = _SEVERITIES.get(value.strip().lower())
            if got is not None:
                return got
    return INFORMATIONAL


def timestamp(t: float) -> str:
    whole = int(t)
    micros = round((t - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def message(body: bytes, accepted: float, *, hostname: str, app_name: str, facility: int) -> bytes:
    """The RFC 5424 message of one encoded record (``body``: its JSON line)."""
    try:
        record = json.loads(body)
    except ValueError:
        record = None
    pri = facility * 8 + severity_of(record)
    head = f"<{pri}>1 {timestamp(accepted)} {header_field(hostname, 255)} {header_field(app_name, 48)} - - - "
    return head.encode("ascii") + body


def frame(msg: bytes) -> bytes:
    """RFC 6587 octet counting: the length in ASCII digits, a space, the message."""
    return str(len(msg)).encode("ascii") + b" " + msg


def unframe(data: bytes) -> tuple[list[bytes], bytes]:
    """Split octet-counted frames (for tests and tools); returns the messages and the rest."""
    out: list[bytes] = []
    at = 0
    while True:
        space = data.find(b" ", at)
        if space < 0 or not data[at:space].isdigit():
            break
        n = int(data[at:space])
        if space + 1 + n > len(data):
            break
        out.append(data[space + 1 : space + 1 + n])
        at = space + 1 + n
    return out, data[at:]
