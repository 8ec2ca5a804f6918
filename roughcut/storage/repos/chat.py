"""Chat storage: a room's reads inside a unit of work, and the group commit that stores concurrent sends.

The group commit only locks, inserts and commits: whom a send reaches, which sends are retries and
each message's `seq` are decided by the pure functions of domain/chat.py over the rows it locked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat import plan_batch, retry_keys, settle_batch
from roughcut.domain.chat_model import ChatMessage, LockedThread, PostMessage, RetryKey, RoomState, Sent
from roughcut.domain.events import Committed
from roughcut.domain.ports import EventPublisher
from roughcut.domain.project_model import UserRef
from roughcut.metrics import CHAT_BATCHED_SENDS, CHAT_BATCHES
from roughcut.storage import tables as t
from roughcut.storage.db import begin_write
from roughcut.storage.repos import chat_pg

log = logging.getLogger(__name__)

FT, PM, MSG, U, READS = t.feedback_threads, t.project_members, t.messages, t.users, t.chat_reads
MAX_BATCH = 512  # sends stored per transaction at most
_DATA_EXCEPTION = "22"  # the SQLSTATE class of values the database refuses
_CAUSE_DEPTH = 4  # SQLAlchemy error -> its DBAPI adapter error -> the driver's error (-> its cause)

_Queued = tuple[PostMessage, asyncio.Future[Sent]]


def _message(r: RowMapping, nickname: str | None) -> ChatMessage:
    author = UserRef(r["author_id"], nickname or "") if r["author_id"] is not None else None
    return ChatMessage(r["id"], r["feedback_id"], r["seq"], author, r["client_id"], r["text"], r["created_at"])


def _with_authors() -> Any:
    return select(MSG, U.c.nickname).outerjoin(U, U.c.id == MSG.c.author_id)


class SqlChatRooms:
    """The ChatRepository port, on the unit of work's connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def room(self, feedback_id: int, user_id: int) -> RoomState | None:
        q = (
            select(FT.c.project_id, FT.c.last_seq, func.coalesce(READS.c.read_seq, 0).label("read_seq"))
            .join(PM, and_(PM.c.project_id == FT.c.project_id, PM.c.user_id == user_id))
            .outerjoin(READS, and_(READS.c.feedback_id == FT.c.id, READS.c.user_id == user_id))
            .where(FT.c.id == feedback_id)
        )
        row = (await self._conn.execute(q)).mappings().first()
        return RoomState(row["project_id"], row["last_seq"], row["read_seq"]) if row else None

    async def members(self, feedback_id: int) -> tuple[int, ...]:
        q = select(PM.c.user_id).join(FT, FT.c.project_id == PM.c.project_id).where(FT.c.id == feedback_id)
        return tuple((await self._conn.execute(q)).scalars())

    async def after(self, feedback_id: int, after_seq: int, limit: int) -> list[ChatMessage]:
        q = (
            _with_authors()
            .where(MSG.c.feedback_id == feedback_id, MSG.c.seq > after_seq)
            .order_by(MSG.c.seq)
            .limit(limit)
        )
        return [_message(r, r["nickname"]) for r in (await self._conn.execute(q)).mappings()]

    async def before(self, feedback_id: int, before_seq: int | None, limit: int) -> list[ChatMessage]:
        q = _with_authors().where(MSG.c.feedback_id == feedback_id)
        if before_seq is not None:
            q = q.where(MSG.c.seq < before_seq)
        q = q.order_by(MSG.c.seq.desc()).limit(limit)
        rows = [_message(r, r["nickname"]) for r in (await self._conn.execute(q)).mappings()]
        return rows[::-1]

    async def mark_read(self, feedback_id: int, user_id: int, seq: int, now: datetime) -> int:
        values = {"feedback_id": feedback_id, "user_id": user_id, "read_seq": seq, "updated_at": now}
        sqlite = self._conn.dialect.name == "sqlite"
        ins = sqlite_insert(READS) if sqlite else pg_insert(READS)
        stmt = (
            ins.values(values)
            .on_conflict_do_update(
                index_elements=[READS.c.feedback_id, READS.c.user_id],
                set_={
                    "read_seq": func.max(READS.c.read_seq, seq) if sqlite else func.greatest(READS.c.read_seq, seq),
                    "updated_at": now,
                },
            )
            .returning(READS.c.read_seq)
        )
        return int((await self._conn.execute(stmt)).scalar_one())


