"""Presence: who is online or away in a project, across every connection of every node.

The store (a port: Redis, or in process) keeps one entry per subscribed connection. Each change answers
with the project's live entries as they were just before it, so the user's status before and after is
decided here, by pure rules: the best status of a user's connections wins (online > away > offline).
Changes are coalesced per project for a short window and only net changes leave: a user who went
offline and came back within it produces nothing, and a node restart costs one batch per window.

The same rules count who is watching a feedback thread (a review): a second `Presence` whose keys are
thread ids (`threads=True`), with a store of its own; members of the thread's project see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from roughcut.domain import errors
from roughcut.domain.events import Audience, Committed, PresenceChanged
from roughcut.domain.ports import Clock, EventPublisher, PresenceStore, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.presence_model import Connection, OnlineUser, Status
from roughcut.domain.projects import require_role

RANK = {Status.OFFLINE: 0, Status.AWAY: 1, Status.ONLINE: 2}
MS = 1000
# After a clean shutdown a node's entries stay this long, so clients that reconnect to another node in
# the meantime never appear to leave; those that do not are swept offline after it.
RESTART_GRACE_SECONDS = 10.0


def roster(entries: Iterable[Connection]) -> dict[int, tuple[Status, int]]:
    """Every present user's best status across their entries, and since when (the earliest entry holding it)."""
    out: dict[int, tuple[Status, int]] = {}
    for e in entries:
        best = out.get(e.user_id)
        if best is None or RANK[e.status] > RANK[best[0]] or (e.status == best[0] and e.at_ms < best[1]):
            out[e.user_id] = (e.status, e.at_ms)
    return out


def status_of(entries: Iterable[Connection], user_id: int) -> tuple[Status, int]:
    """One user's status and since; offline (since 0) without entries."""
    return roster(e for e in entries if e.user_id == user_id).get(user_id, (Status.OFFLINE, 0))


def replaced(
    live: Sequence[Connection], remove: Connection | None, add: Connection | None
) -> tuple[list[Connection], list[Connection]]:
    """The entries before and after a change, from the store's answer.

    Computed from the change itself, not from what the store saw, so a command that Redis ran twice
    (a retry after a lost reply) yields the same transition.
    """
    rest = [e for e in live if e != remove and e != add]
    before = rest + ([remove] if remove is not None else [])
    after = rest + ([add] if add is not None else [])
    return before, after


@dataclass(slots=True)
class _Pending:
    first: Status  # as clients last heard it
    last: Status
    at_ms: int


@dataclass(slots=True)
class Coalescer:
    """Per project: collects changes for `window` seconds from the first one, then yields net changes."""

    window: float
    _pending: dict[int, dict[int, _Pending]] = field(default_factory=dict)
    _opened: dict[int, float] = field(default_factory=dict)

    def note(self, project_id: int, user_id: int, before: Status, after: Status, at_ms: int, now: float) -> None:
        """Record one transition (a no-op transition is ignored)."""
        if before == after:
            return
        users = self._pending.setdefault(project_id, {})
        self._opened.setdefault(project_id, now)
        held = users.get(user_id)
        if held is None:
            users[user_id] = _Pending(before, after, at_ms)
        else:
            held.last, held.at_ms = after, at_ms

    def due(self, now: float) -> list[PresenceChanged]:
        """The net changes of every project whose window has closed, in the order they were first noted."""
        out: list[PresenceChanged] = []
        for pid in [p for p, opened in self._opened.items() if now - opened >= self.window]:
            del self._opened[pid]
            for uid, held in self._pending.pop(pid).items():
                if held.first != held.last:
                    out.append(PresenceChanged(pid, uid, str(held.last), _time(held.at_ms)))
        return out


@dataclass(slots=True)
class Held:
    """A socket of this node: its user, status and the projects it is subscribed to.

    python-socketio runs each event in a task of its own, so one socket's subscribe, status and
    disconnect may overlap; the lock puts its store changes in order (no entry outlives its socket).
    """

    conn: Connection
    projects: set[int] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gone: bool = False
    chosen: Status = Status.ONLINE  # what the client said; `idle` makes an online socket count as away
    idle: bool = False

    @property
    def status(self) -> Status:
        """The status this socket counts with."""
        return Status.AWAY if self.idle else self.chosen


