"""The pseudonym vault: reversible tokens for the ``pseudonym`` operator, per-person erasure and
access (issue 15).

What it keeps, per issued token (never a raw value, never a value's plain hash)::

    index   HMAC-SHA256(PSEUDONYM_KEY, "vault-index" | scope | entity | normalised value)
            -> the token: the same person gets the same token within a scope
    person  HMAC-SHA256(PSEUDONYM_KEY, "vault-person" | entity | normalised value)
            -> every token of that person, whatever the scope (erase, lookup)
    token   -> the value as first seen, sealed with AES-256-GCM under VAULT_KEY (12-byte random
            nonce, the token as associated data: a sealed value moved to another token fails)
    expires issue time + ``vault.retention``: after it the entry is gone (the token stays as it
            is in answers, and a new mention gets a new token)

Tokens look like ``<PERSON_3f9c2a7e51d04b86>``: the entity type and 16 random hex digits (64
bits: guessing a live token of another conversation is out of reach; the id is never derived
from the value). The index keys are domain-separated from the ``hash`` operator's HMAC, so an
index never equals a hash sent to a partner.

Stores: :class:`~proxy.vault.sqlite_store.SqliteStore` (``${SPOOL_DIR}/vault.db``, WAL, shared by the
workers of one host and by the supervisor's admin port) and :class:`~proxy.vault.redis_store.RedisStore`
(``REDIS_URL``: shared by replicas; atomic issue and erase in Lua scripts).

The public API (the transport, the admin port, the CLI and the Presidio-compatible face use it)::

    vault = open_vault(cfg, index_key, seal_key)     # or Vault(store, index_key, seal_key, ttl)
    tokens = await vault.pseudonymize("PERSON", ["Ada Lovelace"], scope="c-42")
    tokens = await vault.pseudonymize_many([("c-42", "PERSON", "Ada"), ("global", "EMAIL_ADDRESS", "a@b.c")])
    values = await vault.reveal(["<PERSON_3f9c...>"])       # {token: value} of the known ones only
    text = unmask_text(text, await vault.reveal(find_tokens(text)))
    n = await vault.erase("EMAIL_ADDRESS", "a@b.c")         # every token of that person: gone
    tokens = await vault.lookup("EMAIL_ADDRESS", "a@b.c")
    await vault.close()

``proxy.http.runtime.build_vault(cfg)`` opens it with the keys from the environment (None when no
destination in use needs it). A scope is any string: the core passes ``conversation:<id>`` (a
destination's ``pseudonyms.scope: conversation``) or ``global``; a caller that passes the same
gets the same tokens as that destination. ``start()`` begins the periodic purge of expired
entries (else the first call does).

Every method raises :class:`~proxy.errors.VaultError` when the store cannot answer (the caller
fails closed: 503). Metrics count operations (by store and outcome), tokens issued, un-mask hits
and misses, and erasures; none carries a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from proxy.errors import VaultError

if TYPE_CHECKING:
    from proxy.config import ProxyConfig

__all__ = [
    "TOKEN",
    "Entry",
    "Store",
    "Vault",
    "VaultError",
    "find_tokens",
    "key_problem",
    "normalise",
    "open_vault",
    "unmask_text",
]

#: A token as the vault issues it (and the un-masker looks for).
TOKEN = re.compile(r"<[A-Z][A-Z0-9_]{0,47}_[0-9a-f]{16}>")
_ID_HEX = 16
_NONCE = 12
_ISSUE_ATTEMPTS = 4

T = TypeVar("T")


def normalise(value: str) -> str:
    """The form two mentions of one person share: NFKC, case-folded, blanks collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def find_tokens(text: str) -> list[str]:
    """The distinct tokens in ``text``, in order."""
    return list(dict.fromkeys(TOKEN.findall(text)))


