"""Presence stores: Redis (shared by every node) and in process (the embedded default, one node).

Redis keys, under `{prefix}:presence`:
- `:p:{project_id}` sorted set of live entries `user|node|sid|status|at_ms`, scored by expiry (epoch s);
- `:nodes` sorted set of node ids scored by their heartbeat's expiry (a key with a TTL would vanish
  without a trace, and the sweeper needs to find the entries of a node that stopped);
- `:n:{node}` set of the project ids the node has entries in (what a sweep of that node visits).

Redis commands: `change` (subscribe, unsubscribe, status, and each project of a disconnect) is one
EVALSHA; `online` one ZRANGEBYSCORE; a node's heartbeat is one pipeline per interval (ZADD to the
registry, one ZADD XX per project it holds, one SADD); a sweep is one EVALSHA. A sweep runs atomically
in Redis, so when several nodes sweep at once only the first finds a dead node and reports its users.
The scripts name keys they build from the prefix, which suits one Redis (not Redis Cluster).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from roughcut.domain.presence_model import Connection, Status, Swept

SEP = "|"
FIELDS = 5
ZREM_CHUNK = 1000  # members per ZREM inside a script (Lua's unpack has a stack limit)
# Presence commands in flight at once per node. redis-py's pool refuses a command past its size (100)
# instead of waiting, and a node restart brings thousands of subscribes at once: they queue here.
IN_FLIGHT = 32

# KEYS: project set, node registry, node's project index. ARGV: now, expiry, entry to remove or '',
# entry to add or '', node, project id, and '' or a user's prefix `user|`. Answers the live entries as they
# were before the change: all of them, or only that user's (a leave needs no roster).
_CHANGE = """
local live = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if ARGV[7] ~= '' then
  local mine = {}
  for _, m in ipairs(live) do
    if string.sub(m, 1, #ARGV[7]) == ARGV[7] then table.insert(mine, m) end
  end
  live = mine
end
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[1], ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[6])
end
return live
"""

# KEYS: node registry. ARGV: now, key prefix. Removes the nodes whose heartbeat expired, and in the
# projects they held every entry of theirs and every expired one; answers {project, removed, kept}.
_SWEEP = """
local now, chunk = tonumber(ARGV[1]), tonumber(ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if #dead == 0 then return {} end
local gone, pids = {}, {}
for _, node in ipairs(dead) do
  gone[node] = true
  local index = ARGV[2] .. ':n:' .. node
  for _, pid in ipairs(redis.call('SMEMBERS', index)) do pids[pid] = true end
  redis.call('DEL', index)
  redis.call('ZREM', KEYS[1], node)
end
local out = {}
for pid, _ in pairs(pids) do
  local key = ARGV[2] .. ':p:' .. pid
  local removed, kept = {}, {}
  local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local m = entries[i]
    local node = string.match(m, '^[^|]*|([^|]*)|')
    if gone[node] or tonumber(entries[i + 1]) < now then table.insert(removed, m) else table.insert(kept, m) end
  end
  for i = 1, #removed, chunk do
    redis.call('ZREM', key, unpack(removed, i, math.min(i + chunk - 1, #removed)))
  end
  if #removed > 0 then table.insert(out, {pid, removed, kept}) end
end
return out
"""


def encode(c: Connection) -> str:
    """One entry as a sorted-set member."""
    return SEP.join((str(c.user_id), c.node, c.sid, str(c.status), str(c.at_ms)))


def decode(raw: bytes | str) -> Connection | None:
    """A member back into an entry; None for one this version cannot read."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    parts = text.split(SEP)
    if len(parts) != FIELDS:
        return None
    try:
        return Connection(int(parts[0]), parts[1], parts[2], Status(parts[3]), int(parts[4]))
    except ValueError:
        return None


def _decoded(raw: Sequence[Any]) -> list[Connection]:
    return [c for c in (decode(m) for m in raw) if c is not None]


class RedisPresenceStore:
    """The PresenceStore shared by every node."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:presence"
        self._registry = f"{self._base}:nodes"
        self._change = redis.register_script(_CHANGE)
        self._sweep = redis.register_script(_SWEEP)
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    def _project(self, project_id: int) -> str:
        return f"{self._base}:p:{project_id}"

    def _index(self, node: str) -> str:
        return f"{self._base}:n:{node}"

    async def change(
        self,
        project_id: int,
        remove: Connection | None,
        add: Connection | None,
        now: float,
        expiry: float,
        everyone: bool = True,
    ) -> list[Connection]:
        changed = add or remove
        assert changed is not None
        mine = "" if everyone else f"{changed.user_id}{SEP}"
        removed, added = encode(remove) if remove else "", encode(add) if add else ""
        args: list[str | float] = [now, expiry, removed, added, changed.node, project_id, mine]
        keys = [self._project(project_id), self._registry, self._index(changed.node)]
        async with self._slots:
            return _decoded(await self._change(keys=keys, args=args))

    async def online(self, project_id: int, now: float) -> list[Connection]:
        async with self._slots:
            return _decoded(await self._redis.zrangebyscore(self._project(project_id), now, "+inf"))

    async def heartbeat(self, node: str, held: Mapping[int, Sequence[Connection]], now: float, expiry: float) -> bool:
        """Move this node's expiry and its entries' on; re-add them all (True) if a sweep took it for dead."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._registry, {node: expiry})
            for pid, conns in held.items():
                pipe.zadd(self._project(pid), {encode(c): expiry for c in conns}, xx=True)
            if held:
                pipe.sadd(self._index(node), *held)
            results = await pipe.execute()
        if results[0] and held:
            # The node was not registered: it was swept (a long pause, or Redis lost its data). Its live
            # sockets are still here, so their entries come back.
            async with self._redis.pipeline(transaction=False) as pipe:
                for pid, conns in held.items():
                    pipe.zadd(self._project(pid), {encode(c): expiry for c in conns})
                await pipe.execute()
            return True
        return False

    async def sweep(self, now: float) -> list[Swept]:
        found = await self._sweep(keys=[self._registry], args=[now, self._base, ZREM_CHUNK])
        return [Swept(int(pid), tuple(_decoded(removed)), tuple(_decoded(kept))) for pid, removed, kept in found]

    async def release(self, node: str, until: float) -> None:
        """The node's entries are swept after `until` unless its heartbeat comes back."""
        await self._redis.zadd(self._registry, {node: until}, xx=True)


class LocalPresenceStore:
    """The PresenceStore of the embedded default: one node, so its entries live and die with it."""

    def __init__(self) -> None:
        self._projects: dict[int, dict[Connection, float]] = {}

    async def change(
        self,
        project_id: int,
        remove: Connection | None,
        add: Connection | None,
        now: float,
        expiry: float,
        everyone: bool = True,
    ) -> list[Connection]:
        changed = add or remove
        assert changed is not None
        entries = self._projects.setdefault(project_id, {})
        live = [c for c, exp in entries.items() if exp >= now and (everyone or c.user_id == changed.user_id)]
        if remove is not None:
            entries.pop(remove, None)
        if add is not None:
            entries[add] = expiry
        if not entries:
            del self._projects[project_id]
        return live

    async def online(self, project_id: int, now: float) -> list[Connection]:
        return [c for c, exp in self._projects.get(project_id, {}).items() if exp >= now]

    async def heartbeat(self, node: str, held: Mapping[int, Sequence[Connection]], now: float, expiry: float) -> bool:
        for pid, conns in held.items():
            entries = self._projects.get(pid, {})
            for c in conns:
                if c in entries:
                    entries[c] = expiry
        return False  # nobody else sweeps this node's entries

    async def sweep(self, now: float) -> list[Swept]:
        """Entries whose socket left without removing them (a failed handler) go once they expire."""
        out: list[Swept] = []
        for pid, entries in list(self._projects.items()):
            removed = tuple(c for c, exp in entries.items() if exp < now)
            if removed:
                for c in removed:
                    del entries[c]
                out.append(Swept(pid, removed, tuple(entries)))
                if not entries:
                    del self._projects[pid]
        return out

    async def release(self, node: str, until: float) -> None:
        """Nothing outlives the process."""