class GroupCommitWriter:
    """The ChatWriter port: sends queue up while a transaction runs and go into the next one together.

    One transaction at a time per node: it locks the threads it writes (so a room's seq is gap-free
    and in order across nodes), lets the domain decide each send, inserts the new messages and moves
    each thread's counter. After commit the new messages go to the one publisher in seq order, with
    the members the transaction saw as their audience; then each sender's call returns. Nothing is
    published for a batch that failed; its sends are retried one per transaction, so a send the
    database refuses fails alone and never costs the other senders of its batch their messages.

    Publishing a batch overlaps writing the next one (the commit's round trip and fsync are the
    writer's wait, the publish is the loop's work): at most one batch publishes at a time, in commit
    order, so each room's messages still leave in seq order.
    """

    def __init__(self, engine: AsyncEngine, publisher: EventPublisher) -> None:
        self._engine = engine
        self._pg = chat_pg.WriterConnection(engine) if engine.dialect.name == "postgresql" else None
        self._publisher = publisher
        self._queue: list[_Queued] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delivering: asyncio.Task[None] | None = None  # the last committed batch: published, then answered
        self._stopping = False

    async def start(self) -> None:
        """Start the writer task."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="chat-group-commit")

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        await self._task
        self._task = None
        await self._delivered()
        if self._pg is not None:
            await self._pg.close()

    async def send(self, post: PostMessage) -> Sent:
        """Queue one send and wait until it is stored (or refused)."""
        if self._task is None or self._stopping:
            raise errors.ServiceUnavailable("The chat is not running.")
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        self._queue.append((post, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._store_batch(batch)
            if self._stopping:
                return

    async def _store_batch(self, batch: list[_Queued]) -> None:
        try:
            await self._store(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("chat send failed; nothing of it was stored", extra=_context(batch))
                _refuse(batch[0], exc)
                return
            refused = await self._store_one_by_one(batch)
            # Logged once, with the batch's traceback: the cause is usually one send the edge should have refused.
            log.error(
                "chat batch failed; its sends were retried one at a time",
                exc_info=exc,
                extra={**_context(batch), "refused": refused},
            )

    async def _store_one_by_one(self, batch: list[_Queued]) -> int:
        """After a failed batch, each send in its own transaction (in queue order, so each room's order holds):
        only a send the database refuses fails, and everyone else's message is stored and published.

        Returns how many sends were refused. Once a send fails for a reason that is not its data (the
        database is unreachable, say), the rest are refused at once instead of each waiting to fail.
        """
        refused = 0
        for position, item in enumerate(batch):
            try:
                await self._store([item])
            except Exception as exc:
                refused += 1
                _refuse(item, exc)
                if not _bad_data(exc):
                    for rest in batch[position + 1 :]:
                        _refuse(rest, exc)
                    return refused + len(batch) - position - 1
        return refused

    async def _store(self, batch: list[_Queued]) -> None:
        """One transaction for the batch's sends; after COMMIT, publish and answer each sender."""
        posts = [post for post, _ in batch]
        CHAT_BATCHES.inc()
        CHAT_BATCHED_SENDS.inc(len(posts))
        if self._pg is not None:
            answers, committed = await chat_pg.store_batch(self._pg, posts, datetime.now(UTC))
        else:
            # The same write slot as the units of work on SQLite (storage/db.py): one writer at a time.
            async with begin_write(self._engine) as conn:
                answers, committed = await _write(conn, posts, datetime.now(UTC))
        await self._delivered()  # the batch before this one leaves first
        delivery = self._deliver(batch, answers, committed)
        self._delivering = asyncio.get_running_loop().create_task(delivery, name="chat publish")

    async def _delivered(self) -> None:
        """Wait until the last committed batch is published and its senders answered."""
        delivering = self._delivering
        if delivering is not None:
            await delivering

    async def _deliver(
        self, batch: list[_Queued], answers: Sequence[Sent | errors.DomainError], committed: Sequence[Committed]
    ) -> None:
        """Publish a committed batch, then answer each of its senders."""
        if committed:
            try:
                await self._publisher.publish(committed)
            except Exception:
                # Stored is stored: clients that missed the emit recover with `join {after_seq}`.
                log.exception("chat publish failed", extra={"messages": len(committed)})
        for (_, fut), answer in zip(batch, answers, strict=True):
            if fut.done():
                continue  # the sender went away; its message is stored all the same
            if isinstance(answer, Sent):
                fut.set_result(answer)
            else:
                fut.set_exception(answer)


def _context(batch: list[_Queued]) -> dict[str, Any]:
    return {"batch": len(batch), "rooms": len({post.feedback_id for post, _ in batch})}


def _bad_data(exc: BaseException) -> bool:
    """Whether the database or its driver refused a value of the send itself (not a failure of the moment).

    PostgreSQL reports refused data as SQLSTATE class 22 (e.g. 22021 for U+0000 in text); a driver that
    cannot even send a value (an integer past 64 bits, a lone surrogate) raises a ValueError or an
    OverflowError, which SQLAlchemy wraps.
    """
    seen: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if seen is None:
            return False
        sqlstate = getattr(seen, "sqlstate", None)
        if (isinstance(sqlstate, str) and sqlstate.startswith(_DATA_EXCEPTION)) or isinstance(
            seen, ValueError | OverflowError
        ):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _refuse(item: _Queued, exc: BaseException) -> None:
    """Answer one sender: a send whose data the database refused is invalid; anything else may be retried."""
    _, fut = item
    if fut.done():
        return
    if _bad_data(exc):
        fut.set_exception(errors.ValidationFailed("The database refused this message as sent."))
    else:
        fut.set_exception(errors.ServiceUnavailable("The message could not be stored; retry."))


# The writer's statements are built once: a statement object memoises its cache key, so SQLAlchemy
# skips rebuilding and re-hashing it for every batch.
_LOCK_THREADS = (
    select(FT.c.id, FT.c.last_seq, PM.c.user_id, U.c.nickname)
    .join(PM, PM.c.project_id == FT.c.project_id)
    .join(U, U.c.id == PM.c.user_id)
    .where(FT.c.id.in_(bindparam("fids", expanding=True)))
    .order_by(FT.c.id)
    # NO KEY UPDATE: only `last_seq` changes, so rows that reference the thread (comments, read
    # markers, the messages themselves) keep taking their foreign-key KEY SHARE locks beside it.
    .with_for_update(of=FT, key_share=True)
)
_RETRIES = (
    select(MSG, U.c.nickname)
    .outerjoin(U, U.c.id == MSG.c.author_id)
    .where(tuple_(MSG.c.feedback_id, MSG.c.author_id, MSG.c.client_id).in_(bindparam("keys", expanding=True)))
)
_INSERT = insert(MSG).returning(MSG.c.id, sort_by_parameter_order=True)
_MOVE_COUNTER = update(FT).where(FT.c.id == bindparam("fid")).values(last_seq=bindparam("seq"))


async def _lock_threads(conn: AsyncConnection, fids: list[int]) -> dict[int, LockedThread]:
    """Lock the threads (FOR UPDATE OF the thread rows, in id order: no deadlock between nodes; SQLite's
    BEGIN IMMEDIATE already serialises) and read their members with nicknames, in one statement."""
    last: dict[int, int] = {}
    members: dict[int, dict[int, str]] = {}
    for fid, last_seq, uid, nickname in await conn.execute(_LOCK_THREADS, {"fids": fids}):
        last[fid] = last_seq
        members.setdefault(fid, {})[uid] = nickname
    return {fid: LockedThread(last[fid], members[fid]) for fid in last}


async def _stored(conn: AsyncConnection, keys: list[RetryKey]) -> dict[RetryKey, ChatMessage]:
    if not keys:
        return {}
    found = await conn.execute(_RETRIES, {"keys": keys})
    return {(r["feedback_id"], r["author_id"], r["client_id"]): _message(r, r["nickname"]) for r in found.mappings()}


async def _write(
    conn: AsyncConnection, posts: list[PostMessage], now: datetime
) -> tuple[list[Sent | errors.DomainError], list[Committed]]:
    threads = await _lock_threads(conn, sorted({p.feedback_id for p in posts}))
    plan = plan_batch(posts, threads, await _stored(conn, retry_keys(posts, threads)))
    ids: list[int] = []
    if plan.rows:
        rows = [
            {
                "feedback_id": r.feedback_id,
                "seq": r.seq,
                "author_id": r.author_id,
                "client_id": r.client_id,
                "text": r.text,
                "created_at": now,
            }
            for r in plan.rows
        ]
        ids = list((await conn.execute(_INSERT, rows)).scalars())
        await conn.execute(_MOVE_COUNTER, [{"fid": fid, "seq": seq} for fid, seq in sorted(plan.last_seq.items())])
    return settle_batch(plan, threads, ids, now)
