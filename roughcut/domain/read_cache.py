"""The response cache's rules: what a cached read depends on, and which committed changes make it stale.

A cached read is stored under its caller, its resource and the current versions of the scopes it depends
on. A committed change bumps the versions of the scopes it touches (one counter each, before the writer's
answer leaves), so the next read misses and renders afresh: invalidation is O(1) a scope, nothing is scanned,
and an entry under old versions is never read again (it ages out).

Scopes: `p{id}` a project (every event of it, membership changes included), `u{id}` one user's view of
their projects (every event of a project whose audience holds them, leaving members too: lists, threads,
comments), `f{id}` a thread's chat (messages and read markers, which thread bodies count). EPOCH is part of
every key: bumping it drops everything (an account deleted, or a profile changed, which other people's
views show and no project event names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from roughcut.domain.events import USER_DELETED, Committed, MessagePosted, ReadMoved, StoredEvent

EPOCH = "e"


def project_scope(project_id: int) -> str:
    return f"p{project_id}"


def user_scope(user_id: int) -> str:
    return f"u{user_id}"


def thread_scope(feedback_id: int) -> str:
    return f"f{feedback_id}"


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One caller's cached read: `resource` names it (and labels the metrics), `ident` tells its entries apart."""

    resource: str
    user_id: int
    ident: str
    scopes: tuple[str, ...]

    @property
    def versioned(self) -> tuple[str, ...]:
        """The scopes whose versions make up the key: EPOCH first, then the read's own."""
        return (EPOCH, *self.scopes)

    def entry(self, stamp: str) -> str:
        """The entry's name under the scopes' versions `stamp`."""
        return f"{self.resource}:{self.user_id}:{self.ident}:{stamp}"


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A rendered body and its ETag."""

    etag: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a lookup found, and the versions it saw (None: the cache is unavailable, do not fill it)."""

    found: CachedRead | None
    stamp: str | None


def stale_scopes(batch: Sequence[Committed]) -> set[str]:
    """The scopes a committed batch makes stale (live-only presence, typing and progress touch none)."""
    out: set[str] = set()
    for c in batch:
        event = c.event
        if isinstance(event, MessagePosted):
            out.add(thread_scope(event.message.feedback_id))
        elif isinstance(event, ReadMoved):
            out.add(thread_scope(event.feedback_id))
        elif isinstance(event, StoredEvent):
            if event.type == USER_DELETED:
                out.add(EPOCH)
            if event.project_id is not None:
                out.add(project_scope(event.project_id))
                out.update(user_scope(u) for u in (*c.audience.users, *c.audience.leaving))
    return out
