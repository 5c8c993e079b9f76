"""The embedded vault store: one SQLite database (WAL) under ``vault.dir`` (``${SPOOL_DIR}``),
shared by the workers of one host and the supervisor's admin port.

``vault.db`` (mode 0600) holds one row per token: the index and person HMACs, the sealed value and
its expiry. ``secure_delete`` is on (a deleted row's bytes are overwritten, not left in a free
page) and an erasure checkpoints and truncates the WAL, so an erased entry's ciphertext is gone
from the files, not just unreachable. Expired rows are deleted by every write (a bounded batch)
and never read.

SQLite is synchronous: each store runs its connection on one thread of its own, off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from proxy.errors import VaultError
from proxy.vault import Entry

__all__ = ["DB_NAME", "SqliteStore"]

DB_NAME = "vault.db"
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tokens (
        token TEXT PRIMARY KEY,
        idx BLOB NOT NULL UNIQUE,
        person BLOB NOT NULL,
        sealed BLOB NOT NULL,
        expires REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS tokens_person ON tokens (person)",
    "CREATE INDEX IF NOT EXISTS tokens_expires ON tokens (expires)",
)
#: Expired rows deleted per write transaction (the rest by the next ones).
_PURGE_BATCH = 256
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
T = TypeVar("T")


class SqliteStore:
    name = "sqlite"

    def __init__(self, directory: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.dir = Path(directory)
        self.path = self.dir / DB_NAME
        self._busy = busy_timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-sqlite")
        self._db: sqlite3.Connection | None = None
        self._clock: Callable[[], float] = time.time

    # ---- the connection (on the store's thread only) -------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:  # created empty and 0600 before SQLite opens it (its -wal and -shm copy its mode); a
            # new file: no lock of this process on it can be dropped by this close
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        db = sqlite3.connect(self.path, timeout=self._busy, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + self._busy
        while True:
            try:
                if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                    raise VaultError("the vault database cannot use WAL mode")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA secure_delete=ON")
                db.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA:
                    db.execute(stmt)
                db.execute("COMMIT")
                break
            except sqlite3.OperationalError as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if exc.sqlite_errorcode & 0xFF not in _BUSY or time.monotonic() > deadline:
                    db.close()
                    raise
                time.sleep(0.02)
        self._db = db
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return fn(self._conn())
            except sqlite3.Error as exc:
                raise VaultError(f"vault store failed ({exc.__class__.__name__})") from None

        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    # ---- the store ------------------------------------------------------------------------------
    async def issue(self, entries: Sequence[Entry], ttl: float) -> list[str | None]:
        def go(db: sqlite3.Connection) -> list[str | None]:
            now = self._clock()
            found = self._live_tokens(db, [e.index for e in entries], now)
            if all(e.index in found for e in entries):  # every person known: no write at all
                return [found[e.index] for e in entries]
            out: list[str | None] = []
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "DELETE FROM tokens WHERE token IN (SELECT token FROM tokens WHERE expires <= ? LIMIT ?)",
                    (now, _PURGE_BATCH),
                )
                found = self._live_tokens(db, [e.index for e in entries], now)
                for e in entries:
                    if e.index in found:
                        out.append(found[e.index])
                        continue
                    db.execute("DELETE FROM tokens WHERE idx = ?", (e.index,))  # an expired one
                    try:
                        db.execute(
                            "INSERT INTO tokens (token, idx, person, sealed, expires) VALUES (?, ?, ?, ?, ?)",
                            (e.token, e.index, e.person, e.sealed, now + ttl),
                        )
                    except sqlite3.IntegrityError:  # the token id is taken
                        out.append(None)
                        continue
                    found[e.index] = e.token
                    out.append(e.token)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            return out

        return await self._run(go)

    @staticmethod
    def _live_tokens(db: sqlite3.Connection, indexes: list[bytes], now: float) -> dict[bytes, str]:
        out: dict[bytes, str] = {}
        for at in range(0, len(indexes), 500):
            part = indexes[at : at + 500]
            marks = ",".join("?" * len(part))
            rows = db.execute(f"SELECT idx, token FROM tokens WHERE idx IN ({marks}) AND expires > ?", (*part, now))
            out.update(rows.fetchall())
        return out

    async def fetch(self, tokens: Sequence[str]) -> dict[str, bytes]:
        def go(db: sqlite3.Connection) -> dict[str, bytes]:
            now = self._clock()
            out: dict[str, bytes] = {}
            for at in range(0, len(tokens), 500):
                part = list(tokens[at : at + 500])
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"SELECT token, sealed FROM tokens WHERE token IN ({marks}) AND expires > ?", (*part, now)
                )
                out.update(rows.fetchall())
            return out

        return await self._run(go)

    async def tokens_of(self, person: bytes) -> list[str]:
        def go(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT token FROM tokens WHERE person = ? AND expires > ?", (person, self._clock()))
            return [r[0] for r in rows]

        return await self._run(go)

    async def erase(self, person: bytes) -> int:
        def go(db: sqlite3.Connection) -> int:
            n = db.execute("DELETE FROM tokens WHERE person = ? AND expires > ?", (person, self._clock())).rowcount
            db.execute("DELETE FROM tokens WHERE person = ?", (person,))
            # the WAL still holds the pages as they were: copy them back and truncate it (a reader
            # in another process may hold the checkpoint back; the next erasure or close retries)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return int(n)

        return await self._run(go)

    async def purge(self) -> int:
        def go(db: sqlite3.Connection) -> int:
            n = int(db.execute("DELETE FROM tokens WHERE expires <= ?", (self._clock(),)).rowcount)
            if n:  # the deleted rows' pages, as they were, out of the WAL too
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return n

        return await self._run(go)

    async def close(self) -> None:
        def go(db: sqlite3.Connection) -> None:
            db.close()

        if self._db is not None:
            with contextlib.suppress(VaultError):
                await self._run(go)
            self._db = None
        self._pool.shutdown(wait=False)
