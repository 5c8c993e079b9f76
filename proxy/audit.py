"""Audit records: one JSON line per decision, never a raw value.

Lines are written with one ``write()`` on an ``O_APPEND`` descriptor, so records from several
worker processes never interleave inside a line. The file is rotated by size and by UTC day and
rotated files are deleted past ``retention_days`` (:mod:`proxy.retention`); a writer that finds
the file renamed under it (by another worker, or by logrotate) reopens it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from proxy import retention
from proxy.policy import AuditEvent

#: How often (seconds) a writer checks whether the file is due for rotation or was renamed.
_CHECK_EVERY = 1.0


class AuditLog:
    def __init__(self, path: str | None, policy: retention.Policy | None = None) -> None:
        self.path = Path(path) if path else None
        self.policy = policy
        self._fd: int | None = None
        self._next_check = 0.0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

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
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + _CHECK_EVERY
            self._rotate_if_due()
        os.write(self._fd, ("\n".join(lines) + "\n").encode())
        return len(lines)

    def _rotate_if_due(self) -> None:
        """Rotate when due (one stat of our descriptor), and follow a rename made elsewhere."""
        assert self._fd is not None and self.path is not None
        st = os.fstat(self._fd)
        if self.policy is not None and retention.due(st.st_size, st.st_mtime, self.policy, time.time()):
            retention.maintain(self.path, self.policy)
        try:
            moved = os.stat(self.path).st_ino != st.st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            os.close(self._fd)
            self._open()

    def maintain(self) -> None:
        """Periodic (blocking): rotate if due and delete rotated files past retention, even
        when no record was written for a while."""
        if self.path is not None and self.policy is not None:
            retention.maintain(self.path, self.policy)
            if self._fd is not None:
                self._next_check = 0.0  # the next write follows a rotation at once

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