@dataclass(slots=True)
class PresenceHub:
    """This node's presence state: its sockets and the changes waiting for their window."""

    node: str
    coalescer: Coalescer
    sockets: dict[str, Held] = field(default_factory=dict)
    # Entries whose removal failed (Redis unreachable): the next heartbeat removes them and says so.
    orphans: list[tuple[int, Connection]] = field(default_factory=list)
    closing: bool = False

    def held(self) -> dict[int, list[Connection]]:
        """This node's entries by project (what the heartbeat refreshes)."""
        out: dict[int, list[Connection]] = {}
        for h in self.sockets.values():
            for pid in h.projects:
                out.setdefault(pid, []).append(h.conn)
        return out


@dataclass(frozen=True, slots=True)
class Presence:
    """The ports the presence use cases work with, and this node's hub."""

    uow: UnitOfWorkFactory
    store: PresenceStore
    publisher: EventPublisher
    clock: Clock
    hub: PresenceHub
    ttl: float  # an entry not refreshed by its node's heartbeat for this long counts as gone
    away_after: float = 0.0  # a socket that sent nothing for this long counts as away (0: never)
    threads: bool = False  # keys are feedback thread ids (who watches a review), not project ids


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / MS, UTC)


def _now(p: Presence) -> tuple[float, int]:
    now = p.clock.now().timestamp()
    return now, int(now * MS)


async def _project_of(p: Presence, uow: UnitOfWork, key: int) -> int | None:
    """The project a key belongs to (itself, or its thread's project; None: the thread is gone)."""
    return await uow.feedback.thread_project(key) if p.threads else key


async def _members(p: Presence, user_id: int, key: int) -> dict[int, str]:
    """Nicknames of the members of the key's project; not_found for a non-member caller."""
    async with p.uow() as uow:
        project_id = await _project_of(p, uow, key)
        if project_id is None:
            raise errors.NotFound("No such feedback thread.")
        await require_role(uow, project_id, user_id)
        return {m.user_id: m.nickname for m in await uow.projects.members(project_id)}


def _online(entries: Iterable[Connection], members: dict[int, str]) -> list[OnlineUser]:
    present = roster(entries)
    return [
        OnlineUser(uid, members[uid], status, _time(since))
        for uid, (status, since) in sorted(present.items())
        if uid in members and status != Status.OFFLINE
    ]


async def _change(p: Presence, project_id: int, remove: Connection | None, add: Connection | None) -> list[Connection]:
    """Apply one entry change in the store, note the user's transition; the project's entries after it."""
    now, ms = _now(p)
    everyone = remove is None  # only a subscribe answers with the roster
    live = await p.store.change(project_id, remove, add, now, now + p.ttl, everyone)
    before, after = replaced(live, remove, add)
    changed = add or remove
    assert changed is not None
    was, _ = status_of(before, changed.user_id)
    became, _ = status_of(after, changed.user_id)
    p.hub.coalescer.note(project_id, changed.user_id, was, became, ms, now)
    return after


def _socket(p: Presence, sid: str, user_id: int) -> Held:
    held = p.hub.sockets.get(sid)
    if held is None:
        _, ms = _now(p)
        held = p.hub.sockets[sid] = Held(Connection(user_id, p.hub.node, sid, Status.ONLINE, ms))
    return held


async def subscribe(p: Presence, user_id: int, sid: str, project_id: int) -> list[OnlineUser]:
    """Count the socket as present in the project (members only) and list who is there now."""
    members = await _members(p, user_id, project_id)
    held = _socket(p, sid, user_id)
    async with held.lock:
        if held.gone or project_id in held.projects:
            now, _ = _now(p)
            return _online(await p.store.online(project_id, now), members)
        held.projects.add(project_id)  # before the store: a heartbeat meanwhile refreshes it
        return _online(await _change(p, project_id, None, held.conn), members)


async def _leave(p: Presence, held: Held, project_id: int) -> None:
    if project_id not in held.projects:
        return
    try:
        await _change(p, project_id, held.conn, None)
    except Exception:
        p.hub.orphans.append((project_id, held.conn))
        raise
    finally:
        held.projects.discard(project_id)


async def unsubscribe(p: Presence, sid: str, project_id: int) -> None:
    """The socket no longer counts in the project."""
    held = p.hub.sockets.get(sid)
    if held is not None:
        async with held.lock:
            await _leave(p, held, project_id)


async def set_status(p: Presence, user_id: int, sid: str, status: Status) -> None:
    """The socket's status (online or away) in every project it is subscribed to; saying anything also ends
    its idleness."""
    held = _socket(p, sid, user_id)
    async with held.lock:
        held.chosen, held.idle = status, False
        await _restate(p, held)


