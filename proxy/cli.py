"""Command line: ``serve | redact | check-config | explain | erase | lookup`` (see INTERFACE.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from proxy.checks import config_problems
from proxy.config import DEFAULT_CONFIG, ProxyConfig, load_config, pseudonym_key
from proxy.yamlload import ConfigError

EXIT_CONFIG = 2
#: The commands of the contract; ``_worker`` (the supervisor's own) is left out of ``--help``.
PUBLIC_COMMANDS = ("serve", "redact", "check-config", "explain", "erase", "lookup")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m proxy", description="PII redaction sidecar proxy")
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(PUBLIC_COMMANDS) + "}")
    s = sub.add_parser("serve", help="run the proxy")
    s.add_argument("--config", default=DEFAULT_CONFIG)
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--admin-port", type=int)
    s.add_argument("--workers", type=int, default=None, help="worker processes (default: usable CPUs)")
    r = sub.add_parser("redact", help="redact stdin to stdout, one line per line")
    r.add_argument("--config", default=DEFAULT_CONFIG)
    r.add_argument("--destination", required=True)
    r.add_argument("--format", choices=("text", "ndjson", "rrweb"), default="text")
    r.add_argument("--audit", action="store_true", help="write audit records")
    c = sub.add_parser("check-config", help="validate a config file")
    c.add_argument("path", nargs="?", default=DEFAULT_CONFIG)
    e = sub.add_parser("explain", help="show the findings of one message read on stdin")
    e.add_argument("--config", default=DEFAULT_CONFIG)
    e.add_argument("--destination", required=True)
    for name, what in (("erase", "erase a person's pseudonym tokens"), ("lookup", "list a person's pseudonym tokens")):
        v = sub.add_parser(name, help=f"{what}; the value is read on stdin (never from argv)")
        v.add_argument("--config", default=DEFAULT_CONFIG)
        v.add_argument("--entity", required=True, help="entity type, e.g. EMAIL_ADDRESS")
    # No ``help=``: argparse then lists no line for it (``help=SUPPRESS`` prints "==SUPPRESS==").
    w = sub.add_parser("_worker")
    w.add_argument("--config", required=True)
    w.add_argument("--host", required=True)
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--ready-file", required=True)
    w.add_argument("--index", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) in ("erase", "lookup"):
            # never echoed: an extra argument here is most likely the value itself
            print(f"error: {args.command} reads the value on stdin, never from the command line", file=sys.stderr)
            return EXIT_CONFIG
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(
        level=os.environ.get("PROXY_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    # Presidio logs every analyze call at INFO: keep ops' logs for what matters.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    # aiohttp's WebSocket handshake warns with the client's subprotocols quoted (free text a
    # client controls): the proxy decides on them itself (routes' `subprotocols`), silently.
    logging.getLogger("aiohttp.websocket").setLevel(logging.ERROR)
    if args.command == "check-config":
        return check_config(args.path)
    if args.command == "serve":
        from proxy.serve import serve

        return serve(args)
    if args.command == "_worker":
        from proxy.serve import worker_main

        return worker_main(args)
    cfg = _load_or_exit(args.config)
    if cfg is None:
        return EXIT_CONFIG
    if args.command in ("erase", "lookup"):
        return subject(cfg, args.command, args.entity, sys.stdin.buffer.read())
    if args.destination not in cfg.destinations:
        print(f"error: unknown destination {args.destination!r}; known: {', '.join(cfg.destinations)}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "redact":
        return redact(cfg, args.destination, args.format, args.audit, sys.stdin.buffer, sys.stdout)
    return explain(cfg, args.destination, sys.stdin.buffer.read())


def _load_or_exit(path: str) -> ProxyConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def check_config(path: str) -> int:
    problems = config_problems(path)
    if problems:
        for p in problems:
            print(p)
        return EXIT_CONFIG
    from proxy.serve import missing_key
    from proxy.vault import key_problem

    cfg = load_config(path)
    vault = key_problem(cfg)
    if vault is not None and vault[1]:  # a key that is set but malformed: a config error
        print(f"error: {vault[0]}")
        return EXIT_CONFIG
    print("ok")
    if vault is not None:
        print(f"warning: {vault[0]}: serve will refuse to start", file=sys.stderr)
    need = missing_key(cfg)
    if need:
        print(
            f"warning: destination(s) {', '.join(need)} hash values with a keyed hash, but "
            f"{cfg.secrets.pseudonym_key_env} is unset: serve will refuse to start",
            file=sys.stderr,
        )
    return 0


def _policy_or_exit(cfg: ProxyConfig, destination: str, *, need_key: bool = True) -> Any:
    from proxy.policy import Policy, PolicyError

    key = pseudonym_key(cfg)
    if key is None and not need_key:
        key = b"explain never prints a hashed value"
    try:
        return Policy(destination, cfg.destinations[destination], key)
    except PolicyError:
        print(
            f"error: destination {destination!r} hashes values: set {cfg.secrets.pseudonym_key_env}",
            file=sys.stderr,
        )
        return None


def _detector(cfg: ProxyConfig) -> Any:
    from proxy.detection import make_detector

    return make_detector(cfg)


def redact(cfg: ProxyConfig, destination: str, fmt: str, audit: bool, stdin: Any, stdout: TextIO) -> int:
    """stdin to stdout, exactly one output line per input line, in order."""
    from proxy.audit import AuditLog
    from proxy.redaction import PayloadError, Redaction, run_sync
    from proxy.redaction.normalize import normalizing_sync

    policy = _policy_or_exit(cfg, destination)
    if policy is None:
        return EXIT_CONFIG
    try:
        detector = _detector(cfg)
    except Exception as exc:
        print(f"error: detection could not start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    analyze = normalizing_sync(detector.analyze_many)
    log = AuditLog(cfg.audit.file if audit else None)
    if policy.pseudonymises:
        return _redact_pseudonyms(cfg, policy, fmt, analyze, log, destination, stdin, stdout)
    red = Redaction(policy)
    bad = "null" if fmt in ("ndjson", "rrweb") else ""
    session = red.rrweb.session()
    for number, raw in enumerate(iter(stdin.readline, b""), start=1):
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        if not line.strip():
            stdout.write("\n")
            stdout.flush()
            continue
        try:
            if fmt == "rrweb":  # each line one rrweb event or an array; the lines are one session
                out, events = _rrweb_line(red, session, line, analyze)
            else:
                plan = red.plan_line(line) if fmt == "ndjson" else red.plan_body("text/plain", "utf-8", line)
                (out, events) = run_sync(plan, analyze)
        except PayloadError as exc:
            print(f"line {number}: {exc}", file=sys.stderr)
            stdout.write(bad + "\n")
            stdout.flush()
            continue
        except Exception as exc:  # detection failed: fail closed for this line
            print(f"line {number}: detection failed ({exc.__class__.__name__})", file=sys.stderr)
            stdout.write(bad + "\n")
            stdout.flush()
            continue
        text = out.decode("utf-8") if isinstance(out, bytes) else str(out)
        stdout.write(text.replace("\n", " ").replace("\r", " ") + "\n")
        stdout.flush()
        log.write(events, request_id=f"redact-{os.getpid()}-{number}", destination=destination, direction="request")
    log.close()
    return 0


def _redact_pseudonyms(
    cfg: ProxyConfig, policy: Any, fmt: str, analyze: Any, log: Any, destination: str, stdin: Any, stdout: TextIO
) -> int:
    """``redact`` for a destination that pseudonymises: the tokens come from the configured vault
    (the one ``serve`` uses), every line of one run in one conversation unless it names its own."""
    import asyncio

    from proxy.http.runtime import build_vault
    from proxy.redaction import PayloadError, Redaction, run
    from proxy.vault import key_problem

    problem = key_problem(cfg)
    vault = build_vault(cfg) if problem is None else None
    if vault is None:
        print(f"error: {problem[0] if problem else 'no route uses a destination that pseudonymises'}", file=sys.stderr)
        return EXIT_CONFIG
    red = Redaction(policy, vault=vault)
    scope = f"redact-{os.getpid()}-{int.from_bytes(os.urandom(4), 'big'):08x}"

    async def detect(texts: list[str]) -> Any:
        return analyze(texts)

    bad = "null" if fmt == "ndjson" else ""
    with asyncio.Runner() as runner:
        try:
            for number, raw in enumerate(iter(stdin.readline, b""), start=1):
                line = raw.removesuffix(b"\n").removesuffix(b"\r")
                text = ""
                if line.strip():
                    try:
                        plan = red.plan_line(line, scope) if fmt == "ndjson" else red.plan_text(
                            line.decode("utf-8"), "body", scope)  # fmt: skip
                        out, events = runner.run(run(plan, detect))
                        text = out.decode("utf-8") if isinstance(out, bytes) else str(out)
                        log.write(events, request_id=f"redact-{os.getpid()}-{number}", destination=destination,
                                  direction="request")  # fmt: skip
                    except (PayloadError, UnicodeDecodeError) as exc:
                        print(f"line {number}: {getattr(exc, 'message', 'invalid UTF-8')}", file=sys.stderr)
                        text = bad
                    except Exception as exc:  # detection or the vault failed: fail closed for this line
                        print(f"line {number}: redaction failed ({exc.__class__.__name__})", file=sys.stderr)
                        text = bad
                stdout.write(text.replace("\n", " ").replace("\r", " ") + "\n")
                stdout.flush()
        finally:
            runner.run(vault.close())
    log.close()
    return 0


def _rrweb_line(red: Any, session: Any, line: bytes, analyze: Any) -> tuple[bytes, list[Any]]:
    """One line of ``redact --format rrweb``: the redacted event (``null`` when it was dropped)
    or array, through the destination's co-browse policy and the session's node map."""
    from proxy.redaction import run_sync
    from proxy.redaction.rrweb import dumps, loads

    value = loads(line)
    single = isinstance(value, dict)
    plan = red.rrweb.plan(session, [value] if single else value if isinstance(value, list) else [value])
    out, events = run_sync(plan, analyze)
    return dumps((out[0] if out else None) if single else out), events


def explain(cfg: ProxyConfig, destination: str, data: bytes) -> int:
    policy = _policy_or_exit(cfg, destination, need_key=False)
    if policy is None:
        return EXIT_CONFIG
    try:
        text = data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:
        print(f"error: invalid UTF-8 at byte {exc.start}", file=sys.stderr)
        return 1
    from proxy.redaction import Redaction

    findings = Redaction(policy).explain(text, _detector(cfg).explain)
    if not findings:
        print("no findings")
    for rec in findings:
        print(json.dumps(rec))
    return 0


def subject(cfg: ProxyConfig, op: str, entity: str, data: bytes) -> int:
    """``erase``/``lookup``: one person (``--entity`` + the value on stdin) in the configured
    vault; prints ``{"erased": N}`` or ``{"tokens": [...]}``; audited without the value."""
    import asyncio

    from proxy.audit import AuditLog
    from proxy.errors import VaultError
    from proxy.http.runtime import build_vault
    from proxy.vault import key_problem
    from proxy.vault.subjects import SubjectRequestError, parse_request, run_request

    problem = key_problem(cfg)
    if problem is not None:
        print(f"error: {problem[0]}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        value = data.decode("utf-8").rstrip("\r\n")
        entity, value = parse_request({"entity": entity, "value": value})
    except UnicodeDecodeError as exc:
        print(f"error: invalid UTF-8 at byte {exc.start}", file=sys.stderr)
        return 1
    except SubjectRequestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    vault = build_vault(cfg)
    if vault is None:
        print("error: no destination in use pseudonymises: there is no vault", file=sys.stderr)
        return EXIT_CONFIG
    audit = AuditLog(cfg.audit.file if cfg.audit.enabled else None)

    async def go() -> dict[str, Any]:
        try:
            return await run_request(vault, audit, "erase" if op == "erase" else "lookup", entity, value, via="cli")
        finally:
            await vault.close()

    try:
        result = asyncio.run(go())
    except VaultError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        audit.close()
    print(json.dumps(result))
    return 0