def unmask_text(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every token ``values`` knows replaced; the others stay as they are."""
    if not values:
        return text
    return TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True, slots=True)
class Entry:
    """One token to issue: what the store keeps."""

    token: str
    index: bytes
    person: bytes
    sealed: bytes


class Store(Protocol):
    """Where the vault's entries live. Every method is one round-trip to the store."""

    name: str

    async def issue(self, entries: Sequence[Entry], ttl: float) -> list[str | None]:
        """For each entry: the live token of its index if there is one, else the entry's token,
        now stored; ``None`` when the entry's token is taken by another index (issue again)."""
        ...

    async def fetch(self, tokens: Sequence[str]) -> dict[str, bytes]:
        """The sealed values of the live tokens among ``tokens``."""
        ...

    async def tokens_of(self, person: bytes) -> list[str]: ...

    async def erase(self, person: bytes) -> int:
        """Delete every entry of ``person``; how many tokens were deleted."""
        ...

    async def purge(self) -> int:
        """Delete the entries past their expiry (a store whose entries expire by themselves: 0)."""
        ...

    async def close(self) -> None: ...


class Vault:
    def __init__(self, store: Store, index_key: bytes, seal_key: bytes, ttl: float, timeout: float = 2.0) -> None:
        if len(seal_key) != 32:
            raise ValueError("the vault key must be 32 bytes")
        # imported here, not with the module: ``serve`` checks the vault's keys before it sets up
        # the metrics of its processes (prometheus_client chooses its mode once, at import)
        from proxy import metrics

        self._metrics = metrics
        self.store = store
        self._index_key = index_key
        self._aead = AESGCM(seal_key)
        self.ttl = ttl
        self.timeout = timeout
        #: Expired entries are deleted this often (by each process using the vault), so a value
        #: is gone from the store at most this long after its retention, even when nothing is issued.
        self.purge_every = min(60.0, max(ttl / 4, 0.05))
        self._purger: asyncio.Task[None] | None = None

    # ---- keys and sealing ---------------------------------------------------------------------
    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self._index_key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()

    def person(self, entity: str, value: str) -> bytes:
        return self._mac("vault-person", entity, normalise(value))

    def _entry(self, scope: str, entity: str, value: str) -> Entry:
        token = f"<{entity}_{secrets.token_hex(_ID_HEX // 2)}>"
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, value.encode("utf-8"), token.encode("ascii"))
        norm = normalise(value)
        return Entry(
            token, self._mac("vault-index", scope, entity, norm), self._mac("vault-person", entity, norm), sealed
        )

    def _open(self, token: str, sealed: bytes) -> str | None:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], token.encode("ascii")).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeDecodeError):
            return None

    def start(self) -> None:
        """Start the periodic purge now (a worker at start-up); else it starts with the first call."""
        self._start_purger()

    def _start_purger(self) -> None:
        if self._purger is None:
            self._purger = asyncio.get_running_loop().create_task(self._purge_loop(), name="vault-purge")

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.purge_every)
            try:
                await self._call("purge", self.store.purge)
            except VaultError:
                pass  # counted; the next round retries

    async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T:
        self._start_purger()
        started = self._metrics.now()
        try:
            async with asyncio.timeout(self.timeout):
                result = await make()
        except VaultError:
            self._metrics.count_vault(self.store.name, op, "error")
            raise
        except TimeoutError:
            self._metrics.count_vault(self.store.name, op, "timeout")
            raise VaultError(f"vault {op} timed out") from None
        self._metrics.count_vault(self.store.name, op, "ok", self._metrics.now() - started)
        return result

    # ---- the API --------------------------------------------------------------------------------
    async def pseudonymize(self, entity: str, values: Sequence[str], scope: str = "global") -> list[str]:
        """A token per value, the same one for the same person within ``scope``."""
        return await self.pseudonymize_many([(scope, entity, v) for v in values])

    async def pseudonymize_many(self, items: Sequence[tuple[str, str, str]]) -> list[str]:
        """``(scope, entity, value)`` -> token, for all of them in one round-trip (a retry only
        for the rare token id that is taken)."""
        if not items:
            return []
        # one entry per distinct person-in-scope (a name twice in a message: one token)
        keys: dict[tuple[str, str, str], int] = {}
        unique: list[tuple[str, str, str]] = []
        for scope, entity, value in items:
            k = (scope, entity, normalise(value))
            if k not in keys:
                keys[k] = len(unique)
                unique.append((scope, entity, value))
        got: list[str | None] = [None] * len(unique)
        todo = list(range(len(unique)))
        for _ in range(_ISSUE_ATTEMPTS):
            entries = [self._entry(*unique[i]) for i in todo]
            answers = await self._call("issue", functools.partial(self.store.issue, entries, self.ttl))
            for i, entry, answer in zip(todo, entries, answers, strict=True):
                got[i] = answer
                if answer == entry.token:
                    self._metrics.VAULT_TOKENS_ISSUED.inc()
            todo = [i for i in todo if got[i] is None]
            if not todo:
                break
        else:
            raise VaultError("vault could not issue a unique token")
        out: list[str] = []
        for scope, entity, value in items:
            token = got[keys[(scope, entity, normalise(value))]]
            assert token is not None
            out.append(token)
        return out

    async def reveal(self, tokens: Sequence[str]) -> dict[str, str]:
        """The values of the tokens the vault knows (erased, expired, forged ones are absent)."""
        wanted = list(dict.fromkeys(t for t in tokens if TOKEN.fullmatch(t)))
        if not wanted:
            if tokens:
                self._metrics.VAULT_UNMASK.labels("miss").inc(len(tokens))
            return {}
        sealed = await self._call("reveal", functools.partial(self.store.fetch, wanted))
        out: dict[str, str] = {}
        for token, blob in sealed.items():
            value = self._open(token, blob)
            if value is not None:
                out[token] = value
        hits = len(out)
        self._metrics.VAULT_UNMASK.labels("hit").inc(hits)
        self._metrics.VAULT_UNMASK.labels("miss").inc(len(wanted) - hits)
        return out

    async def lookup(self, entity: str, value: str) -> list[str]:
        """Every live token of a person (entity type + value), across scopes."""
        person = self.person(entity, value)
        return sorted(await self._call("lookup", functools.partial(self.store.tokens_of, person)))

    async def erase(self, entity: str, value: str) -> int:
        """Delete every entry of a person: their tokens can never be reversed or linked again."""
        person = self.person(entity, value)
        n = await self._call("erase", functools.partial(self.store.erase, person))
        self._metrics.VAULT_ERASURES.inc()
        return n

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None
        await self.store.close()


