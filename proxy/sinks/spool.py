"""The durable spool: redacted log records waiting for their sink, in one SQLite database in WAL
mode, shared by every worker process of the proxy (and surviving them).

Layout of ``spool.dir``::

    spool.db, spool.db-wal, spool.db-shm   the queue (mode 0600)
    forwarder-<sink>.lock                  flock'd by the one worker delivering that sink
    dead-letter.ndjson                     records a sink rejected as invalid

* ``append`` commits whole requests in one transaction each (all or nothing), with
  ``synchronous=FULL``: when it returns, the records are in the fsync'd WAL and survive a
  SIGKILL or a power cut. Several requests may share one transaction (group commit), each
  still all or nothing. (``ack`` skips the fsync: a lost ``ack`` only means a redelivery.)
* The order of ``seq`` (``INTEGER PRIMARY KEY AUTOINCREMENT``, never reused) is the order of
  acceptance: it is assigned under SQLite's write lock and visible only after commit, so a
  reader never sees a later record before an earlier one.
* The size bound counts the bytes of the records (not SQLite's pages) of all sinks together,
  kept in a ``stats`` row updated in the same transactions, so the check costs no scan.
* ``peek`` reads from the head without removing; ``ack`` removes a delivered prefix. Only the
  delivering worker (the holder of the sink's lock) calls them.

* Only SQLite ever opens ``spool.db`` (see :func:`_create_private`): SQLite's locks on it are
  what tell a closing connection whether it is the last user, the one that checkpoints and
  deletes ``-wal``/``-shm``. A stray ``open`` + ``close`` of the file in a process drops that
  process's locks, and the WAL can then be deleted under it (commits lost after a reload).

This class is synchronous: the transport calls it on its own threads, never on the event loop.
One :class:`Spool` object (one connection) must be used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from proxy import retention
from proxy.errors import SinkError

DB_NAME = "spool.db"
DEAD_LETTER = "dead-letter.ndjson"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sink TEXT NOT NULL,
        accepted REAL NOT NULL,
        size INTEGER NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS records_sink_seq ON records (sink, seq)",
    """CREATE TABLE IF NOT EXISTS stats (
        sink TEXT PRIMARY KEY,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    )""",
)


_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SpoolError(SinkError):
    """The spool cannot be used (disk error, lock held too long ...). Nothing was committed."""


class SpoolFull(SpoolError):
    """No room for these records. Nothing was committed."""


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    accepted: float
    body: bytes


@dataclass(frozen=True, slots=True)
class Depth:
    records: int
    bytes: int
    #: Unix time the oldest waiting record was accepted (``None``: nothing waits).
    oldest: float | None


class Spool:
    def __init__(
        self, directory: str | Path, max_bytes: int, *, busy_timeout: float = 10.0, durable: bool = True
    ) -> None:
        """``durable=False`` (the delivering side) skips the fsync of its own commits: losing an
        ``ack`` to a power cut only means a redelivery, never a loss."""
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self._sync = "FULL" if durable else "NORMAL"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.dir / DB_NAME
        _create_private(path)
        try:
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False, cached_statements=32
            )
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the spool: {_describe(exc)}") from None
        # Workers start together on a fresh directory: switching to WAL can answer "locked"
        # without waiting for the busy timeout, so the set-up is retried for that long.
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._setup()
                break
            except sqlite3.OperationalError as exc:
                if _primary(exc) not in _BUSY or time.monotonic() > deadline:
                    self.close()
                    raise SpoolError(f"cannot open the spool: {_describe(exc)}") from None
                time.sleep(0.02)
            except sqlite3.Error as exc:
                self.close()
                raise SpoolError(f"cannot open the spool: {_describe(exc)}") from None
        _make_private(path)

    def _setup(self) -> None:
        if self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.OperationalError("the spool database cannot use WAL mode")
        self._db.execute(f"PRAGMA synchronous={self._sync}")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("PRAGMA journal_size_limit=67108864")
        with self._write():
            for stmt in _SCHEMA:
                self._db.execute(stmt)

    @property
    def dead_letter_path(self) -> Path:
        return self.dir / DEAD_LETTER

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- writers (every worker) --------------------------------------------------------------
    def append(self, sink: str, bodies: Sequence[bytes]) -> None:
        """Commit one request's records (all or nothing); raise SpoolFull when they do not fit."""
        (result,) = self.append_many([(sink, bodies)])
        if result is not None:
            raise result

    def append_many(self, batches: Sequence[tuple[str, Sequence[bytes]]]) -> list[SpoolError | None]:
        """Commit several requests in one transaction (group commit). Each one fits whole or gets
        :class:`SpoolFull`; a disk error fails them all (``SpoolError`` raised)."""
        results: list[SpoolError | None] = []
        now = time.time()
        try:
            with self._write():
                used = self._db.execute("SELECT coalesce(sum(bytes), 0) FROM stats").fetchone()[0]
                added: dict[str, tuple[int, int]] = {}
                for sink, bodies in batches:
                    size = sum(len(b) for b in bodies)
                    if used + size > self.max_bytes:
                        results.append(SpoolFull(f"the spool is full ({self.max_bytes} bytes)"))
                        continue
                    self._db.executemany(
                        "INSERT INTO records (sink, accepted, size, body) VALUES (?, ?, ?, ?)",
                        [(sink, now, len(b), b) for b in bodies],
                    )
                    used += size
                    n, s = added.get(sink, (0, 0))
                    added[sink] = (n + len(bodies), s + size)
                    results.append(None)
                for sink, (n, s) in added.items():
                    self._bump(sink, n, s)
        except sqlite3.Error as exc:
            if _primary(exc) == sqlite3.SQLITE_FULL:
                raise SpoolFull("the disk of the spool is full") from None
            raise SpoolError(f"cannot write to the spool: {_describe(exc)}") from None
        return results

    def _bump(self, sink: str, records: int, size: int) -> None:
        self._db.execute(
            "INSERT INTO stats (sink, records, bytes) VALUES (?, ?, ?) "
            "ON CONFLICT (sink) DO UPDATE SET records = records + excluded.records, bytes = bytes + excluded.bytes",
            (sink, records, size),
        )

    # ---- the delivering worker ---------------------------------------------------------------
    def peek(self, sink: str, max_records: int, max_bytes: int) -> list[Row]:
        """The oldest records of ``sink``, in order: at most ``max_records`` and, past the first
        one, at most ``max_bytes`` in total."""
        rows: list[Row] = []
        total = 0
        try:
            cur = self._db.execute(
                "SELECT seq, accepted, size, body FROM records WHERE sink = ? ORDER BY seq LIMIT ?",
                (sink, max_records),
            )
            for seq, accepted, size, body in cur:
                if rows and total + size > max_bytes:
                    break
                rows.append(Row(seq, accepted, bytes(body)))
                total += size
            cur.close()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the spool: {_describe(exc)}") from None
        return rows

    def ack(self, sink: str, rows: Sequence[Row]) -> None:
        """Remove delivered (or dead-lettered) records: ``rows`` must be the head of the queue."""
        if not rows:
            return
        try:
            with self._write():
                cur = self._db.execute(
                    "DELETE FROM records WHERE sink = ? AND seq <= ? RETURNING size", (sink, rows[-1].seq)
                )
                sizes = [r[0] for r in cur.fetchall()]
                self._bump(sink, -len(sizes), -sum(sizes))
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot update the spool: {_describe(exc)}") from None

    def depth(self, sink: str | None = None) -> Depth:
        """Records and bytes waiting (for ``sink``, or all sinks) and the age of the oldest."""
        try:
            if sink is None:
                n, size = self._db.execute(
                    "SELECT coalesce(sum(records), 0), coalesce(sum(bytes), 0) FROM stats"
                ).fetchone()
                oldest = self._db.execute("SELECT accepted FROM records ORDER BY seq LIMIT 1").fetchone()
            else:
                got = self._db.execute("SELECT records, bytes FROM stats WHERE sink = ?", (sink,)).fetchone()
                n, size = got if got else (0, 0)
                oldest = self._db.execute(
                    "SELECT accepted FROM records WHERE sink = ? ORDER BY seq LIMIT 1", (sink,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the spool: {_describe(exc)}") from None
        return Depth(int(n), int(size), float(oldest[0]) if oldest else None)


def _create_private(path: Path) -> None:
    """Create the database file, empty and mode 0600 (SQLite's ``-wal``/``-shm`` copy its mode),
    without ever opening a descriptor on the file under its name.

    A POSIX record lock belongs to the process and the file, and closing *any* descriptor of the
    file drops every lock the process holds on it: an ``open`` + ``close`` of ``spool.db`` while
    a connection of this process is open silently takes that connection's locks away (SQLite
    itself defers such closes; only SQLite may open the file). Without its shared lock, the
    other processes cannot see the connection: the next one to close its own takes the
    exclusive lock, believes it is the last user, checkpoints and unlinks ``-wal`` and ``-shm``,
    and this process's later commits (answered ``202``) go to a WAL file nobody else reads.

    So the file is made under a temporary name and linked to its own once closed (``link``
    never replaces a file another process made first): no connection can have it open before.
    """
    if path.exists():
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)  # mode 0600
    os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another worker made it first
    except OSError:
        pass  # no hard links here: SQLite creates the file, and _make_private fixes its mode
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _make_private(db: Path) -> None:
    """``chmod 0600`` the spool's files that are not (by path: no descriptor is opened)."""
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        with contextlib.suppress(OSError):  # absent, or not ours: nothing to do about it here
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)


def _primary(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (Python reports the extended one)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _describe(exc: sqlite3.Error) -> str:
    # SQLite's messages name the problem ("database is locked", "disk I/O error"), never data.
    return str(exc) or exc.__class__.__name__


def append_dead_letter(path: Path, bodies: Sequence[bytes], policy: retention.Policy | None = None) -> None:
    """Append records to the dead-letter file and fsync it before the spool forgets them; with a
    retention ``policy``, rotate it first when due (and delete rotated files past retention)."""
    if policy is not None:
        retention.maintain(path, policy)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        append_lines(fd, bodies)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_lines(fd: int, bodies: Sequence[bytes]) -> int:
    """Write ``bodies`` as lines at the end of ``fd`` (opened ``O_RDWR | O_APPEND``); returns the
    bytes written. After a crash mid-write a file may end inside a line: start on a fresh one
    (the record cut there is still in the spool and is written again whole)."""
    size = os.fstat(fd).st_size
    data = b"".join(b + b"\n" for b in bodies)
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return len(data)
