"""The real-browser co-browse test: headless Chromium loads a local account page that records
itself with rrweb (from npm, served from node_modules) and streams its events through the proxy's
``/cobrowse/ws/`` route to a recording upstream; the test types PII into the form through the
browser (CDP key events) and asserts that no typed or displayed value reached the upstream. Then
rrweb's Replayer replays the redacted events in Chromium: no error, the page shows masked text,
and screenshots of the replay are kept (``var/artifacts/cobrowse-replay.png``, ``...-form.png``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from tests.browser.cdp import chromium
from tests.helpers import ROOT, ProxyProcess, free_port, start_proxy

BROWSER = ROOT / "tests" / "browser"
RRWEB_DIST = BROWSER / "node_modules" / "rrweb" / "dist"
ARTIFACTS = ROOT / "var" / "artifacts"

#: What the visitor types, field by field (selector, value).
TYPED = [
    ("#name", "Jonathan Whitaker"),
    ("#email", "jon.whitaker@example.net"),
    ("#phone", "415 555 0198"),
    ("#street", "1600 Amphitheatre Parkway"),
    ("#zip", "94043"),
    ("#card", "5500 0000 0000 0004"),
    ("#cvc", "737"),
    ("#notes", "Please call Jonathan Whitaker at 415 555 0198 or jon.whitaker@example.net"),
]
#: Typed into the iframe's fields.
FRAME_TYPED = [("#fcard", "4000 0566 5566 5556"), ("#fmemo", "ship to Ulrike Brandt")]
#: Pieces of what is typed and what the account page displays that must never reach the
#: upstream, in any string of any event (numbers elsewhere, timestamps, are not looked at).
SECRETS = (
    "Jonathan", "Whitaker", "whitaker", "jon.w", "0198", "Amphitheatre", "94043", "5500", "0004", "737",
    "4000", "5556", "Ulrike", "Brandt",
    "Maria", "Garcia", "garcia", "555-0132", "Evergreen", "97403", "ACCT-0042-7781", "MC-77-QX",
)  # fmt: skip


class Recorder:
    """The chat partner: records every WebSocket text message and POST body."""

    def __init__(self) -> None:
        self.url = ""
        self.messages: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.messages.append(msg.data)
        return ws

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in self.messages:
            v = json.loads(m)
            out.extend(v if isinstance(v, list) else [v])
        return out


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_get("/{tail:.*}", rec.handle)
    runner, rec.url = await _serve(app)
    yield rec
    await runner.cleanup()


@pytest.fixture(scope="module")
def proxy(recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    p = start_proxy(tmp_path_factory.mktemp("cobrowse-browser"), env={"CHAT_PARTNER_URL": recorder.url})
    yield p
    p.stop()


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def found_secrets(events: list[dict[str, Any]]) -> set[str]:
    """Which of SECRETS appear in the events' strings (the names of the pieces, never a dump)."""
    return {s for text in strings(events) for s in SECRETS if s in text}


def kind(e: dict[str, Any]) -> str:
    names = {0: "dom_content_loaded", 1: "load", 2: "full_snapshot", 3: "incremental", 4: "meta", 5: "custom"}
    sources = {0: "mutation", 1: "mouse_move", 2: "mouse_interaction", 3: "scroll", 4: "viewport_resize", 5: "input"}
    if e["type"] == 3:
        return sources.get(e["data"]["source"], f"source {e['data']['source']}")
    return names.get(e["type"], f"type {e['type']}")


