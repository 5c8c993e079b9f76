"""Transport: aiohttp server, forwarding, WebSocket relay, log ingest, admin endpoints.

Its modules are imported by name (``proxy.http.app``, ``proxy.http.forward`` ...); the package
itself exports nothing.
"""

__all__: list[str] = []
