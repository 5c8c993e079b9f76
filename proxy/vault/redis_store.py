"""The shared vault store: Redis (``REDIS_URL``), for replicas that must give the same token for
the same person. One round-trip per call; issue, lookup and erase are Lua scripts, so two
replicas issuing for the same person at once get one token.

Keys (every one expires with its entry; none holds a raw value)::

    pv:i:<index hex>    -> token               the person-in-scope's token
    pv:t:<token>        -> sealed value        AES-GCM, the token as associated data
    pv:p:<person hex>   -> set of "<index hex> <token>"   the person's tokens, every scope

A single Redis (or a primary with replicas), not Redis Cluster: the scripts touch keys they
compute. Persistence (RDB/AOF) is the operator's choice: what it writes is what is listed above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from proxy.errors import VaultError
from proxy.vault import Entry

__all__ = ["RedisStore"]

_ISSUE = """
local ttl = tonumber(ARGV[1])
local out = {}
local n = (#ARGV - 1) / 4
for i = 0, n - 1 do
  local b = 2 + i * 4
  local ik = 'pv:i:' .. ARGV[b]
  local existing = redis.call('GET', ik)
  if existing and redis.call('EXISTS', 'pv:t:' .. existing) == 1 then
    out[#out + 1] = existing
  elseif redis.call('SET', 'pv:t:' .. ARGV[b + 1], ARGV[b + 3], 'NX', 'PX', ttl) then
    redis.call('SET', ik, ARGV[b + 1], 'PX', ttl)
    local pk = 'pv:p:' .. ARGV[b + 2]
    redis.call('SADD', pk, ARGV[b] .. ' ' .. ARGV[b + 1])
    if redis.call('PTTL', pk) < ttl then redis.call('PEXPIRE', pk, ttl) end
    out[#out + 1] = ARGV[b + 1]
  else
    out[#out + 1] = ''
  end
end
return out
"""

_LOOKUP = """
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local token = string.sub(m, string.find(m, ' ') + 1)
  if redis.call('EXISTS', 'pv:t:' .. token) == 1 then
    out[#out + 1] = token
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out
"""

_ERASE = """
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local sp = string.find(m, ' ')
  local idx, token = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
  if redis.call('GET', 'pv:i:' .. idx) == token then redis.call('DEL', 'pv:i:' .. idx) end
  n = n + redis.call('DEL', 'pv:t:' .. token)
end
redis.call('DEL', KEYS[1])
return n
"""


class RedisStore:
    name = "redis"

    def __init__(self, url: str, *, client: Any = None) -> None:
        self._r: Any = client or aioredis.Redis.from_url(url, decode_responses=False)
        self._issue = self._r.register_script(_ISSUE)
        self._lookup = self._r.register_script(_LOOKUP)
        self._erase = self._r.register_script(_ERASE)

    async def issue(self, entries: Sequence[Entry], ttl: float) -> list[str | None]:
        args: list[Any] = [max(int(ttl * 1000), 1)]
        for e in entries:
            args += [e.index.hex(), e.token, e.person.hex(), e.sealed]
        try:
            got = await self._issue(keys=[], args=args)
        except RedisError as exc:
            raise VaultError(f"vault store failed ({exc.__class__.__name__})") from None
        return [(t.decode("ascii") if t else None) for t in got]

    async def fetch(self, tokens: Sequence[str]) -> dict[str, bytes]:
        if not tokens:
            return {}
        try:
            got = await self._r.mget([f"pv:t:{t}" for t in tokens])
        except RedisError as exc:
            raise VaultError(f"vault store failed ({exc.__class__.__name__})") from None
        return {t: v for t, v in zip(tokens, got, strict=True) if v is not None}

    async def tokens_of(self, person: bytes) -> list[str]:
        try:
            got = await self._lookup(keys=[f"pv:p:{person.hex()}"], args=[])
        except RedisError as exc:
            raise VaultError(f"vault store failed ({exc.__class__.__name__})") from None
        return [t.decode("ascii") for t in got]

    async def erase(self, person: bytes) -> int:
        try:
            return int(await self._erase(keys=[f"pv:p:{person.hex()}"], args=[]))
        except RedisError as exc:
            raise VaultError(f"vault store failed ({exc.__class__.__name__})") from None

    async def purge(self) -> int:
        return 0  # every key expires by itself (PX), its person set with its newest token

    async def close(self) -> None:
        await self._r.aclose()
