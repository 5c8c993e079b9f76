"""The durable spool (SQLite, WAL) and the forwarder lock: order, bounds, durability, sharing."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxy.config import Spool as SpoolConfig
from proxy.sinks.commit import Committer
from proxy.sinks.leader import LeaderLock
from proxy.sinks.spool import Spool, SpoolError, SpoolFull, append_dead_letter, append_lines

ROOT = Path(__file__).resolve().parents[2]


def rec(i: int, pad: int = 0) -> bytes:
    return f'{{"n":{i},"pad":"{"x" * pad}"}}'.encode()


def test_append_peek_ack_in_order(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.append("s", [rec(1), rec(2)])
    sp.append("s", [rec(3)])
    rows = sp.peek("s", 10, 1 << 20)
    assert [r.body for r in rows] == [rec(1), rec(2), rec(3)]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    sp.ack("s", rows[:2])
    assert [r.body for r in sp.peek("s", 10, 1 << 20)] == [rec(3)]
    d = sp.depth("s")
    assert (d.records, d.bytes) == (1, len(rec(3)))
    assert d.oldest is not None
    sp.ack("s", sp.peek("s", 10, 1 << 20))
    assert sp.depth("s") == sp.depth() and sp.depth("s").records == 0 and sp.depth("s").oldest is None
    sp.close()


def test_peek_bounds_count_and_bytes(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.append("s", [rec(i, 100) for i in range(10)])
    assert len(sp.peek("s", 3, 1 << 20)) == 3
    one = len(rec(0, 100))
    assert len(sp.peek("s", 10, one * 4)) == 4
    assert len(sp.peek("s", 10, 1)) == 1  # a record larger than the byte bound still goes, alone
    sp.close()


def test_records_survive_reopen_and_seq_is_never_reused(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.append("s", [rec(1), rec(2)])
    first = sp.peek("s", 10, 1 << 20)
    sp.ack("s", first)
    sp.append("s", [rec(3)])
    sp.close()
    sp2 = Spool(tmp_path, 1 << 20)
    rows = sp2.peek("s", 10, 1 << 20)
    assert [r.body for r in rows] == [rec(3)]
    assert rows[0].seq > first[-1].seq
    sp2.close()


def test_full_spool_refuses_whole_request_and_keeps_the_rest(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 100)
    sp.append("s", [rec(1, 30)])
    before = sp.depth()
    with pytest.raises(SpoolFull):
        sp.append("s", [rec(2, 10), rec(3, 30), rec(4, 30)])
    assert sp.depth() == before, "a refused request must leave nothing behind"
    sp.ack("s", sp.peek("s", 10, 1 << 20))
    sp.append("s", [rec(5, 30)])  # room again once drained
    assert sp.depth().records == 1
    sp.close()


def test_group_commit_is_all_or_nothing_per_request(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 120)
    results = sp.append_many([("s", [rec(1, 40)]), ("s", [rec(2, 40), rec(3, 40)]), ("t", [rec(4, 20)])])
    assert results[0] is None and isinstance(results[1], SpoolFull) and results[2] is None
    assert [r.body for r in sp.peek("s", 10, 1 << 20)] == [rec(1, 40)]
    assert [r.body for r in sp.peek("t", 10, 1 << 20)] == [rec(4, 20)]
    sp.close()


def test_sinks_are_separate_queues_with_a_shared_bound(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.append("a", [rec(1)])
    sp.append("b", [rec(2)])
    sp.append("a", [rec(3)])
    assert [r.body for r in sp.peek("a", 10, 1 << 20)] == [rec(1), rec(3)]
    sp.ack("b", sp.peek("b", 10, 1 << 20))
    assert sp.depth("a").records == 2 and sp.depth("b").records == 0 and sp.depth().records == 2
    sp.close()


def test_files_are_private(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "spool", 1 << 20)
    sp.append("s", [rec(1)])
    for f in (tmp_path / "spool").iterdir():
        if f.name.startswith("spool.db"):
            assert f.stat().st_mode & 0o077 == 0, "spool files must not be readable by others"
    sp.close()


def test_files_are_private_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_link)
    old = os.umask(0o022)
    try:
        sp = Spool(tmp_path / "spool", 1 << 20)
    finally:
        os.umask(old)
    sp.append("s", [rec(1)])
    names = {f.name: f.stat().st_mode for f in (tmp_path / "spool").iterdir()}
    assert set(names) == {"spool.db", "spool.db-wal", "spool.db-shm"}, "SQLite made the file, no temporary is left"
    assert all(mode & 0o077 == 0 for mode in names.values()), "spool files must not be readable by others"
    sp.close()


_WRITER = textwrap.dedent(
    """
    import json, os, signal, sys
    root, directory, tag, n, end = sys.argv[1:6]
    sys.path.insert(0, root)
    from proxy.sinks.spool import Spool
    sp = Spool(directory, 1 << 24)
    for i in range(int(n)):
        sp.append("s", [json.dumps({"w": tag, "i": i, "j": j}).encode() for j in range(3)])
    if end == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sp.close()
    """
)


def _writer(tmp_path: Path, tag: str, n: int, end: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    return subprocess.Popen([sys.executable, str(script), str(ROOT), str(tmp_path / "spool"), tag, str(n), end])


def test_processes_share_one_spool_and_each_keeps_its_order(tmp_path: Path) -> None:
    import json

    procs = [_writer(tmp_path, tag, 40, "close") for tag in ("a", "b")]
    for p in procs:
        assert p.wait(30) == 0
    sp = Spool(tmp_path / "spool", 1 << 24)
    rows = sp.peek("s", 10_000, 1 << 24)
    assert len(rows) == 2 * 40 * 3
    for tag in ("a", "b"):
        mine = [(v["i"], v["j"]) for v in (json.loads(r.body) for r in rows) if v["w"] == tag]
        assert mine == sorted(mine) and len(mine) == 120
    # each request (3 records) is contiguous: one transaction, no interleaving inside it
    values = [json.loads(r.body) for r in rows]
    for k in range(0, len(values), 3):
        assert len({(v["w"], v["i"]) for v in values[k : k + 3]}) == 1
    sp.close()


_READER = textwrap.dedent(
    """
    import json, sys
    root, directory = sys.argv[1:3]
    sys.path.insert(0, root)
    from proxy.sinks.spool import Spool
    sp = Spool(directory, 1 << 24)
    print(json.dumps([json.loads(r.body) for r in sp.peek("s", 10_000, 1 << 24)]))
    sp.close()
    """
)


def _read_in_another_process(tmp_path: Path) -> list[dict[str, object]]:
    import json

    script = tmp_path / "reader.py"
    script.write_text(_READER)
    out = subprocess.run(
        [sys.executable, str(script), str(ROOT), str(tmp_path / "spool")], capture_output=True, timeout=30, check=True
    )
    records: list[dict[str, object]] = json.loads(out.stdout)
    return records


def test_two_handles_in_one_process_survive_another_process_closing(tmp_path: Path) -> None:
    """A worker holds two handles (its committer's and its delivery's); another worker opens the
    spool and closes it again (a SIGHUP replaces workers one by one). What the first worker
    commits afterwards must reach the shared spool: opening a second handle must not drop the
    first one's SQLite locks, or the closing worker believes it is the last user and deletes
    the WAL under the others."""
    directory = tmp_path / "spool"
    committer = Spool(directory, 1 << 20)
    delivery = Spool(directory, 1 << 20, durable=False)
    committer.append("s", [rec(1)])
    p = _writer(tmp_path, "other", 1, "close")
    assert p.wait(30) == 0
    assert (directory / "spool.db-wal").exists(), "the WAL was deleted while this process still uses it"
    committer.append("s", [rec(2)])
    delivery.close()  # one handle closed: the other one's commits still count
    committer.append("s", [rec(3)])
    seen = [r.get("n") for r in _read_in_another_process(tmp_path)]
    assert seen == [1, None, None, None, 2, 3], "commits of this process must be visible to a third one"
    committer.close()
    assert {f.name for f in directory.iterdir()} <= {"spool.db", "spool.db-shm", "spool.db-wal"}, "no stray files"


def test_committed_records_survive_sigkill(tmp_path: Path) -> None:
    p = _writer(tmp_path, "k", 5, "kill")
    assert p.wait(30) == -signal.SIGKILL
    sp = Spool(tmp_path / "spool", 1 << 24)
    assert sp.depth("s").records == 15
    assert len(sp.peek("s", 100, 1 << 24)) == 15
    sp.close()


def test_leader_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    a, b = LeaderLock(tmp_path / "l.lock"), LeaderLock(tmp_path / "l.lock")
    assert a.try_acquire() and a.try_acquire()
    assert not b.try_acquire()
    a.release()
    assert b.try_acquire()
    assert (tmp_path / "l.lock").read_text().strip() == str(os.getpid())
    b.release()


def test_leader_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    code = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); from proxy.sinks.leader import LeaderLock; "
        f"l = LeaderLock({str(tmp_path / 'l.lock')!r}); assert l.try_acquire(); print('held', flush=True); "
        "time.sleep(30)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"held"
        mine = LeaderLock(tmp_path / "l.lock")
        assert not mine.try_acquire()
        p.kill()
        p.wait(10)
        assert mine.try_acquire()
        mine.release()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        if p.stdout is not None:
            p.stdout.close()


def test_dead_letter_appends_lines_and_repairs_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.ndjson"
    append_dead_letter(path, [b'{"a":1}'])
    with open(path, "ab") as f:
        f.write(b'{"cut":')  # a crash mid-write
    append_dead_letter(path, [b'{"b":2}', b'{"c":3}'])
    assert path.read_bytes() == b'{"a":1}\n{"cut":\n{"b":2}\n{"c":3}\n'
    fd = os.open(tmp_path / "x", os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        assert append_lines(fd, [b"1", b"22"]) == 5
    finally:
        os.close(fd)


async def test_committer_groups_concurrent_requests_each_all_or_nothing(tmp_path: Path) -> None:
    c = Committer(SpoolConfig(dir=str(tmp_path), max_bytes=400))
    await c.start()
    small = [[rec(i, 20)] for i in range(5)]
    big = [rec(99, 300), rec(98, 300)]
    results = await asyncio.gather(
        *(c.append("s", b) for b in small[:3]), c.append("s", big), *(c.append("s", b) for b in small[3:]),
        return_exceptions=True,
    )  # fmt: skip
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["SpoolFull"] + ["NoneType"] * 2
    await c.close()
    with pytest.raises(SpoolError):
        await c.append("s", [rec(1)])
    sp = Spool(tmp_path, 400)
    assert [r.body for r in sp.peek("s", 10, 1 << 20)] == [b[0] for b in small]
    sp.close()
