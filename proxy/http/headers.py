"""Which headers cross the proxy."""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
        "TE", "Trailer", "Trailers", "Transfer-Encoding", "Upgrade",
    )
)  # fmt: skip

#: Recomputed by the proxy for the body it actually sends.
BODY_HEADERS = frozenset({"content-length", "content-encoding", "host"})

#: Headers that identify the client's address: never forwarded by a privacy proxy.
CLIENT_ADDRESS = frozenset({"x-forwarded-for", "x-real-ip", "forwarded", "true-client-ip", "cf-connecting-ip"})


_SKIP_WITH_BODY = HOP_BY_HOP | BODY_HEADERS


def filtered(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], drop: Iterable[str] = (), *, body_headers: bool = True
) -> CIMultiDict[str]:
    skip = _SKIP_WITH_BODY if body_headers else HOP_BY_HOP
    if drop:
        skip = skip | {d.lower() for d in drop}
    connection = headers.getall("Connection", ())
    if connection:  # headers the sender named hop-by-hop
        skip = skip | {t.strip().lower() for v in connection for t in v.split(",") if t.strip()}
    out: CIMultiDict[str] = CIMultiDict()
    for k, v in headers.items():
        if k.lower() not in skip:
            out.add(k, v)
    return out
