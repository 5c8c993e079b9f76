"""Shared pieces of the load and streaming benchmarks: processes, /proc readings, the chat
corpus in the INTERFACE.md shape, percentiles and the RESULTS.md sections.

Everything here is loopback-only and bounded: every wait has a deadline, every server a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BENCH_KEY = "benchmark-only-pseudonym-key"
#: The vault key of benchmark runs (64 hex characters; never a production key).
BENCH_VAULT_KEY = "be" * 32
CLK_TCK = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def cpus() -> int:
    return len(os.sched_getaffinity(0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- configs ------------------------------------------------------------------------------
def make_config(tmp: Path, edit: Callable[[dict[str, Any]], None], name: str = "proxy.yaml") -> Path:
    """The shipped ``config/proxy.yaml`` with ``edit`` applied, written under ``tmp``."""
    import yaml

    data = yaml.safe_load((ROOT / "config" / "proxy.yaml").read_text())
    data["detection"]["recognizers"] = str(ROOT / "config" / "recognizers.yaml")
    edit(data)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def shipped_config(tmp: Path) -> Path:
    return make_config(tmp, lambda d: None, "proxy-shipped.yaml")


def no_redaction_config(tmp: Path) -> Path:
    """Same proxy, ``chat_partner`` redacts no direction: pure forwarding cost."""

    def edit(d: dict[str, Any]) -> None:
        d["destinations"]["chat_partner"]["directions"] = []

    return make_config(tmp, edit, "proxy-no-redaction.yaml")


# ---- processes ----------------------------------------------------------------------------
@dataclass
class Server:
    """A server process group started by a benchmark; ``stop()`` ends exactly it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    admin_port: int | None = None
    ready_dir: Path | None = None
    ready_timeout: float = 180.0
    ready_check: Callable[[], bool] = lambda: True

    def wait_ready(self) -> Server:
        """Block until ready (bounded); a server that fails is stopped and its log tail raised."""
        try:
            wait_until(self.ready_check, self.proc, self.name, self.ready_timeout)
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}") from None
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The worker processes: the children of the supervisor (or the process itself)."""
        kids = children(self.proc.pid)
        return kids or [self.proc.pid]

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 40.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


BLAS_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def spawn(
    name: str, cmd: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    with open(log_path, "wb") as logf:
        # Its own process group: a hung server can be killed with its workers, and nothing else.
        return subprocess.Popen(
            list(cmd),
            cwd=cwd or ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return bool(r.status == 200)


def ready_files(ready_dir: Path, n: int) -> Callable[[], bool]:
    return lambda: len(list(ready_dir.glob("ready-*"))) >= n


def start_proxy(
    workdir: Path,
    config: Path,
    upstream_url: str,
    workers: int,
    name: str = "proxy",
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> Server:
    """``python -m proxy serve`` with its files under ``workdir``; ready once ``/readyz`` is 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, admin = free_port(), free_port()
    full_env = {
        "CHAT_PARTNER_URL": upstream_url,
        "PSEUDONYM_KEY": BENCH_KEY,
        "VAULT_KEY": BENCH_VAULT_KEY,
        "AUDIT_FILE": str(workdir / "audit.jsonl"),
        "SPOOL_DIR": str(workdir / "spool"),
        "LOG_SINK_FILE": str(workdir / "log-sink.ndjson"),
    }
    full_env.update(env or {})
    log_path = workdir / f"{name}.log"
    cmd = [PYTHON, "-m", "proxy", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--admin-port", str(admin), "--workers", str(workers)]  # fmt: skip
    proc = spawn(name, cmd, log_path=log_path, env=full_env, cwd=workdir)
    server = Server(name, proc, port, log_path, admin_port=admin)
    server.ready_check = lambda: http_ok(f"http://127.0.0.1:{admin}/readyz")
    return server.wait_ready() if wait else server


def start_upstream(workdir: Path, processes: int = 1, events_file: Path | None = None, wait: bool = True) -> Server:
    """The mock upstream (``benchmarks.mock_upstream``), ready when all its processes listen."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ready = Path(tempfile.mkdtemp(prefix="upstream-ready-", dir=workdir))
    cmd = [PYTHON, "-m", "benchmarks.mock_upstream", "--port", str(port), "--processes", str(processes),
           "--ready-dir", str(ready)]  # fmt: skip
    if events_file is not None:
        cmd += ["--events-file", str(events_file)]
    log_path = workdir / "upstream.log"
    proc = spawn("upstream", cmd, log_path=log_path)
    server = Server("upstream", proc, port, log_path, ready_dir=ready, ready_timeout=60)
    server.ready_check = ready_files(ready, processes)
    return server.wait_ready() if wait else server


def start_naive(workdir: Path, upstream_url: str, workers: int, wait: bool = True, relay: bool = False) -> Server:
    """The naive Presidio-in-the-handler baseline (``benchmarks.naive``); ``relay``: the same
    handler without Presidio, the bare aiohttp hop."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    name = "relay" if relay else "naive"
    ready = Path(tempfile.mkdtemp(prefix=f"{name}-ready-", dir=workdir))
    cmd = [PYTHON, "-m", "benchmarks.naive", "--port", str(port), "--upstream", upstream_url,
           "--workers", str(workers), "--ready-dir", str(ready)] + (["--relay"] if relay else [])  # fmt: skip
    log_path = workdir / f"{name}.log"
    # The same one-BLAS-thread setting our proxy gives itself (proxy/__init__.py): the
    # comparison is of designs, not of a thread knob.
    proc = spawn(name, cmd, log_path=log_path, env=BLAS_ONE_THREAD)
    server = Server(name, proc, port, log_path, ready_dir=ready)
    server.ready_check = ready_files(ready, workers)
    return server.wait_ready() if wait else server


class Stopped(SystemExit):
    """Raised in the main thread on SIGTERM / SIGINT so that every ``finally`` stops its servers."""


def stop_on_signals() -> None:
    """SIGTERM and SIGINT end a benchmark through its ``finally`` blocks (servers stopped, temp
    files removed), also when SIGINT was inherited as ignored (a background job of a shell)."""

    def handler(signum: int, _frame: Any) -> None:
        raise Stopped(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def aio(coro: Coroutine[Any, Any, T]) -> T:
    """Run one measurement on a fresh uvloop event loop; SIGTERM / SIGINT cancel it and raise
    :class:`Stopped` (inside the loop a Python-level handler could not: uvloop would swallow the
    exception in whatever protocol callback it interrupted)."""
    import uvloop

    signalled: list[int] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(sig: int) -> None:
            signalled.append(sig)
            task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await coro
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    try:
        return uvloop.run(guarded())
    except asyncio.CancelledError:
        if signalled:
            raise Stopped(128 + signalled[0]) from None
        raise
    finally:
        stop_on_signals()  # the loop's handlers are gone: ours again


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# ---- /proc --------------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list), sorted."""
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                out.update(int(x) for x in f.read().split())
    return sorted(out)


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` ... of ``/proc/<pid>/status``, in kB (empty when the process is gone)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm") or line.startswith("Rss"):
                key, _, value = line.partition(":")
                parts = value.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0])
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it: a proxy worker and its detection process."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants together, in MB."""
    return sum(proc_status(p).get("VmRSS", 0) for p in tree(pid)) / 1024


def hwm_mb(pid: int) -> float:
    """Peak resident memory of ``pid`` plus each descendant's own peak (an upper bound), in MB."""
    return sum(proc_status(p).get("VmHWM", 0) for p in tree(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def total_cpu(pids: Sequence[int]) -> float:
    """CPU seconds of these processes and their descendants (a worker's detection process)."""
    return sum(cpu_seconds(q) for p in pids for q in tree(p))


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, anyone's processes), from ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    # user nice system idle iowait irq softirq steal guest guest_nice: idle, iowait and steal (time
    # the hypervisor gave to other machines) are not work done here; guest is counted in user already.
    not_busy = sum(values[3:5]) + sum(values[7:10])
    return (sum(values) - not_busy) / CLK_TCK


def scrape_metrics(admin_port: int) -> dict[str, float]:
    """The proxy's ``/metrics`` (all workers), each sample name summed over its label sets."""
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return out


@dataclass
class DetectionStats:
    """What the proxy's detection did between two scrapes of ``/metrics``."""

    batches: float
    texts: float
    busy_seconds: float  # summed time of batches in the workers' detectors
    payloads: float
    wait_seconds: float  # summed time payloads waited for their findings

    @classmethod
    def between(cls, before: dict[str, float], after: dict[str, float]) -> DetectionStats:
        def d(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        return cls(
            batches=d("proxy_detection_batch_texts_count"),
            texts=d("proxy_detection_batch_texts_sum"),
            busy_seconds=d("proxy_detection_seconds_sum"),
            payloads=d("proxy_detection_wait_seconds_count"),
            wait_seconds=d("proxy_detection_wait_seconds_sum"),
        )

    def __add__(self, o: DetectionStats) -> DetectionStats:
        return DetectionStats(
            self.batches + o.batches,
            self.texts + o.texts,
            self.busy_seconds + o.busy_seconds,
            self.payloads + o.payloads,
            self.wait_seconds + o.wait_seconds,
        )

    def describe(self, seconds: float, workers: int) -> str:
        if not self.batches or not self.payloads:
            return "no detection batches recorded"
        return (
            f"{self.texts / self.batches:.1f} texts per batch on average, "
            f"{1000 * self.busy_seconds / self.batches:.1f} ms per batch "
            f"({1000 * self.busy_seconds / max(self.texts, 1):.2f} ms per text); detectors busy "
            f"{100 * self.busy_seconds / (seconds * workers):.0f}% of the time; a payload waited "
            f"{1000 * self.wait_seconds / self.payloads:.1f} ms on average for its findings"
        )


# ---- the corpus as chat messages ----------------------------------------------------------
SENDERS = ("visitor", "agent")


def chat_messages(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` corpus messages in the INTERFACE.md chat shape; survey messages carry a ``survey``."""
    from benchmarks.corpus import generate

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i, m in enumerate(generate(n, seed)):
        msg: dict[str, Any] = {
            "conversation_id": f"c-{i % 97}",
            "sender": SENDERS[i % 2],
            "sent_at": f"2026-11-25T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            "text": m.text,
        }
        if m.kind == "survey":
            emails = [v for s, v in m.values() if s.entity == "EMAIL_ADDRESS"]
            msg["survey"] = {
                "email": emails[0] if emails else f"respondent{i}@example.org",
                "zip": f"{rng.randint(10000, 99999)}",
                "age": rng.randint(16, 95),
                "income": f"${rng.randint(10, 260) * 1000:,}",
            }
        out.append(msg)
    return out


def chat_bodies(n: int, seed: int) -> list[bytes]:
    return [json.dumps(m, ensure_ascii=False).encode() for m in chat_messages(n, seed)]


# ---- long messages ------------------------------------------------------------------------
#: Length bounds (characters of ``text``) of the load benchmark's long messages (issue 13).
LONG_MIN, LONG_MAX = 200, 1500
_OPENINGS = ("Hello,", "Hi team,", "Dear support,", "Good morning,", "Hi,", "To whom it may concern,")
_SIGN_OFFS = ("Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Many thanks,", "--")
_ADDRESS_LEADS = ("Please ship it to:", "My address:", "Ship to:", "Send the replacement here:", "Address on file:", "")
_LAYOUTS = ("letter", "letter", "paragraphs", "thread")


def long_texts(n: int, seed: int) -> list[str]:
    """``n`` texts of ``LONG_MIN``-``LONG_MAX`` characters (uniform target length), the same for the
    same ``(n, seed)``: pieces of the held-out styles (``benchmarks.heldout_styles``, **dev side and
    dev locales only**: never the test split) and of ``benchmarks.corpus`` assembled into what long
    chat messages are made of: letters (an opening, paragraphs, often an address block, a
    signature), narrative paragraphs with a pasted form, and pasted transcripts with log lines."""
    from benchmarks.corpus import generate
    from benchmarks.heldout import DEV_LOCALES
    from benchmarks.heldout_styles import generate_styles

    styles: dict[str, list[str]] = {}
    for m in generate_styles("dev", DEV_LOCALES, max(3 * n, 60), seed):
        styles.setdefault(m.style, []).append(m.text.strip())
    corpus = generate(max(2 * n, 40), seed)
    chat = [m.text for m in corpus if m.kind == "chat"]
    addresses = [m.text for m in corpus if m.kind == "address"] + styles["address"]
    rng = random.Random(f"{seed}:long")

    def sentences(k: int) -> str:
        """A paragraph: narrative pieces and chat lines run together."""
        picked = (rng.choice(styles["narrative"] if rng.random() < 0.6 else chat) for _ in range(k))
        return " ".join(s if s[-1:] in ".!?" else s + "." for s in picked)

    def piece(layout: str) -> str:
        if layout == "thread":
            return rng.choice(styles["dialogue"] if rng.random() < 0.7 else styles["log"])
        if layout == "paragraphs" and rng.random() < 0.25:
            return rng.choice(styles["form"])
        return sentences(rng.randint(1, 3))

    out: list[str] = []
    while len(out) < n:
        target = rng.randint(LONG_MIN, LONG_MAX)
        layout = rng.choice(_LAYOUTS)
        head: list[str] = [rng.choice(_OPENINGS)] if layout == "letter" else []
        tail: list[str] = []
        if layout == "letter":
            if rng.random() < 0.7:
                lead = rng.choice(_ADDRESS_LEADS)
                block = rng.choice(addresses)
                tail.append(f"{lead}\n{block}" if lead else block)
            if rng.random() < 0.8:
                tail.append(f"{rng.choice(_SIGN_OFFS)}\n{rng.choice(styles['signature'])}")
        elif rng.random() < 0.3:
            tail.append(rng.choice(styles["signature"]))
        body: list[str] = []
        while _joined_len(head + tail) > LONG_MAX and tail:  # a long signature and address: drop one
            tail.pop(0)
        for _ in range(40):  # bounded: a piece that would overshoot is skipped, another drawn
            if _joined_len(head + body + tail) >= target:
                break
            body.append(piece(layout))
            if _joined_len(head + body + tail) > LONG_MAX:
                body.pop()
        text = "\n\n".join(head + body + tail)
        if LONG_MIN <= len(text) <= LONG_MAX:
            out.append(text)
    return out


def _joined_len(parts: Sequence[str]) -> int:
    """``len("\\n\\n".join(parts))``."""
    return sum(map(len, parts)) + 2 * max(len(parts) - 1, 0)


def long_bodies(n: int, seed: int) -> list[bytes]:
    """:func:`long_texts` as chat messages in the INTERFACE.md shape (no survey)."""
    out = []
    for i, text in enumerate(long_texts(n, seed)):
        msg = {
            "conversation_id": f"l-{i % 89}",
            "sender": SENDERS[i % 2],
            "sent_at": f"2026-11-25T11:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            "text": text,
        }
        out.append(json.dumps(msg, ensure_ascii=False).encode())
    return out


# ---- numbers ------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``nan`` when empty)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "n/a"
    v = seconds * 1000
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


# ---- RESULTS.md ---------------------------------------------------------------------------
def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace the section between ``<!-- name:start -->`` and ``<!-- name:end -->``; leave the
    rest of the file (other benchmarks' sections, the header) as it is."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + block + tail.lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + block
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)


def machine_line() -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"{cpus()} CPU(s) usable (`os.sched_getaffinity`), Python {sys.version.split()[0]}, "
        f"load average at start {load1:.2f} (1 min) / {load5:.2f} (5 min); "
        f"run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


async def serve_until_signalled(app: Any, port: int, ready_dir: Path | None, backlog: int = 1024) -> None:
    """Serve an aiohttp app on 127.0.0.1:``port`` (``SO_REUSEPORT``, so several processes share it),
    write a ready file once listening, and stop on SIGTERM/SIGINT."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True, backlog=backlog).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready_dir is not None:
        (ready_dir / f"ready-{os.getpid()}").write_text("ok")
    await stop.wait()
    await runner.cleanup()


def supervise(cmd: Sequence[str], workers: int) -> int:
    """Run ``workers`` copies of ``cmd`` (the server processes of a baseline, one per core) until
    SIGTERM/SIGINT or until one of them exits; then stop them all. 0 when stopped by a signal."""
    kids = [subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL) for _ in range(max(workers, 1))]
    stopped = False

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopped and all(k.poll() is None for k in kids):
        time.sleep(0.2)
    for k in kids:
        if k.poll() is None:
            k.send_signal(signal.SIGTERM)
    for k in kids:
        try:
            k.wait(20)
        except subprocess.TimeoutExpired:
            k.kill()
            k.wait(5)
    return 0 if stopped else 1
