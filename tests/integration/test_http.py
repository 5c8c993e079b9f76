"""The whole HTTP path for real: aiohttp client -> proxy process -> aiohttp upstream on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import zlib
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import TEST_KEY, ProxyProcess, Upstream, running_proxy, upstream_server

CHAT = {
    "conversation_id": "c-42",
    "sender": "visitor",
    "sent_at": "2026-11-25T10:00:00Z",
    "text": "Hi, I'm Maria Garcia, my email is maria.garcia@example.com and card 4111 1111 1111 1111, zip 94107.",
    "survey": {"email": "maria.garcia@example.com", "zip": "94107-1234", "age": 34, "income": "$85,000"},
    "visitor_ip": "203.0.113.57",
}
RAW_VALUES = ("Maria Garcia", "maria.garcia@example.com", "4111 1111 1111 1111", "94107", "203.0.113.57", "85,000")


def no_raw(blob: str | bytes) -> bool:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    return not any(v in text for v in RAW_VALUES)


async def post(
    proxy: ProxyProcess, path: str, data: bytes, ctype: str | None, **headers: str
) -> aiohttp.ClientResponse:
    hdrs = dict(headers)
    if ctype:
        hdrs["Content-Type"] = ctype
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        resp = await s.post(proxy.url + path, data=io.BytesIO(data), headers=hdrs)
        await resp.read()
        return resp


async def test_chat_message_redacted_as_promised(proxy: ProxyProcess, clean: Upstream) -> None:
    resp = await post(proxy, "/chat/messages?x=1", json.dumps(CHAT).encode(), "application/json")
    assert resp.status == 200
    assert len(clean.received) == 1
    got = clean.received[0]
    assert got.path == "/messages"
    body = json.loads(got.body)
    assert body["conversation_id"] == "c-42"
    assert body["sender"] == "visitor"
    assert body["sent_at"] == "2026-11-25T10:00:00Z"
    assert "<PERSON>" in body["text"]
    assert "<EMAIL_ADDRESS>" in body["text"]
    assert "<CREDIT_CARD>" in body["text"]
    assert "941XX" in body["text"]
    assert body["survey"] == {
        "email": hmac.new(TEST_KEY.encode(), b"maria.garcia@example.com", hashlib.sha256).hexdigest(),
        "zip": "941XX",
        "age": "30-39",
        "income": "$50,000-$99,999",
    }
    assert "visitor_ip" not in body  # default deny
    assert no_raw(got.body)
    # the answer comes back as the upstream sent it (the echo of the redacted message)
    assert json.loads(await resp.read()) == body
    rid = resp.headers["X-Request-Id"]
    assert got.headers.get("X-Request-Id") == rid, sorted(got.headers)
    records = [r for r in proxy.audit() if r["request_id"] == rid]
    assert {(r["field"], r["operator"]) for r in records} >= {
        ("text", "tag"),
        ("text", "zip3"),
        ("survey.email", "hash"),
        ("survey.zip", "zip3"),
        ("survey.age", "age_band"),
        ("survey.income", "income_band"),
        ("*", "drop"),  # an unnamed key: never written raw to the audit
    }
    assert all(r["destination"] == "chat_partner" and r["direction"] == "request" for r in records)
    assert no_raw(json.dumps(records))


async def test_form_body(proxy: ProxyProcess, clean: Upstream) -> None:
    data = b"conversation_id=c-1&text=call+Maria+Garcia+at+maria.garcia%40example.com&token=abc"
    resp = await post(proxy, "/chat/form", data, "application/x-www-form-urlencoded")
    assert resp.status == 200
    sent = clean.received[0].body.decode()
    assert sent.startswith("conversation_id=c-1&text=")
    assert "%3CPERSON%3E" in sent
    assert "%3CEMAIL_ADDRESS%3E" in sent
    assert "token" not in sent
    assert no_raw(sent)


async def test_text_body_and_charset(proxy: ProxyProcess, clean: Upstream) -> None:
    text = "Grüße from Maria Garcia, reach me at maria.garcia@example.com"
    resp = await post(proxy, "/chat/t", text.encode("latin-1", "replace"), "text/plain; charset=latin-1")
    assert resp.status == 200
    got = clean.received[0]
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert got.body.decode("utf-8") == "Grüße from <PERSON>, reach me at <EMAIL_ADDRESS>"


async def test_ndjson_streamed_line_by_line(proxy: ProxyProcess, clean: Upstream) -> None:
    lines = [
        {"conversation_id": "c-1", "text": "I am Maria Garcia"},
        {"conversation_id": "c-2", "text": "mail maria.garcia@example.com", "secret": 1},
    ]
    data = b"\n".join(json.dumps(x).encode() for x in lines) + b"\n\n"
    resp = await post(proxy, "/chat/stream", data, "application/x-ndjson")
    assert resp.status == 200
    out = clean.received[0].body.decode().split("\n")
    assert json.loads(out[0]) == {"conversation_id": "c-1", "text": "I am <PERSON>"}
    assert json.loads(out[1]) == {"conversation_id": "c-2", "text": "mail <EMAIL_ADDRESS>"}
    assert no_raw(clean.received[0].body)


async def test_query_and_headers(proxy: ProxyProcess, clean: Upstream) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(
            proxy.url + "/chat/search",
            params={"q": "maria.garcia@example.com", "page": "2"},
            headers={
                "Cookie": "session=maria.garcia@example.com",
                "X-Forwarded-For": "203.0.113.57",
                "Referer": "https://shop.example/?email=maria.garcia@example.com",
                "X-Custom": "kept",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "gone",
            },
        )
        assert resp.status == 200
    got = clean.received[0]
    assert got.method == "GET"
    assert parse_qsl(got.query) == [("q", "<EMAIL_ADDRESS>"), ("page", "2")]
    assert "cookie" not in got.headers
    assert "x-forwarded-for" not in got.headers
    assert "x-hop" not in got.headers
    assert "x-custom" not in got.headers  # default deny: only the route's pass and scan lists go
    assert got.headers["referer"] == "https://shop.example/?email=<EMAIL_ADDRESS>"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_request_body(proxy: ProxyProcess, clean: Upstream, encoding: str) -> None:
    raw = json.dumps({"conversation_id": "c-9", "text": "this is Maria Garcia"}).encode()
    data = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    resp = await post(proxy, "/chat/z", data, "application/json", **{"Content-Encoding": encoding})
    assert resp.status == 200
    got = clean.received[0]
    assert "Content-Encoding" not in got.headers
    assert json.loads(got.body) == {"conversation_id": "c-9", "text": "this is <PERSON>"}


async def test_compressed_response_relayed_intact(proxy: ProxyProcess, clean: Upstream) -> None:
    from aiohttp import web

    payload = gzip.compress(b'{"reply": "hello"}')

    def handler(request: web.Request, body: bytes) -> web.Response:
        return web.Response(body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    clean.handler = handler
    async with aiohttp.ClientSession() as s:
        resp = await s.get(proxy.url + "/chat/reply")
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.json() == {"reply": "hello"}


async def test_upstream_status_and_methods_pass_through(proxy: ProxyProcess, clean: Upstream) -> None:
    from aiohttp import web

    clean.handler = lambda request, body: web.Response(status=201, text="made", headers={"X-Up": "1"})
    async with aiohttp.ClientSession() as s:
        for method in ("PUT", "PATCH", "DELETE"):
            resp = await s.request(method, proxy.url + "/chat/thing", json={"conversation_id": "c"})
            assert resp.status == 201
            assert resp.headers["X-Up"] == "1"
            assert await resp.text() == "made"
    assert [r.method for r in clean.received] == ["PUT", "PATCH", "DELETE"]


# ---- the error table ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "ctype", "status", "needle"),
    [
        (b'{"text": "Maria Garcia maria.garcia@example.com",', "application/json", 400, "malformed JSON"),
        (b'{"text": "ok"}\n{"text": "maria.garcia@example.com"', "application/x-ndjson", 400, "line 2"),
        (b"maria.garcia@example.com \xff\xfe", "text/plain", 400, "invalid utf-8"),
        (b"a=%zz&&&", "application/x-www-form-urlencoded", 400, "form"),
        (b"<xml>maria.garcia@example.com</xml>", "application/xml", 415, "content type"),
        (b"maria.garcia@example.com", None, 415, "content type"),
    ],
)
async def test_bad_bodies_forward_nothing(
    proxy: ProxyProcess, clean: Upstream, data: bytes, ctype: str | None, status: int, needle: str
) -> None:
    resp = await post(proxy, "/chat/x", data, ctype)
    assert resp.status == status
    body = await resp.read()
    err = json.loads(body)["error"]
    assert err["status"] == status
    assert needle in err["message"]
    assert no_raw(body)
    # an NDJSON stream may have forwarded its good first line; never the bad one
    assert all(b"maria" not in r.body for r in clean.received)
    if ctype != "application/x-ndjson":
        assert clean.received == []


async def test_body_over_limit_is_413(proxy: ProxyProcess, clean: Upstream) -> None:
    big = json.dumps({"text": "x" * (1024 * 1024)}).encode()
    resp = await post(proxy, "/chat/big", big, "application/json")
    assert resp.status == 413
    assert clean.received == []
    # a gzip bomb is measured after decoding
    bomb = gzip.compress(json.dumps({"text": "a" * (3 * 1024 * 1024)}).encode())
    assert len(bomb) < 1024 * 1024
    resp = await post(proxy, "/chat/big", bomb, "application/json", **{"Content-Encoding": "gzip"})
    assert resp.status == 413
    assert clean.received == []


async def test_unknown_encoding_is_415(proxy: ProxyProcess, clean: Upstream) -> None:
    resp = await post(proxy, "/chat/x", b"xx", "application/json", **{"Content-Encoding": "br"})
    assert resp.status == 415
    assert clean.received == []


async def test_no_route_is_404(proxy: ProxyProcess, clean: Upstream) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(proxy.url + "/elsewhere/maria.garcia@example.com")
        assert resp.status == 404
        assert no_raw(await resp.read())


async def test_nothing_raw_in_proxy_log_or_audit(proxy: ProxyProcess) -> None:
    assert no_raw(proxy.log())
    assert no_raw(json.dumps(proxy.audit()))


async def test_admin_endpoints(proxy: ProxyProcess) -> None:
    async with aiohttp.ClientSession() as s:
        r = await s.get(proxy.admin + "/healthz")
        assert r.status == 200
        r = await s.get(proxy.admin + "/readyz")
        assert r.status == 200
        assert (await r.json())["ready"] is True
        r = await s.get(proxy.admin + "/metrics")
        text = await r.text()
    assert 'proxy_requests_total{route="/chat/",status="200"}' in text
    assert 'proxy_findings_total{destination="chat_partner",entity="EMAIL_ADDRESS",operator="tag"}' in text
    assert "proxy_detection_seconds_bucket" in text
    assert no_raw(text)


async def test_upstream_cookies_never_reach_other_requests(tmp_path: Path) -> None:
    """The upstream session is shared by every visitor: a cookie the partner sets for one must
    not be stored by the proxy and sent with the next visitor's request. (The partner is named
    by host name: aiohttp's default jar ignores cookies of bare IP addresses.)"""

    async def set_cookie(request: web.Request, body: bytes) -> web.Response:
        resp = web.json_response({"ok": True})
        resp.set_cookie("sid", "visitor-a-session", path="/")
        return resp

    async with upstream_server(set_cookie) as up:
        url = up.url.replace("127.0.0.1", "localhost")
        with running_proxy(tmp_path, env={"CHAT_PARTNER_URL": url}) as p:
            for visitor in ("c-a", "c-b"):
                async with aiohttp.ClientSession() as s:
                    r = await s.post(p.url + "/chat/messages", json={"conversation_id": visitor})
                    assert r.status == 200
    assert len(up.received) == 2
    assert "cookie" not in up.received[1].headers
