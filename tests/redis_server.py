"""A real ``redis-server`` for the tests: 127.0.0.1, a free port, its own temp dir, no RDB/AOF."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.helpers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@dataclass
class RedisServer:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> bytes:
        """``redis-cli`` against this server (raw output)."""
        return subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "--no-raw", *args],
            check=True,
            capture_output=True,
            timeout=30,
        ).stdout

    def dump_all(self) -> bytes:
        """Every key (``redis-cli --scan``) with its ``DUMP`` and, for strings, ``GET``: what
        the server holds, to grep for canaries."""
        keys = [k for k in self.cli("--scan").decode().split("\n") if k.strip()]
        out = bytearray()
        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            for k in keys:
                key = k.strip().strip('"')
                out += key.encode() + b"\n"
                out += client.dump(key) or b""
                if client.type(key) == b"string":
                    out += client.get(key) or b""
                elif client.type(key) == b"set":
                    out += b"".join(client.smembers(key))
        finally:
            client.close()
        return bytes(out)

    def keys(self) -> list[str]:
        return [k.strip().strip('"') for k in self.cli("--scan").decode().split("\n") if k.strip()]


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    workdir = Path(tempfile.mkdtemp(prefix="test-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = RedisServer(port, workdir, proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
                client.ping()
                client.close()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
