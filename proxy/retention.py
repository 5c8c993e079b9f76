"""Retention of the files the proxy writes beside the traffic: the audit log and the dead-letter
file. Each is an append-only file that several processes may write (``O_APPEND``, one
``write()`` per batch of lines); this module rotates it and deletes what is past retention.

* **Rotation**: when the file reaches ``rotate_bytes``, or when it was last written on an
  earlier UTC day than now (so a rotated file holds whole days), it is renamed to
  ``<name>.<YYYYmmddTHHMMSSZ>`` (the time of rotation) and a new file starts. Writers notice the
  rename by the inode and reopen.
* **Deletion**: a rotated file last written more than ``retention_days`` ago is deleted, and at
  most ``keep`` rotated files are kept (the oldest go first). A record therefore lives at most
  ``retention_days`` + one day.

One process at a time maintains a file: an exclusive ``flock`` on ``<name>.lock`` beside it.
Pure file-system code, blocking: callers off the event loop run it in an executor.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Policy", "maintain", "rotated_files"]

log = logging.getLogger("proxy.retention")

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Policy:
    rotate_bytes: int
    retention_days: float
    keep: int


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of ``path``, oldest first."""
    rx = re.compile(re.escape(path.name) + r"\.(\d{8}T\d{6}Z)(?:\.(\d+))?")
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in path.parent.iterdir():
            m = rx.fullmatch(entry.name)
            if m:
                found.append((m.group(1), int(m.group(2) or 0), entry))
    return [p for _, _, p in sorted(found)]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def due(size: int, mtime: float, policy: Policy, now: float) -> bool:
    """Whether a file of this size, last written at ``mtime``, must be rotated now."""
    return size > 0 and (size >= policy.rotate_bytes or int(mtime // _DAY) < int(now // _DAY))


def maintain(path: Path, policy: Policy, now: float | None = None) -> bool:
    """Rotate ``path`` if it is due, then delete rotated files past retention or past ``keep``.
    Returns whether it rotated. Safe to call from several processes at once."""
    now = time.time() if now is None else now
    rotated = False
    with _locked(path):
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and due(st.st_size, st.st_mtime, policy, now):
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            target = path.with_name(f"{path.name}.{stamp}")
            n = 1
            while target.exists():
                target = path.with_name(f"{path.name}.{stamp}.{n}")
                n += 1
            os.rename(path, target)
            # the new file exists at once, so a writer that reopens finds it (and its mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, st.st_mode & 0o777))
            rotated = True
        old = rotated_files(path)
        cutoff = now - policy.retention_days * _DAY
        excess = max(0, len(old) - policy.keep)
        deleted = 0
        for i, f in enumerate(old):
            try:
                if i < excess or f.stat().st_mtime < cutoff:
                    f.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        if rotated or deleted:
            log.info("%s: rotated=%s, deleted %d file(s) past retention", path.name, rotated, deleted)
    return rotated