def key_problem(cfg: ProxyConfig, env: Mapping[str, str] | None = None) -> tuple[str, bool] | None:
    """Why the vault cannot be used with this environment, when a destination in use
    pseudonymises or un-masks: ``(message, malformed)``; None when all is well. Never quotes a key."""
    from proxy.config import destinations_using_vault, vault_key
    from proxy.yamlload import ConfigError

    env = os.environ if env is None else env
    need = destinations_using_vault(cfg)
    if not need:
        return None
    who = f"destination(s) {', '.join(need)} pseudonymise values or un-mask tokens"
    try:
        key = vault_key(cfg, env)
    except ConfigError as exc:
        return f"{who}, but {exc.problems[0]}", True
    if key is None:
        return f"{who}, but {cfg.secrets.vault_key_env} is not set", False
    if not env.get(cfg.secrets.pseudonym_key_env):
        return f"{who}, but {cfg.secrets.pseudonym_key_env} (the vault's index key) is not set", False
    return None


def open_vault(cfg: ProxyConfig, index_key: bytes, seal_key: bytes) -> Vault:
    """The configured store: Redis when ``vault.redis_url`` is set, else SQLite under ``vault.dir``."""
    store: Store
    if cfg.vault.redis_url:
        from proxy.vault.redis_store import RedisStore

        store = RedisStore(cfg.vault.redis_url)
    else:
        from proxy.vault.sqlite_store import SqliteStore

        store = SqliteStore(cfg.vault.dir, busy_timeout=cfg.vault.busy_timeout)
    return Vault(store, index_key, seal_key, cfg.vault.retention, cfg.vault.timeout)
