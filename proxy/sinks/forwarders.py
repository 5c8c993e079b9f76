"""Forwarders: send one batch of spooled records to a sink and say what happened.

Each ``send`` answers with an :class:`Outcome`; it never raises for a sink problem. The delivery
loop (``proxy.sinks.delivery``) owns ordering, retries, back-off and the dead-letter file.

* HTTP: one NDJSON ``POST`` per batch. 2xx: delivered. 408, 429, 5xx, 3xx, connection errors and
  time-outs: retry (3xx too: a redirect is a misconfiguration, not a verdict on the records).
  Any other 4xx: rejected.
* Syslog: RFC 5424 over TCP, octet-counted. A batch counts as delivered once the peer's TCP stack
  has acknowledged every byte of it (the socket's send queue is empty, Linux ``SIOCOUTQ``) and the
  connection is still up; plain syslog has no application-level acknowledgement, so a syslog
  daemon that dies after that ACK but before writing may lose what it had buffered.
* File: append, fsync, rotate by size (``path`` -> ``path.1`` ... ``path.<keep>``); a file
  renamed or removed under us (logrotate) is reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import io
import os
import socket
import struct
import termios
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import aiohttp

from proxy.config import FileSink, HttpSink, SyslogSink
from proxy.sinks import syslog
from proxy.sinks.spool import Row, append_lines

NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["delivered", "retry", "rejected"]
    #: Short, value-free description for logs and metric labels ("http 503", "connect" ...).
    reason: str = ""
    #: A wait the sink asked for (``Retry-After``), in seconds.
    retry_after: float | None = None
    #: ``rejected`` only: whether fewer records could pass (a refusal of some records, split in
    #: halves to find them); ``False`` when the sink refuses any record (no stream for it).
    split: bool = True
    #: ``delivered`` only: records the sink said it already had (JetStream's de-duplication).
    duplicates: int = 0


DELIVERED = Outcome("delivered")


class Forwarder(Protocol):
    kind: str
    batch_max: int

    async def send(self, rows: Sequence[Row]) -> Outcome: ...

    async def close(self) -> None: ...


# ---- HTTP ---------------------------------------------------------------------------------------
def classify_status(status: int) -> Literal["delivered", "retry", "rejected"]:
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or status >= 500 or status < 200 or 300 <= status < 400:
        return "retry"
    return "rejected"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds only; an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


class HttpForwarder:
    kind = "http"

    def __init__(self, cfg: HttpSink) -> None:
        self.url = cfg.url
        self.batch_max = cfg.batch_max
        self.timeout = cfg.timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 5.0)),
                connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=30),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def send(self, rows: Sequence[Row]) -> Outcome:
        payload = b"".join(r.body + b"\n" for r in rows)
        headers = {"Content-Type": NDJSON, "X-Record-Count": str(len(rows))}
        try:
            # a BytesIO, not bytes: aiohttp streams it instead of warning about a large body
            data = io.BytesIO(payload)
            async with self._client().post(self.url, data=data, headers=headers, allow_redirects=False) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    await resp.content.read(65536)
        except TimeoutError:
            return Outcome("retry", "timeout")
        except aiohttp.ClientConnectionError:
            return Outcome("retry", "connection")
        except aiohttp.ClientError as exc:
            return Outcome("retry", exc.__class__.__name__)
        kind = classify_status(status)
        return Outcome(kind, f"http {status}", retry_after if kind == "retry" else None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# ---- syslog ---------------------------------------------------------------------------------------
def _unacked_bytes(sock: socket.socket | None) -> int | None:
    """Bytes in the socket's send queue not yet acknowledged by the peer (None: unknown)."""
    if sock is None:
        return None
    try:
        got = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, AttributeError):
        return None
    return int(struct.unpack("i", got)[0])


class SyslogForwarder:
    kind = "syslog"

    def __init__(self, cfg: SyslogSink) -> None:
        self.host, self.port = cfg.host, cfg.port
        self.batch_max = cfg.batch_max
        self.timeout = cfg.timeout
        self.hostname = cfg.hostname or socket.gethostname()
        self.app_name = cfg.app_name
        self.facility = cfg.facility
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def encode(self, rows: Sequence[Row]) -> bytes:
        return b"".join(
            syslog.frame(
                syslog.message(
                    r.body, r.accepted, hostname=self.hostname, app_name=self.app_name, facility=self.facility
                )
            )
            for r in rows
        )

    def _broken(self) -> bool:
        r, w = self._reader, self._writer
        return r is None or w is None or w.is_closing() or r.at_eof() or r.exception() is not None

    async def send(self, rows: Sequence[Row]) -> Outcome:
        data = self.encode(rows)
        deadline = time.monotonic() + self.timeout
        step = "connect"
        try:
            if self._broken():
                await self._drop()
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            writer = self._writer
            assert writer is not None
            step = "send"
            writer.write(data)
            await asyncio.wait_for(writer.drain(), max(0.001, deadline - time.monotonic()))
            step = "ack"
            sock = writer.get_extra_info("socket")
            while True:
                pending = _unacked_bytes(sock)
                if pending is None or pending == 0:
                    break
                if self._broken():
                    raise ConnectionResetError(errno.ECONNRESET, "connection lost")
                if time.monotonic() > deadline:
                    raise TimeoutError
                await asyncio.sleep(0.002)
            await asyncio.sleep(0)  # let the loop see a reset that emptied the queue
            if self._broken():
                raise ConnectionResetError(errno.ECONNRESET, "connection lost")
        except TimeoutError:
            await self._drop()
            return Outcome("retry", f"{step} timeout")
        except OSError:
            await self._drop()
            return Outcome("retry", step)
        return DELIVERED

    async def _drop(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(w.wait_closed(), 1.0)

    async def close(self) -> None:
        await self._drop()


# ---- file -----------------------------------------------------------------------------------------
class FileForwarder:
    kind = "file"

    def __init__(self, cfg: FileSink, executor: Executor) -> None:
        self.path = Path(cfg.path)
        self.rotate_bytes = cfg.rotate_bytes
        self.keep = cfg.keep
        self.batch_max = cfg.batch_max
        self._executor = executor
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None

    async def send(self, rows: Sequence[Row]) -> Outcome:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.write, [r.body for r in rows])
        except OSError as exc:
            self._close()
            return Outcome("retry", f"file {errno.errorcode.get(exc.errno or 0, 'error')}")
        return DELIVERED

    def write(self, bodies: Sequence[bytes]) -> None:
        """Blocking: append the records as lines, fsync; rotate first when they would not fit."""
        fd = self._open()
        incoming = sum(len(b) + 1 for b in bodies)
        size = os.fstat(fd).st_size
        if size and size + incoming > self.rotate_bytes:
            self._rotate()
            fd = self._open()
        append_lines(fd, bodies)
        os.fsync(fd)

    def _open(self) -> int:
        if self._fd is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ino:
                    return self._fd
            except FileNotFoundError:
                pass
            self._close()  # renamed or removed under us: write to a new file at the path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        st = os.fstat(fd)
        self._fd, self._ino = fd, (st.st_dev, st.st_ino)
        return fd

    def _rotate(self) -> None:
        self._close()
        name = str(self.path)
        if self.keep == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        else:
            for i in range(self.keep - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{name}.{i}", f"{name}.{i + 1}")
            os.replace(name, f"{name}.1")
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd, self._ino = self._fd, None, None
            with contextlib.suppress(OSError):
                os.close(fd)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
