"""The built-in demo echo upstream, used when ``CHAT_PARTNER_URL`` is unset.

It prints what it received (which is what the proxy forwarded: already redacted) and answers
with it, so a newcomer sees redaction with one ``curl``. WebSocket paths under ``/ws/`` echo
each text message.
"""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

log = logging.getLogger("proxy.demo_echo")


async def _echo(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/ws/") and request.headers.get("Upgrade", "").lower() == "websocket":
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                log.info("demo echo received websocket message: %s", msg.data)
                await ws.send_str(msg.data)
        return ws
    body = await request.read()
    shown = body.decode("utf-8", errors="replace")
    log.info("demo echo received %s %s: %s", request.method, request.rel_url, shown)
    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
    return web.Response(status=200, body=body, headers=headers)


def echo_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    return app


async def start_echo(host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(echo_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = int(runner.addresses[0][1])
    return runner, f"http://{host}:{port}"