async def test_a_real_rrweb_session_through_the_proxy_then_replayed(
    proxy: ProxyProcess, recorder: Recorder, tmp_path: Path
) -> None:
    assert (RRWEB_DIST / "rrweb.umd.min.cjs").exists(), "run `make browser-deps` (npm ci in tests/browser)"
    redacted: list[dict[str, Any]] = []

    async def rrweb_file(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in ("rrweb.umd.min.cjs", "style.css"):
            raise web.HTTPNotFound()
        ctype = "text/css" if name.endswith(".css") else "application/javascript"
        return web.FileResponse(RRWEB_DIST / name, headers={"Content-Type": ctype})

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(BROWSER / "pages" / request.match_info["name"])

    async def events(request: web.Request) -> web.Response:
        return web.json_response(redacted)

    app = web.Application()
    app.router.add_get("/rrweb/{name}", rrweb_file)
    app.router.add_get("/events.json", events)
    app.router.add_get("/{name:(account|replay)\\.html}", page)
    site_runner, site = await _serve(app)
    recorder.messages.clear()
    try:
        async with chromium(tmp_path / "profile") as tab:
            ws = f"ws://127.0.0.1:{proxy.port}/cobrowse/ws/visitor-42"
            query = "ws=" + ws + "&email=maria.garcia%40example.com"
            await tab.navigate(f"{site}/account.html?{query}", "window.__sent > 1")
            for i in range(30):  # the visitor moves the mouse around and scrolls
                await tab.call("Input.dispatchMouseEvent", type="mouseMoved", x=50 + i * 15, y=80 + i * 9)
            for y in (200, 400, 650, 300, 0):
                await tab.evaluate(f"window.scrollTo(0, {y})")
                await tab.call("Input.dispatchMouseEvent", type="mouseMoved", x=300, y=300 + y // 10)
            for selector, value in TYPED:
                await tab.call(
                    "Input.dispatchMouseEvent", type="mousePressed", x=200, y=500, button="left", clickCount=1
                )
                await tab.call(
                    "Input.dispatchMouseEvent", type="mouseReleased", x=200, y=500, button="left", clickCount=1
                )
                await tab.type_text(selector, value)
            # the same-origin iframe: rrweb records it (attached by a mutation); typed into it too
            await tab.wait_for("document.querySelector('#billing').contentDocument.querySelector('#fcard') !== null")
            frame = "document.querySelector('#billing').contentDocument"
            await tab.evaluate("document.querySelector('#billing').focus()")
            for selector, value in FRAME_TYPED:
                await tab.evaluate(f"{frame}.querySelector('{selector}').focus()")
                for ch in value:
                    await tab.call("Input.dispatchKeyEvent", type="keyDown", text=ch, unmodifiedText=ch, key=ch)
                    await tab.call("Input.dispatchKeyEvent", type="keyUp", key=ch)
            await tab.evaluate("document.querySelector('#name').focus()")  # the CVC's change event
            await tab.wait_for("document.querySelectorAll('#details p').length === 1")
            sent = await tab.wait_for(
                "(async () => { await new Promise(r => setTimeout(r, 1200)); return window.__sent; })()"
            )
            # everything the page sent went through (nothing of a normal session is dropped)
            for _ in range(100):
                if len(recorder.messages) >= sent:
                    break
                await tab.evaluate("new Promise(r => setTimeout(r, 100))")
            assert len(recorder.messages) == sent, (len(recorder.messages), sent)
            assert await tab.evaluate("window.__closed === undefined")
            stats = await tab.evaluate("({kinds: window.__kinds, bytes: window.__bytes})")
            assert tab.errors == []

            redacted.extend(recorder.events())
            assert found_secrets(redacted) == set()
            by_kind = Counter(kind(e) for e in redacted)
            inputs = [e for e in redacted if kind(e) == "input"]
            assert len(inputs) >= sum(len(v) for _, v in TYPED + FRAME_TYPED)  # one per key at least
            iframe_adds = [e for e in redacted if kind(e) == "mutation" and e["data"].get("isAttachIframe")]
            assert iframe_adds, "rrweb attached the iframe's document"
            assert '"isShadow": true' in json.dumps(redacted)  # the shadow root's children were recorded
            assert by_kind["full_snapshot"] == 1 and by_kind["mouse_move"] > 0 and by_kind["scroll"] > 0
            assert any("*" in (e["data"]["text"]) for e in inputs)
            out_bytes = sum(len(m.encode()) for m in recorder.messages)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "cobrowse-session-redacted.json").write_text(json.dumps(redacted))
            print(f"\nrrweb session: {len(redacted)} events {dict(sorted(by_kind.items()))}; "
                  f"{stats['bytes']} bytes sent by the page, {out_bytes} bytes forwarded; "
                  f"page-side kinds {stats['kinds']}")  # fmt: skip

            # ---- replay the redacted events with rrweb's Replayer ----
            tab.errors.clear()
            tab.warnings.clear()
            await tab.navigate(f"{site}/replay.html", "window.__replayed !== undefined")
            replayed = await tab.evaluate("window.__replayed")
            assert "error" not in replayed and replayed["events"] == len(redacted)
            doc = "window.__replayer.iframe.contentDocument"
            text = await tab.evaluate(f"{doc}.body.innerText")
            assert "Welcome back," in text and "Update your details" in text  # the page is there ...
            assert "*" * len("Maria Garcia") in text  # ... masked
            assert not any(s in text for s in SECRETS)
            values = await tab.evaluate(f"[...{doc}.querySelectorAll('input, textarea')].map(e => [e.id, e.value])")
            typed = dict(TYPED)
            for el_id, value in values:
                assert value and "*" in value and value != typed["#" + el_id], el_id
                assert not any(s in value for s in SECRETS), el_id
            # the replay ends where the visitor was (the iframe's form); the account part first
            await tab.evaluate("window.__replayer.iframe.contentWindow.scrollTo(0, 0)")
            await tab.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))")
            shot = await tab.screenshot(ARTIFACTS / "cobrowse-replay.png")
            (tmp_path / "cobrowse-replay.png").write_bytes(shot.read_bytes())
            await tab.evaluate(f"{doc}.querySelector('#details').scrollIntoView()")
            await tab.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))")
            form_shot = await tab.screenshot(ARTIFACTS / "cobrowse-replay-form.png")
            print(f"replay screenshots: {shot} {form_shot}")
            assert tab.errors == []
            assert not [w for w in tab.warnings if "not found" in w.lower()]  # every node id resolved
    finally:
        await site_runner.cleanup()
