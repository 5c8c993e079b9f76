"""WebSocket relay: messages redacted one by one, in both directions as the policy says.

aiohttp reassembles fragmented messages before we see them and enforces the per-message size
limit (closing with 1009); invalid UTF-8 in a text message closes with 1007. A message is sent on
only after it is redacted, and the next one is read only after the send returned, so a slow peer
slows the other side (the reader's own buffer is bounded by aiohttp's flow control).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web
from multidict import CIMultiDict

from proxy import metrics
from proxy.config import WebSocketRoute
from proxy.errors import DetectionError, RedactionError, VaultError, Withheld
from proxy.http.cobrowse import ws_redactor
from proxy.http.errors import ProxyError, answer_for, ws_close_code
from proxy.http.forward import conversation_scope, header_rules, scanned_headers
from proxy.http.runtime import Runtime, Upstreams
from proxy.redaction import Direction, run

__all__ = ["relay"]

log = logging.getLogger("proxy.ws")

#: Headers of the client's handshake that must not be copied to the upstream handshake.
_HANDSHAKE = (
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "cookie",
)


async def relay(
    request: web.Request, rt: Runtime, upstreams: Upstreams, route: WebSocketRoute, rid: str
) -> web.StreamResponse:
    max_msg = rt.cfg.limits.max_message_bytes
    red = rt.redactions[route.destination]
    scope = conversation_scope(red, request.headers, rid)  # one connection: one conversation
    parts, path_events = await run(
        red.plan_request(
            path=upstreams.tail(route, request.rel_url.path),
            query=[],
            headers=[],
            ctype="",
            charset=None,
            body=None,
            scope=scope,
        ),
        rt.detect,
    )
    rt.record(path_events, rid=rid, destination=route.destination, direction="request")
    url = upstreams.url(route, parts.path).replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    # Only subprotocols the route names are offered upstream (a token is free text: default deny).
    protocols = [p for p in offered if p in route.subprotocols]
    if not web.WebSocketResponse(protocols=protocols).can_prepare(request).ok:
        # an invalid client handshake is refused before anything is opened upstream
        raise ProxyError(400, "invalid WebSocket handshake")
    handshake = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HANDSHAKE)
    rules = header_rules(route.headers, "request")
    headers = await scanned_headers(rt, red, "request", handshake, rules, rid=rid, destination=route.destination)
    headers["X-Request-Id"] = rid
    try:
        upstream = await upstreams.session.ws_connect(
            url,
            protocols=protocols,
            headers=headers,
            max_msg_size=max_msg,
            autoping=True,  # control frames are hop-by-hop: each side's pings are answered here
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
    except aiohttp.WSServerHandshakeError as exc:
        raise ProxyError(502, f"upstream refused the WebSocket handshake ({exc.status})") from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise ProxyError(504, "upstream timed out") from None
    except aiohttp.ClientError:
        raise ProxyError(502, "upstream unreachable") from None

    client = web.WebSocketResponse(
        protocols=[upstream.protocol] if upstream.protocol else (),
        max_msg_size=max_msg,
        autoping=True,  # control frames are hop-by-hop: each side's pings are answered here
    )
    client.headers["X-Request-Id"] = rid
    try:
        await client.prepare(request)
    except Exception:
        await upstream.close()
        raise
    metrics.OPEN_SOCKETS.inc()
    closing: dict[str, tuple[int, bytes]] = {}  # the first close (code, reason) wins

    async def pump(src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
                   dst: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
                   direction: str) -> None:  # fmt: skip
        d: Direction = "request" if direction == "request" else "response"
        on_message = rt.on_message(rid=rid, destination=route.destination, direction=d, kind="websocket")
        redactor = ws_redactor(red, route, d, rt, on_message, scope)
        rrweb = route.format == "rrweb"
        binary = red.passes_binary(d, route.binary_messages == "pass")
        while True:
            msg = await src.receive()
            if msg.type == WSMsgType.TEXT:
                try:
                    out = await redactor.feed(msg.data.encode("utf-8"))
                except Withheld as err:  # this message only: dropped, audited, counted
                    rt.withheld(err, rid=rid, destination=route.destination, direction=d)
                    continue
                except (RedactionError, DetectionError, VaultError) as err:
                    ans = answer_for(err)
                    closing["reason"] = (ws_close_code(err), (ans.code if ans else "error").encode())
                    return
                if out or not rrweb:  # rrweb: a message whose events were all dropped sends nothing
                    await dst.send_str(out.decode("utf-8"))
            elif msg.type == WSMsgType.BINARY:
                # Binary cannot be scanned: in a redacted direction it is dropped whatever the route says.
                if binary:
                    await dst.send_bytes(msg.data)
                else:
                    metrics.STREAM_MESSAGES.labels("websocket_binary_dropped", direction).inc()
            elif msg.type in (WSMsgType.PING, WSMsgType.PONG):
                continue  # answered by aiohttp (autoping); a payload never crosses to the other side
            elif msg.type == WSMsgType.CLOSE:
                # the peer's close code is relayed; its reason is free text and is not
                closing.setdefault("reason", (src.close_code or WSCloseCode.OK, b""))
                return
            elif msg.type == WSMsgType.ERROR:
                exc = src.exception()
                if isinstance(exc, aiohttp.WebSocketError):
                    closing.setdefault("reason", (exc.code, b""))
                else:
                    closing.setdefault("reason", (WSCloseCode.INTERNAL_ERROR, b""))
                return
            else:  # CLOSING / CLOSED
                closing.setdefault("reason", (src.close_code or WSCloseCode.OK, b""))
                return

    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(pump(client, upstream, "request")),
        loop.create_task(pump(upstream, client, "response")),
    ]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                log.warning("websocket relay ended with %s", t.exception().__class__.__name__)
                closing.setdefault("reason", (WSCloseCode.INTERNAL_ERROR, b""))
        code, reason = closing.get("reason", (int(WSCloseCode.OK), b""))
        if code in (1005, 1006):  # not sendable on the wire
            code = WSCloseCode.GOING_AWAY
        await asyncio.gather(
            client.close(code=code, message=reason), upstream.close(code=code, message=reason), return_exceptions=True
        )
    finally:
        metrics.OPEN_SOCKETS.dec()
        for t in tasks:
            if not t.done():
                t.cancel()
    return client
