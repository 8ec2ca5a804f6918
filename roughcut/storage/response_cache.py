"""Response caches (the ResponseCache port): a bounded LRU in process, or Redis shared by every node.

Versions only grow, even across a lost version (evicted, expired, or a Redis that restarted empty): a
missing one starts at a fresh value above any it had before (Redis server time in microseconds; in process,
a counter), so an entry stored under old versions can never match again.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from roughcut.domain.read_cache import EPOCH, CachedRead, CacheKey, Lookup
from roughcut.storage.script_calls import ScriptCall

log = logging.getLogger(__name__)

ETAG_BYTES = 32  # hex blake2b-128 (http/jsonutil.py), stored before the body
VERSION_TTL_SECONDS = 24 * 3600  # a version idle this long is dropped; its next read starts a fresh one
RETRY_AFTER_SECONDS = 1.0  # after a Redis error, go uncached this long before trying again
VERSIONS_PER_ENTRY = 4  # the in-process cache keeps this many versions per entry it may hold

# KEYS: the versions; ARGV: the entry's name before its stamp, the versions' TTL. Returns {stamp, entry}.
_LOOKUP = """
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
local v = {}
for i, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if not cur then
    cur = fresh
    redis.call('SET', k, cur, 'EX', ARGV[2])
  end
  v[i] = cur
end
local stamp = table.concat(v, ':')
return {stamp, redis.call('GET', ARGV[1] .. stamp)}
"""
# KEYS: the versions to bump; ARGV: their TTL.
_BUMP = """
local t = redis.call('TIME')
local fresh = t[1] .. string.format('%06d', tonumber(t[2]))
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('INCR', k) else redis.call('SET', k, fresh) end
  redis.call('EXPIRE', k, ARGV[1])
end
"""


class LocalResponseCache:
    """The embedded default's cache: at most `max_entries` entries, least recently used dropped first."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, CachedRead]] = OrderedDict()
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._next = itertools.count(1)

    def _version(self, scope: str) -> int:
        version = self._versions.get(scope)
        if version is None:
            version = self._versions[scope] = next(self._next)
            if len(self._versions) > self._max * VERSIONS_PER_ENTRY:
                self._versions.popitem(last=False)  # its next read starts a fresh one
        else:
            self._versions.move_to_end(scope)
        return version

    async def get(self, key: CacheKey) -> Lookup:
        stamp = ":".join(str(self._version(s)) for s in key.versioned)
        name = key.entry(stamp)
        entry = self._entries.get(name)
        if entry is None:
            return Lookup(None, stamp)
        if entry[0] <= time.monotonic():
            del self._entries[name]
            return Lookup(None, stamp)
        self._entries.move_to_end(name)
        return Lookup(entry[1], stamp)

    async def put(self, key: CacheKey, stamp: str, value: CachedRead, ttl: int) -> None:
        name = key.entry(stamp)
        self._entries[name] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(name)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def bump(self, scopes: Collection[str]) -> None:
        for scope in scopes:
            self._versions[scope] = next(self._next)
            self._versions.move_to_end(scope)


class RedisResponseCache:
    """Entries and versions in Redis, one round trip a lookup, a fill or a bump.

    It fails open: a Redis error is logged once, then reads go uncached for RETRY_AFTER_SECONDS at a time
    until Redis answers again. A bump that could not be applied is owed: before anything else once Redis
    is back, this node bumps the EPOCH (every node's entries are dropped), so no entry that the lost bump
    should have hidden is served from then on.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:rc:"
        self._lookup = redis.register_script(_LOOKUP)
        self._bump = redis.register_script(_BUMP)
        self._retry_at = 0.0
        self._down = False
        self._owed = False

    def _keys(self, scopes: Collection[str]) -> list[str]:
        return [f"{self._prefix}v:{s}" for s in scopes]

    def _failed(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER_SECONDS
        if not self._down:
            self._down = True
            log.warning("response cache unavailable: reads go uncached", extra={"error": f"{type(exc).__name__}"})

    async def _ready(self) -> bool:
        """Whether to use Redis now; settles an owed bump first."""
        if time.monotonic() < self._retry_at:
            return False
        try:
            if self._owed:
                await self._bump(keys=self._keys([EPOCH]), args=[VERSION_TTL_SECONDS])
                self._owed = False
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def _answered(self) -> None:
        if self._down:
            self._down = False
            log.info("response cache available again")

    async def get(self, key: CacheKey) -> Lookup:
        call = await self.lookup_call(key)
        if call is None:
            return Lookup(None, None)
        try:
            answer = await call.run(self._redis)
        except (RedisError, OSError) as exc:
            answer = exc
        return self.lookup_answer(answer)

    async def lookup_call(self, key: CacheKey) -> ScriptCall | None:
        """The script call that looks `key` up (storage/script_calls.py); None while Redis is not to be asked."""
        if not await self._ready():
            return None
        return ScriptCall(self._lookup, self._keys(key.versioned), [self._prefix + key.entry(""), VERSION_TTL_SECONDS])

    def lookup_answer(self, answer: Any) -> Lookup:
        """What a lookup call's answer (or the error Redis met) found."""
        if isinstance(answer, (RedisError, OSError)):
            self._failed(answer)
            return Lookup(None, None)
        self._answered()
        stamp, raw = answer
        found = None if raw is None else CachedRead(raw[:ETAG_BYTES].decode(), raw[ETAG_BYTES:])
        return Lookup(found, stamp.decode())

    async def put(self, key: CacheKey, stamp: str, value: CachedRead, ttl: int) -> None:
        if not await self._ready():
            return
        try:
            await self._redis.set(self._prefix + key.entry(stamp), value.etag.encode() + value.body, ex=ttl)
        except (RedisError, OSError) as exc:
            self._failed(exc)
        else:
            self._answered()

    async def bump(self, scopes: Collection[str]) -> None:
        if not scopes:
            return
        if not await self._ready():
            self._owed = True
            return
        try:
            await self._bump(keys=self._keys(scopes), args=[VERSION_TTL_SECONDS])
        except (RedisError, OSError) as exc:
            self._owed = True
            self._failed(exc)
        else:
            self._answered()
