"""One batch of chat sends, stored on both backends: PostgreSQL's one-statement write
(storage/repos/chat_pg.py, migration 0009) must decide exactly what domain/chat.py's `plan_batch`
decides on SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat_model import PostMessage, Sent
from roughcut.domain.events import Committed, MessagePosted
from roughcut.storage import tables as t
from roughcut.storage.repos.chat import GroupCommitWriter

WAIT = 10.0


class Batches:
    """An EventPublisher that keeps each published batch."""

    def __init__(self) -> None:
        self.batches: list[list[Committed]] = []

    async def publish(self, batch: Sequence[Committed]) -> None:
        self.batches.append(list(batch))


def _batching() -> tuple[float, float]:
    """The group commit's transactions and sends so far, as /metrics shows them."""
    names = ("roughcut_chat_batches_total", "roughcut_chat_batched_sends_total")
    return tuple(REGISTRY.get_sample_value(name) or 0.0 for name in names)  # type: ignore[return-value]


async def _user(conn: object, name: str) -> int:
    now = datetime.now(UTC)
    q = insert(t.users).values(
        email=f"{name}-{uuid.uuid4().hex}@example.com", nickname=name, login_method="email", created_at=now
    )
    return int((await conn.execute(q.values(updated_at=now).returning(t.users.c.id))).scalar_one())  # type: ignore[attr-defined]


async def _thread(conn: object, members: Sequence[int]) -> int:
    now = datetime.now(UTC)
    ex = conn.execute  # type: ignore[attr-defined]
    pid = (
        await ex(insert(t.projects).values(name="p", created_at=now, updated_at=now).returning(t.projects.c.id))
    ).scalar_one()
    for n, uid in enumerate(members):
        role = "owner" if n == 0 else "member"
        await ex(insert(t.project_members).values(project_id=pid, user_id=uid, role=role, joined_at=now))
    q = insert(t.feedback_threads).values(project_id=pid, title="t", created_at=now, updated_at=now)
    return int((await ex(q.returning(t.feedback_threads.c.id))).scalar_one())


async def test_one_batch_refuses_dedupes_and_numbers_like_the_domain_rules(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ann, bob, eve = await _user(conn, "Ann"), await _user(conn, "Bob"), await _user(conn, "Eve")
        room_a = await _thread(conn, [ann, bob])
        room_b = await _thread(conn, [bob])
    batches = Batches()
    writer = GroupCommitWriter(engine, batches)
    counted = _batching()
    await writer.start()
    try:
        earlier = await asyncio.wait_for(writer.send(PostMessage(ann, room_a, "c-earlier", "first")), WAIT)
        posts = [
            PostMessage(ann, room_a, "c1", "one"),
            PostMessage(eve, room_a, "c2", "not a member"),
            PostMessage(bob, room_b, "c3", "other room"),
            PostMessage(ann, room_a, "c-earlier", "retried with other text"),
            PostMessage(bob, room_a, "c1", "same client_id, other author"),
            PostMessage(ann, room_a, "c1", "the same send again in the batch"),
            PostMessage(ann, 2**40, "c4", "no such thread"),
            PostMessage(bob, room_b, "c5", "other room again"),
        ]
        # gather queues every send before the writer task runs again: they form one batch.
        answers = await asyncio.wait_for(asyncio.gather(*(writer.send(p) for p in posts), return_exceptions=True), WAIT)
    finally:
        await writer.stop()

    assert len(batches.batches) == 2  # the earlier send, then the whole batch at once
    # /metrics shows the batching (bench.chat reports sends per batch from it)
    assert tuple(now - before for now, before in zip(_batching(), counted, strict=True)) == (2, 9)
    one, eve_refused, other, retried, bobs, again, missing, other2 = answers
    for refused in (eve_refused, missing):
        assert isinstance(refused, errors.NotFound)
    for sent in (one, other, retried, bobs, again, other2):
        assert isinstance(sent, Sent)
    assert isinstance(one, Sent) and isinstance(bobs, Sent) and isinstance(again, Sent)
    assert isinstance(other, Sent) and isinstance(other2, Sent) and isinstance(retried, Sent)
    assert (one.message.seq, bobs.message.seq, one.duplicate, bobs.duplicate) == (2, 3, False, False)
    assert again.duplicate and again.message == one.message
    assert retried.duplicate and retried.message == earlier.message and retried.message.text == "first"
    assert (other.message.seq, other2.message.seq) == (1, 2)
    assert one.message.author is not None and one.message.author.nickname == "Ann"

    published = batches.batches[1]
    messages = [c.event.message for c in published if isinstance(c.event, MessagePosted)]
    assert [(m.feedback_id, m.seq, m.text) for m in messages] == [
        (room_a, 2, "one"),
        (room_b, 1, "other room"),
        (room_a, 3, "same client_id, other author"),
        (room_b, 2, "other room again"),
    ]
    audiences = {
        c.event.message.feedback_id: sorted(c.audience.users) for c in published if isinstance(c.event, MessagePosted)
    }
    assert audiences == {room_a: sorted([ann, bob]), room_b: [bob]}
    async with engine.connect() as conn:
        stored = (
            await conn.execute(select(t.messages.c.feedback_id, t.messages.c.seq).order_by(t.messages.c.id))
        ).all()
        counters = dict((await conn.execute(select(t.feedback_threads.c.id, t.feedback_threads.c.last_seq))).all())
    mine = [(fid, seq) for fid, seq in stored if fid in (room_a, room_b)]
    assert sorted(mine) == [(room_a, 1), (room_a, 2), (room_a, 3), (room_b, 1), (room_b, 2)]
    assert (counters[room_a], counters[room_b]) == (3, 2)


class HeldPublisher:
    """An EventPublisher whose first publish waits until released."""

    def __init__(self) -> None:
        self.batches: list[list[Committed]] = []
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, batch: Sequence[Committed]) -> None:
        if not self.batches:
            self.publishing.set()
            await self.release.wait()
        self.batches.append(list(batch))


async def test_the_next_batch_is_stored_while_one_publishes_and_leaves_after_it(engine: AsyncEngine) -> None:
    """Publishing overlaps writing the next batch, but batches leave in commit order and each sender is
    answered only once its batch is published."""
    async with engine.begin() as conn:
        ann = await _user(conn, "Ann")
        room = await _thread(conn, [ann])
    publisher = HeldPublisher()
    writer = GroupCommitWriter(engine, publisher)
    await writer.start()
    try:
        first = asyncio.ensure_future(writer.send(PostMessage(ann, room, "c1", "one")))
        await asyncio.wait_for(publisher.publishing.wait(), WAIT)
        second = asyncio.ensure_future(writer.send(PostMessage(ann, room, "c2", "two")))
        async with asyncio.timeout(WAIT):  # stored while the first batch is still publishing
            while True:
                async with engine.connect() as conn:
                    stored = (
                        await conn.execute(select(t.messages.c.seq).where(t.messages.c.feedback_id == room))
                    ).all()
                if len(stored) == 2:
                    break
                await asyncio.sleep(0.01)
        assert not first.done() and not second.done() and publisher.batches == []
        publisher.release.set()
        one, two = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    finally:
        publisher.release.set()
        await writer.stop()
    assert (one.message.seq, two.message.seq) == (1, 2)
    published = [c.event.message.seq for b in publisher.batches for c in b if isinstance(c.event, MessagePosted)]
    assert published == [1, 2]
