"""The response cache's rules (domain/read_cache.py) and its in-process adapter."""

from __future__ import annotations

from datetime import UTC, datetime

from roughcut.domain.events import USER_DELETED, Audience, Committed, PresenceChanged, ReadMoved, StoredEvent
from roughcut.domain.read_cache import EPOCH, CachedRead, CacheKey, stale_scopes
from roughcut.storage.response_cache import VERSIONS_PER_ENTRY, LocalResponseCache

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _stored(kind: str, project_id: int | None) -> StoredEvent:
    return StoredEvent(1, kind, {}, project_id, 1, NOW)


def test_a_project_event_stales_the_project_and_everyone_it_reaches() -> None:
    batch = [
        Committed(_stored("member.left", 3), Audience(users=(1, 2), leaving=(4,))),
        Committed(ReadMoved(9, 1, 5), Audience(users=(1,))),
        Committed(PresenceChanged(3, 1, "online", NOW), Audience(users=(1, 2))),
    ]
    assert stale_scopes(batch) == {"p3", "u1", "u2", "u4", "f9"}
    assert stale_scopes([Committed(_stored(USER_DELETED, None), Audience(sessions=(7,)))]) == {EPOCH}


def _key(n: int) -> CacheKey:
    return CacheKey("project", 1, str(n), (f"p{n}",))


async def test_the_in_process_cache_is_bounded_and_forgets_nothing_wrongly() -> None:
    cache = LocalResponseCache(max_entries=100)
    value = CachedRead("0" * 32, b"{}")
    for n in range(150):
        lookup = await cache.get(_key(n))
        assert lookup.found is None and lookup.stamp is not None
        await cache.put(_key(n), lookup.stamp, value, 60)
    assert (await cache.get(_key(49))).found is None  # the least recently used went first
    assert (await cache.get(_key(149))).found == value
    await cache.bump(["p149"])
    assert (await cache.get(_key(149))).found is None
    # Versions are bounded too; one dropped comes back above any it had, so no old entry matches again.
    before = await cache.get(_key(0))
    for n in range(1000, 1000 + 100 * VERSIONS_PER_ENTRY + 1):
        await cache.get(_key(n))
    assert (await cache.get(_key(0))).stamp != before.stamp
    expired = await cache.get(_key(7))
    assert expired.stamp is not None
    await cache.put(_key(7), expired.stamp, value, 0)
    assert (await cache.get(_key(7))).found is None
