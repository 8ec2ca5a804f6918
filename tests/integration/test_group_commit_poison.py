"""The chat group commit on PostgreSQL: one send the database refuses never costs the rest of its batch."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat_model import PostMessage, Sent
from roughcut.domain.events import Committed, MessagePosted
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from roughcut.storage.repos.chat import GroupCommitWriter

ROOMS = 6
SENDS_PER_ROOM = 20
WAIT = 10.0


class Recorder:
    """An EventPublisher that keeps every message it was handed."""

    def __init__(self) -> None:
        self.messages: list[MessagePosted] = []

    async def publish(self, batch: Sequence[Committed]) -> None:
        for committed in batch:
            assert isinstance(committed.event, MessagePosted)
            self.messages.append(committed.event)


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(pg_url)
    yield eng
    await eng.dispose()


async def _rooms(engine: AsyncEngine, count: int) -> tuple[int, list[int]]:
    """One user, member of `count` projects with one feedback thread each; returns (user id, thread ids)."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        user_id = (
            await conn.execute(
                insert(t.users)
                .values(email=f"poison-{uuid.uuid4().hex}@example.com", nickname="P", login_method="email")
                .values(created_at=now, updated_at=now)
                .returning(t.users.c.id)
            )
        ).scalar_one()
        threads = []
        for n in range(count):
            pid = (
                await conn.execute(
                    insert(t.projects).values(name=f"p{n}", created_at=now, updated_at=now).returning(t.projects.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(t.project_members).values(project_id=pid, user_id=user_id, role="owner", joined_at=now)
            )
            fid = (
                await conn.execute(
                    insert(t.feedback_threads)
                    .values(project_id=pid, title="t", created_by=user_id, created_at=now, updated_at=now)
                    .returning(t.feedback_threads.c.id)
                )
            ).scalar_one()
            threads.append(fid)
    return user_id, threads


async def test_a_poisoned_send_fails_alone_and_the_rest_of_its_batch_is_stored(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    user_id, threads = await _rooms(engine, ROOMS)
    recorder = Recorder()
    writer = GroupCommitWriter(engine, recorder)
    await writer.start()
    good = [
        PostMessage(user_id, fid, str(uuid.uuid4()), f"{fid}:{n}") for n in range(SENDS_PER_ROOM) for fid in threads
    ]
    # PostgreSQL refuses U+0000 in text; asyncpg cannot even send an id past 64 bits. Neither passes the
    # socket schema; here they reach the writer directly, in the middle of everyone else's sends.
    nul = PostMessage(user_id, threads[0], str(uuid.uuid4()), "poison\x00")
    too_big = PostMessage(user_id, 2**63, str(uuid.uuid4()), "too big")
    posts = [*good[: len(good) // 2], nul, *good[len(good) // 2 :], too_big]
    try:
        with caplog.at_level(logging.WARNING, logger="roughcut.storage.repos.chat"):
            # gather queues every send before the writer task runs again: they form one batch.
            results = await asyncio.wait_for(
                asyncio.gather(*(writer.send(p) for p in posts), return_exceptions=True), WAIT
            )
    finally:
        await writer.stop()

    answers = dict(zip([p.client_id for p in posts], results, strict=True))
    for poisoned in (nul, too_big):
        refused = answers.pop(poisoned.client_id)
        assert isinstance(refused, errors.ValidationFailed | errors.ServiceUnavailable), refused
    assert all(isinstance(a, Sent) and not a.duplicate for a in answers.values()), answers
    # The batch really failed as one (this is the path under test), and was logged once.
    failures = [r for r in caplog.records if r.name == "roughcut.storage.repos.chat" and r.levelno >= logging.WARNING]
    assert [(r.getMessage(), r.batch) for r in failures] == [  # type: ignore[attr-defined]
        ("chat batch failed; its sends were retried one at a time", len(posts))
    ]

    # Every good send is stored once, each room's seqs gap-free and in send order, each published once.
    published = {m.message.client_id: m.message for m in recorder.messages}
    assert len(published) == len(recorder.messages) == len(good)
    for fid in threads:
        mine = [p for p in good if p.feedback_id == fid]
        stored = [answers[p.client_id].message for p in mine]  # type: ignore[union-attr]
        assert [m.seq for m in stored] == list(range(1, SENDS_PER_ROOM + 1))
        assert [published[p.client_id].seq for p in mine] == [m.seq for m in stored]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(t.messages.c.feedback_id, func.count(), func.max(t.messages.c.seq))
                .where(t.messages.c.feedback_id.in_(threads))
                .group_by(t.messages.c.feedback_id)
            )
        ).all()
        counters = dict(
            (
                await conn.execute(
                    select(t.feedback_threads.c.id, t.feedback_threads.c.last_seq).where(
                        t.feedback_threads.c.id.in_(threads)
                    )
                )
            ).all()
        )
    assert sorted(rows) == sorted((fid, SENDS_PER_ROOM, SENDS_PER_ROOM) for fid in threads)
    assert counters == dict.fromkeys(threads, SENDS_PER_ROOM)


async def test_the_writer_checks_out_a_new_connection_after_its_own_was_killed(pg_url: str) -> None:
    """The writer keeps one connection between batches; when the server ends it, at most the batch on it
    fails (retryable), and the next send is stored on a fresh one."""
    name = f"writer-{uuid.uuid4().hex[:8]}"
    engine = make_engine(pg_url, connect_args={"server_settings": {"application_name": name}})
    try:
        user_id, (fid,) = await _rooms(engine, 1)
        writer = GroupCommitWriter(engine, Recorder())
        await writer.start()
        try:
            before = await asyncio.wait_for(writer.send(PostMessage(user_id, fid, "c-before", "before")), WAIT)
            admin = make_engine(pg_url)
            async with admin.connect() as conn:
                killed = await conn.scalar(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": name},
                )
            await admin.dispose()
            assert killed == 1  # the writer's kept connection (this engine's only one left open)
            after = PostMessage(user_id, fid, "c-after", "after")
            outcomes: list[Sent | errors.ServiceUnavailable] = []
            while not outcomes or not isinstance(outcomes[-1], Sent):
                assert len(outcomes) < 2, outcomes  # one failure at most: the batch sent on the dead connection
                try:
                    outcomes.append(await asyncio.wait_for(writer.send(after), WAIT))
                except errors.ServiceUnavailable as refused:  # the client retries with the same client_id
                    outcomes.append(refused)
            then = await asyncio.wait_for(writer.send(PostMessage(user_id, fid, "c-then", "then")), WAIT)
        finally:
            await writer.stop()
        stored = outcomes[-1]
        assert isinstance(stored, Sent) and not stored.duplicate
        assert [before.message.seq, stored.message.seq, then.message.seq] == [1, 2, 3]
        async with engine.connect() as conn:
            texts = (await conn.execute(select(t.messages.c.text).where(t.messages.c.feedback_id == fid))).scalars()
            assert sorted(texts) == ["after", "before", "then"]
    finally:
        await engine.dispose()
