"""A real ``nats-server -js`` (Debian's) for the tests: 127.0.0.1, a port of its own, a temporary
store directory; stopped, killed and started again on the same port and store at will.
Also a reader that takes every message of a stream back with a JetStream consumer, and a test
CA with a certificate for 127.0.0.1 (a server that requires TLS)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port


def nats_server_binary() -> str:
    exe = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)
    if exe is None:
        raise RuntimeError("nats-server is not installed (make system-deps installs Debian's nats-server)")
    return exe


@dataclass
class NatsServer:
    store: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: (certificate, key) PEM files: the server then requires TLS
    tls: tuple[Path, Path] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> NatsServer:
        self.store.mkdir(parents=True, exist_ok=True)
        cmd = [nats_server_binary(), "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.tls is not None:
            cmd += ["--tls", "--tlscert", str(self.tls[0]), "--tlskey", str(self.tls[1])]
        with open(self.store.parent / f"nats-{self.port}.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.settimeout(2)
                if s.recv(4096).startswith(b"INFO"):
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError("nats-server did not start")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP, and wait until every thread of the server is stopped (the signal is async)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5
        tasks = Path(f"/proc/{self.proc.pid}/task")
        while True:
            states = []
            for t in tasks.iterdir():
                with contextlib.suppress(OSError):
                    states.append((t / "stat").read_text().rsplit(") ", 1)[1][:1])
            if states and all(st == "T" for st in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("nats-server did not stop")
            time.sleep(0.005)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


def self_signed(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextlib.contextmanager
def nats_server(store: Path, start: bool = True, tls: tuple[Path, Path] | None = None) -> Iterator[NatsServer]:
    server = NatsServer(store, tls=tls)
    if start:
        server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.resume()  # a paused server ignores SIGTERM until continued
        server.kill(signal.SIGTERM)


@dataclass
class StoredMessage:
    seq: int
    msg_id: str | None
    record: dict[str, Any]


async def read_stream(url: str, stream: str, subject: str | None = None, timeout: float = 10) -> list[StoredMessage]:
    """Every message of ``stream``, in stream order, through an ephemeral pull consumer."""
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        info = await js.stream_info(stream)
        total = info.state.messages
        out: list[StoredMessage] = []
        if total == 0:
            return out
        sub = await js.pull_subscribe(subject or info.config.subjects[0], stream=stream)  # type: ignore[index]
        deadline = time.monotonic() + timeout
        while len(out) < total:
            assert time.monotonic() < deadline, "timed out reading the stream back"
            with contextlib.suppress(nats.errors.TimeoutError, asyncio.TimeoutError):
                for m in await sub.fetch(min(500, total - len(out)), timeout=2):
                    await m.ack()
                    headers = m.headers or {}
                    out.append(
                        StoredMessage(m.metadata.sequence.stream, headers.get("Nats-Msg-Id"), json.loads(m.data))
                    )
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()
