"""Audit records: one JSON line per decision, never a raw value.

Lines are written with one ``write()`` on an ``O_APPEND`` descriptor, so records from several
worker processes never interleave inside a line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from proxy.policy import AuditEvent


class AuditLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(self, events: Iterable[AuditEvent], *, request_id: str, destination: str, direction: str) -> int:
        if self._fd is None:
            return 0
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
        lines = [
            json.dumps(
                {"ts": ts, "request_id": request_id, "destination": destination, "direction": direction, **e.as_dict()},
                separators=(",", ":"),
            )
            for e in events
        ]
        if not lines:
            return 0
        os.write(self._fd, ("\n".join(lines) + "\n").encode())
        return len(lines)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
