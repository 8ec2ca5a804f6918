"""The fake unit of work, the recording publisher, the fake group-commit writer and blob store.

`FakeUow.commit()` does what storage/uow.py does: it fixes each recorded event's audience with the real
`audience_of` from the members and threads the transaction sees, stores the events (their data through
JSON, like the JSON column), swaps the state in, then hands `list[Committed]` to the publisher.
`RecordingPublisher` JSON-encodes every payload it is given, so an unserialisable one fails the test
that made it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

from roughcut.domain import errors
from roughcut.domain.chat import plan_batch, retry_keys, settle_batch
from roughcut.domain.chat_model import ChatMessage, LockedThread, PostMessage, RetryKey, Sent
from roughcut.domain.events import Committed, DomainEvent, MessagePosted, StoredEvent, audience_of
from roughcut.domain.ports import Clock
from roughcut.wire.json import OPTIONS
from tests.unit.fakes.accounts import FakeCodes, FakeMemos, FakeSessions, FakeUsers
from tests.unit.fakes.feedback import FakeChatRooms, FakeFeedback, message_of
from tests.unit.fakes.jobs import FakeJobs
from tests.unit.fakes.projects import FakeEventLog, FakeInvitations, FakeProjectMemos, FakeProjects
from tests.unit.fakes.store import MessageRow, Store


def payload_of(event: object) -> Any:
    """What leaves the node for a committed change (the wire payload)."""
    if isinstance(event, StoredEvent):
        return event.as_dict()
    if isinstance(event, MessagePosted):
        return event.message.wire()
    if dataclasses.is_dataclass(event) and not isinstance(event, type):  # live-only changes (read markers)
        return dataclasses.asdict(event)
    raise TypeError(f"unknown committed change {event!r}")


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, option=OPTIONS))


class RecordingPublisher:
    """The EventPublisher port: keeps every batch after checking it survives JSON."""

    def __init__(self) -> None:
        self.batches: list[list[Committed]] = []

    async def publish(self, batch: Sequence[Committed]) -> None:
        for c in batch:
            _json(payload_of(c.event))
            _json(dataclasses.asdict(c.audience))
        self.batches.append(list(batch))

    @property
    def committed(self) -> list[Committed]:
        return [c for batch in self.batches for c in batch]

    def events(self, kind: str | None = None) -> list[Committed]:
        """Published project and session events (not chat), of one type if given, in commit order."""
        return [
            c for c in self.committed if isinstance(c.event, StoredEvent) and (kind is None or c.event.type == kind)
        ]

    def event(self, kind: str) -> Committed:
        """The one published event of a type."""
        found = self.events(kind)
        assert len(found) == 1, [c.event for c in self.committed]
        return found[0]

    def types(self) -> list[str]:
        return [c.event.type for c in self.events() if isinstance(c.event, StoredEvent)]

    def seen_by(self, user_id: int) -> list[str]:
        """The event types a user received live, in order."""
        return [c.event.type for c in self.events() if user_id in c.audience.users and isinstance(c.event, StoredEvent)]

    def messages(self) -> list[Committed]:
        return [c for c in self.committed if isinstance(c.event, MessagePosted)]

    def clear(self) -> None:
        self.batches.clear()


class FakeUow:
    """`async with` snapshots the store; `commit()` swaps the snapshot in and publishes; leaving drops the rest."""

    def __init__(self, store: Store, publisher: RecordingPublisher | None = None, clock: Clock | None = None) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._pending: list[DomainEvent] = []
        self._announced: list[Committed] = []
        self.s = store

    async def __aenter__(self) -> FakeUow:
        self.s = self._store.copy()
        self._users, self._codes, self._sessions = FakeUsers(self.s), FakeCodes(self.s), FakeSessions(self.s)
        self._memos, self._events = FakeMemos(self.s), FakeEventLog(self.s)
        self._projects, self._invitations = FakeProjects(self.s), FakeInvitations(self.s)
        self._project_memos, self._feedback, self._chat = (
            FakeProjectMemos(self.s),
            FakeFeedback(self.s),
            FakeChatRooms(self.s),
        )
        self._jobs = FakeJobs(self.s)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending.clear()
        self._announced.clear()

    @property
    def users(self) -> FakeUsers:
        return self._users

    @property
    def codes(self) -> FakeCodes:
        return self._codes

    @property
    def sessions(self) -> FakeSessions:
        return self._sessions

    @property
    def memos(self) -> FakeMemos:
        return self._memos

    @property
    def events(self) -> FakeEventLog:
        return self._events

    @property
    def projects(self) -> FakeProjects:
        return self._projects

    @property
    def invitations(self) -> FakeInvitations:
        return self._invitations

    @property
    def project_memos(self) -> FakeProjectMemos:
        return self._project_memos

    @property
    def feedback(self) -> FakeFeedback:
        return self._feedback

    @property
    def chat(self) -> FakeChatRooms:
        return self._chat

    @property
    def jobs(self) -> FakeJobs:
        return self._jobs

    def record(self, event: DomainEvent) -> None:
        self._pending.append(event)

    def announce(self, change: Committed) -> None:
        """A live-only change (not stored in the log), published after the stored events."""
        self._announced.append(change)

    def _audiences(self, pending: list[DomainEvent]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        # Like SqlEventLog.lock_members/threads_of: read inside the transaction, after its changes; a
        # project deleted by it has no row, so no members (and no threads) any more.
        ids = {e.project_id for e in pending if e.project_id is not None}
        members = {pid: self.s.member_ids(pid) for pid in sorted(ids) if pid in self.s.projects}
        leaving = {e.project_id for e in pending if e.leaving and e.project_id}
        threads = {pid: self.s.thread_ids(pid) for pid in sorted(leaving) if self.s.thread_ids(pid)}
        return members, threads

    async def commit(self) -> list[StoredEvent]:
        pending, self._pending = self._pending, []
        announced, self._announced = self._announced, []
        members, threads = self._audiences(pending)
        now = self._clock.now() if self._clock is not None else datetime.now(UTC)
        seqs = {
            e.project_id: max((s.seq or 0 for s in self.s.events if s.project_id == e.project_id), default=0)
            for e in pending
        }
        stored = []
        for e in pending:
            seq = None
            if e.project_id is not None:
                seq = seqs[e.project_id] = seqs[e.project_id] + 1
            stored.append(StoredEvent(next(self.s.ids), e.type, _json(e.data), e.project_id, e.actor_id, now, seq))
        self.s.events.extend(stored)
        committed = [Committed(s, audience_of(e, members, threads)) for s, e in zip(stored, pending, strict=True)]
        self._store.swap_in(self.s)
        committed.extend(announced)
        if committed and self._publisher is not None:
            await self._publisher.publish(committed)
        return stored


class FakeChatWriter:
    """The ChatWriter port over the fake store: one transaction per batch, decided by domain/chat.py."""

    def __init__(self, store: Store, publisher: RecordingPublisher, clock: Clock) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    async def send(self, post: PostMessage) -> Sent:
        (answer,) = await self.send_batch([post])
        if isinstance(answer, errors.DomainError):
            raise answer
        return answer

    async def send_batch(self, posts: Sequence[PostMessage]) -> list[Sent | errors.DomainError]:
        """Store concurrent sends together, like one group commit."""
        s = self._store.copy()
        threads = self._lock(s, {p.feedback_id for p in posts})
        plan = plan_batch(posts, threads, self._stored(s, retry_keys(posts, threads)))
        now = self._clock.now()
        ids = [next(s.ids) for _ in plan.rows]
        for row, new_id in zip(plan.rows, ids, strict=True):
            s.messages[new_id] = MessageRow(
                new_id, row.feedback_id, row.seq, row.author_id, row.client_id, row.text, now
            )
        for fid, seq in plan.last_seq.items():
            s.threads[fid] = dataclasses.replace(s.threads[fid], last_seq=seq)
        answers, committed = settle_batch(plan, threads, ids, now)
        self._store.swap_in(s)
        if committed:
            await self._publisher.publish(committed)
        return answers

    @staticmethod
    def _lock(s: Store, fids: set[int]) -> dict[int, LockedThread]:
        # The SQL statement joins members and users: a thread is locked with its members' nicknames.
        locked: dict[int, LockedThread] = {}
        for fid in sorted(fids):
            thread = s.threads.get(fid)
            if thread is None:
                continue
            members = {uid: s.users[uid].nickname for uid in s.member_ids(thread.project_id) if uid in s.users}
            if members:
                locked[fid] = LockedThread(thread.last_seq, members)
        return locked

    @staticmethod
    def _stored(s: Store, keys: list[RetryKey]) -> dict[RetryKey, ChatMessage]:
        wanted = set(keys)
        return {
            (m.feedback_id, m.author_id, m.client_id): message_of(s, m)
            for m in s.messages.values()
            if m.author_id is not None and (m.feedback_id, m.author_id, m.client_id) in wanted
        }


class FakeBlobs:
    """The BlobStore port: remembers what was deleted; can be told to fail."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.deleted_prefixes: list[str] = []
        self.fail = False

    async def put(self, key: str, data: bytes) -> None:
        self.keys.add(key)

    async def exists(self, key: str) -> bool:
        return key in self.keys

    async def delete_prefix(self, prefix: str) -> int:
        if self.fail:
            raise OSError("blob store down")
        self.deleted_prefixes.append(prefix)
        gone = {k for k in self.keys if k.startswith(prefix)}
        self.keys -= gone
        return len(gone)

    async def check(self) -> None:
        return None
