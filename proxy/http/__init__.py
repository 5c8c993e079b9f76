"""Transport: aiohttp server, forwarding, WebSocket relay, admin endpoints."""