async def _restate(p: Presence, held: Held) -> None:
    """Bring the socket's entries in line with its status (under its lock)."""
    if held.gone or held.conn.status == held.status:
        return
    _, ms = _now(p)
    old = held.conn
    held.conn = Connection(old.user_id, old.node, old.sid, held.status, ms)
    for pid in sorted(held.projects):
        await _change(p, pid, old, held.conn)


async def mark_idle(p: Presence, last_active: Callable[[str], float | None]) -> list[str]:
    """Sockets that sent nothing for `away_after` seconds count as away; answers the sids that just went idle
    (the edge calls `resume` when one of them speaks again). `last_active(sid)` is in epoch seconds."""
    if p.away_after <= 0:
        return []
    now, _ = _now(p)
    went: list[str] = []
    for sid, held in list(p.hub.sockets.items()):
        last = last_active(sid)
        if held.idle or last is None or now - last < p.away_after:
            continue
        async with held.lock:
            held.idle = True
            await _restate(p, held)
        went.append(sid)
    return went


async def resume(p: Presence, sid: str) -> None:
    """An idle socket sent something: it counts with its chosen status again."""
    held = p.hub.sockets.get(sid)
    if held is not None and held.idle:
        async with held.lock:
            held.idle = False
            await _restate(p, held)


async def disconnect(p: Presence, sid: str) -> None:
    """A socket went away: it leaves every project (unless the node is shutting down; see release)."""
    held = p.hub.sockets.pop(sid, None)
    if held is None:
        return
    async with held.lock:
        held.gone = True
        if not p.hub.closing:
            for pid in sorted(held.projects):
                await _leave(p, held, pid)


async def online(p: Presence, user_id: int, project_id: int) -> list[OnlineUser]:
    """Who is in a project now, for a member."""
    members = await _members(p, user_id, project_id)
    now, _ = _now(p)
    return _online(await p.store.online(project_id, now), members)


async def tick(p: Presence) -> None:
    """Heartbeat: refresh this node's entries, then sweep dead nodes' and expired entries (any node may)."""
    now, ms = _now(p)
    if p.hub.closing:
        return
    held = p.hub.held()
    if await p.store.heartbeat(p.hub.node, held, now, now + p.ttl):
        for pid, conns in held.items():  # swept by mistake and announced offline: they are back
            for uid, (status, _) in roster(conns).items():
                p.hub.coalescer.note(pid, uid, Status.OFFLINE, status, ms, now)
    while p.hub.orphans:
        project_id, conn = p.hub.orphans[0]
        await _change(p, project_id, conn, None)
        p.hub.orphans.pop(0)
    for swept in await p.store.sweep(now):
        for uid in dict.fromkeys(e.user_id for e in swept.removed):  # the removed entries counted before
            before, _ = status_of((*swept.removed, *swept.kept), uid)
            p.hub.coalescer.note(swept.project_id, uid, before, status_of(swept.kept, uid)[0], ms, now)


async def flush(p: Presence) -> int:
    """Publish the net changes whose window closed, each to the project's members now; returns how many."""
    now, _ = _now(p)
    changes = p.hub.coalescer.due(now)
    if not changes:
        return 0
    members: dict[int, tuple[int, list[int]]] = {}  # key → its project and that project's members now
    async with p.uow() as uow:
        for key in dict.fromkeys(c.project_id for c in changes):
            project_id = await _project_of(p, uow, key)
            if project_id is not None:
                members[key] = (project_id, await uow.projects.member_ids(project_id))
    batch = [
        Committed(_placed(p, c, members[c.project_id][0]), Audience(users=tuple(members[c.project_id][1])))
        for c in changes
        if c.project_id in members and c.user_id in members[c.project_id][1]
    ]
    if batch:
        await p.publisher.publish(batch)
    return len(batch)


def _placed(p: Presence, change: PresenceChanged, project_id: int) -> PresenceChanged:
    """A coalesced change keyed by thread becomes that thread's change in its project."""
    return replace(change, project_id=project_id, feedback_id=change.project_id) if p.threads else change


async def release(p: Presence) -> None:
    """Clean shutdown: keep this node's entries for a short grace instead of announcing everyone gone."""
    p.hub.closing = True
    now, _ = _now(p)
    await p.store.release(p.hub.node, now + RESTART_GRACE_SECONDS)
