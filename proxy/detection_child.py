"""The detection process: one per worker, started by :class:`proxy.detection.ProcessBackend`.

    python -m proxy.detection_child --fd N

It talks over one end of a socket pair (file descriptor ``N``) in length-prefixed ``marshal``
frames (only str, int, float, tuple, list and dict travel; both ends are our own code):

1. the worker sends the detector's settings (a dict); the child loads the model and answers
   ``("ready", pid, recognizers)`` (``Detector.describe()``) or ``("error", message)``;
2. then, for every batch: a list of texts in, ``("ok", [[(start, end, entity, score, recognizer,
   reason), ...], ...])`` or ``("error", message)`` out; or ``("groups", budgets, [[text, ...],
   ...])`` in (one group per caller, each with its budget in seconds of detector time or None),
   ``("ok", [per group: [findings per text] or a message])`` out: a group past its budget gets
   its message (it alone fails closed) and the rest are served
   (:meth:`recognizers.engine.Detector.analyze_groups`).

Why a process of its own: spaCy and the recognizers hold the GIL for ~2 ms per text, so in one
process the event loop waited behind every batch. Here the loop and detection are scheduled by
the kernel, and a batch that runs away (a pathological regex in an ops-written rule) can be
killed: the worker kills and restarts this process when a batch overruns its deadline.

The child ignores SIGINT/SIGTERM: the worker drains its requests first (they still need
detection), then closes the socket, and the child exits on end of file. If the worker dies, the
kernel kills the child (``PR_SET_PDEATHSIG``), even one stuck in a runaway batch that would never
read the end of file. Messages never carry a text's content.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import marshal
import os
import signal
import socket
import struct
import sys
from collections.abc import Sequence
from typing import IO, Any

HEADER = struct.Struct("!I")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: Sanity bound for one frame (a batch is at most max_batch texts of at most the body limit).
MAX_FRAME = 1 << 30

log = logging.getLogger("proxy.detection")


def read_frame(rfile: IO[bytes]) -> Any:
    """The next frame, or None at end of file."""
    head = rfile.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    data = rfile.read(size)
    if len(data) < size:
        return None
    return marshal.loads(data)


def encode_frame(obj: Any) -> bytes:
    data = marshal.dumps(obj)
    return HEADER.pack(len(data)) + data


def _safe_message(exc: BaseException) -> str:
    """Our own errors carry value-free messages; anything else is named by its class only."""
    from proxy.yamlload import ConfigError
    from recognizers.types import DetectionError

    if isinstance(exc, ConfigError):
        return "; ".join(exc.problems)
    if isinstance(exc, DetectionError):
        return str(exc)
    return f"{exc.__class__.__name__} while loading the detector"


def build_detector(spec: dict[str, Any]) -> Any:
    """The detector a spec describes (:func:`proxy.detection.detector_spec`): the one place a
    :class:`recognizers.engine.Detector` is built."""
    from recognizers.engine import Detector

    return Detector(
        spec["model"],
        spec["recognizers"],
        ner_entities=spec["ner_entities"],
        score_thresholds=spec["score_thresholds"],
        recognizers_text=spec.get("recognizers_text"),
        budget=spec.get("budget"),
    )


def serve(sock: socket.socket) -> int:
    rfile = sock.makefile("rb")
    spec = read_frame(rfile)
    if not isinstance(spec, dict):
        return 0  # the worker went away before sending the settings
    from recognizers.types import DetectionError

    try:
        detector = build_detector(spec)
    except Exception as exc:
        sock.sendall(encode_frame(("error", _safe_message(exc))))
        return 1
    sock.sendall(encode_frame(("ready", os.getpid(), detector.describe())))
    while True:
        texts = read_frame(rfile)
        if texts is None:
            return 0
        try:
            reply: tuple[str, Any]
            if isinstance(texts, tuple) and texts and texts[0] == "groups":
                _, budgets, groups = texts
                answers = detector.analyze_groups(groups, budgets)
                reply = ("ok", [a if isinstance(a, str) else _plain(a) for a in answers])
            else:
                results: Sequence[Sequence[Any]] = detector.analyze_many(texts)
                reply = ("ok", _plain(results))
        except Exception as exc:  # DetectionError: its message is value-free; anything else by class
            reply = ("error", str(exc) if isinstance(exc, DetectionError) else exc.__class__.__name__)
        sock.sendall(encode_frame(reply))


def _plain(results: Sequence[Sequence[Any]]) -> list[list[tuple[Any, ...]]]:
    return [[(f.start, f.end, f.entity, f.score, f.recognizer) for f in found] for found in results]


def die_with_parent(parent: int) -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; False if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: end of file still ends us
        pass
    return os.getppid() == parent


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="detection process of one proxy worker (internal)")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--parent", type=int, default=0, help="the worker's pid")
    args = ap.parse_args(argv)
    from proxy.checks import limit_blas_threads

    limit_blas_threads()  # before the detector imports numpy (inherited from the worker anyway)
    if args.parent and not die_with_parent(args.parent):
        return 0  # the worker died before we could tie ourselves to it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=os.environ.get("PROXY_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    sock = socket.socket(fileno=args.fd)
    try:
        return serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the worker is gone
    finally:
        sock.close()


if __name__ == "__main__":
    raise SystemExit(main())
