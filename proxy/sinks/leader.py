"""Which worker delivers: the one holding an exclusive ``flock`` on the sink's lock file.

Every worker tries the lock now and then; exactly one holds it, and the kernel releases it when
that process dies (even by SIGKILL), so another worker (or the restarted one) takes over within
one try interval. Ordering holds because only the holder reads and removes records.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class LeaderLock:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Non-blocking; ``True`` when this object holds the lock (now or already)."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        with contextlib.suppress(OSError):  # for ops: who delivers
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
