"""Chat storage: reads, and the group-commit writer that stores concurrent sends in one transaction."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat import ChatMessage, Delivery, Outgoing, RoomState
from roughcut.domain.project_model import UserRef
from roughcut.storage import tables as t

log = logging.getLogger(__name__)

FT, PM, MSG, U, READS = t.feedback_threads, t.project_members, t.messages, t.users, t.chat_reads
MAX_BATCH = 512  # sends stored per transaction at most
MEMBERS_TTL = 2.0  # seconds a thread's member list is reused for typing and read notices

Publish = Callable[[list[Delivery]], Awaitable[None]]


def _message(r: RowMapping, nickname: str | None) -> ChatMessage:
    author = UserRef(r["author_id"], nickname or "") if r["author_id"] is not None else None
    return ChatMessage(r["id"], r["feedback_id"], r["seq"], author, r["client_id"], r["text"], r["created_at"])


def _with_authors() -> Any:
    return select(MSG, U.c.nickname).outerjoin(U, U.c.id == MSG.c.author_id)


class SqlChatStore:
    """The ChatStore port: each call is its own short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._members: dict[int, tuple[float, tuple[int, ...]]] = {}

    async def room(self, feedback_id: int, user_id: int) -> RoomState | None:
        q = (
            select(FT.c.project_id, FT.c.last_seq, func.coalesce(READS.c.read_seq, 0).label("read_seq"))
            .join(PM, and_(PM.c.project_id == FT.c.project_id, PM.c.user_id == user_id))
            .outerjoin(READS, and_(READS.c.feedback_id == FT.c.id, READS.c.user_id == user_id))
            .where(FT.c.id == feedback_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(q)).mappings().first()
        return RoomState(row["project_id"], row["last_seq"], row["read_seq"]) if row else None

    async def members(self, feedback_id: int) -> tuple[int, ...]:
        cached = self._members.get(feedback_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        q = select(PM.c.user_id).join(FT, FT.c.project_id == PM.c.project_id).where(FT.c.id == feedback_id)
        async with self._engine.connect() as conn:
            found = tuple((await conn.execute(q)).scalars())
        self.remember(feedback_id, found)
        return found

    def remember(self, feedback_id: int, members: tuple[int, ...]) -> None:
        """Keep a member list that a transaction just read."""
        if len(self._members) > 10_000:
            self._members.clear()
        self._members[feedback_id] = (time.monotonic() + MEMBERS_TTL, members)

    async def after(self, feedback_id: int, after_seq: int, limit: int) -> list[ChatMessage]:
        q = (
            _with_authors()
            .where(MSG.c.feedback_id == feedback_id, MSG.c.seq > after_seq)
            .order_by(MSG.c.seq)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_message(r, r["nickname"]) for r in (await conn.execute(q)).mappings()]

    async def before(self, feedback_id: int, before_seq: int | None, limit: int) -> list[ChatMessage]:
        q = _with_authors().where(MSG.c.feedback_id == feedback_id)
        if before_seq is not None:
            q = q.where(MSG.c.seq < before_seq)
        q = q.order_by(MSG.c.seq.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = [_message(r, r["nickname"]) for r in (await conn.execute(q)).mappings()]
        return rows[::-1]

    async def mark_read(self, feedback_id: int, user_id: int, seq: int, now: datetime) -> int:
        values = {"feedback_id": feedback_id, "user_id": user_id, "read_seq": seq, "updated_at": now}
        async with self._engine.begin() as conn:
            ins = pg_insert(READS) if conn.dialect.name == "postgresql" else sqlite_insert(READS)
            stmt = (
                ins.values(values)
                .on_conflict_do_update(
                    index_elements=[READS.c.feedback_id, READS.c.user_id],
                    set_={
                        "read_seq": func.max(READS.c.read_seq, seq)
                        if conn.dialect.name == "sqlite"
                        else func.greatest(READS.c.read_seq, seq),
                        "updated_at": now,
                    },
                )
                .returning(READS.c.read_seq)
            )
            return int((await conn.execute(stmt)).scalar_one())


class GroupCommitWriter:
    """The ChatWriter port: sends queue up while a transaction runs and go into the next one together.

    One transaction at a time per node: it locks the threads it writes (so a room's seq is gap-free
    and in order across nodes), checks that every sender is a member, finds retried client_ids,
    inserts the new messages, and moves each thread's counter. After commit the batch is published
    in seq order, then each sender's call returns. Nothing is published for a batch that failed.
    """

    def __init__(self, engine: AsyncEngine, publish: Publish, store: SqlChatStore) -> None:
        self._engine = engine
        self._publish = publish
        self._store = store
        self._queue: list[tuple[Outgoing, asyncio.Future[Delivery]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="chat-group-commit")

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        if self._task is None:
            return
        self._queue.append((None, None))  # type: ignore[arg-type]  # sentinel: drain then exit
        self._wakeup.set()
        await self._task
        self._task = None

    async def send(self, item: Outgoing) -> Delivery:
        """Queue one send and wait until it is stored (or refused)."""
        if self._task is None:
            raise errors.ServiceUnavailable("The chat is not running.")
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                stopping = any(item is None for item, _ in batch)
                work = [(item, fut) for item, fut in batch if item is not None]
                if work:
                    await self._store_batch(work)
                if stopping:
                    return

    async def _store_batch(self, batch: list[tuple[Outgoing, asyncio.Future[Delivery]]]) -> None:
        items = [item for item, _ in batch]
        try:
            async with self._engine.begin() as conn:
                results = await _write(conn, items, datetime.now(UTC))
        except Exception:
            log.exception("chat batch failed; nothing of it was stored", extra={"batch": len(batch)})
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(errors.ServiceUnavailable("The message could not be stored; retry."))
            return
        for result in results:
            if isinstance(result, Delivery):
                self._store.remember(result.message.feedback_id, result.recipients)
        fresh = [r for r in results if isinstance(r, Delivery) and not r.duplicate]
        try:
            await self._publish(fresh)
        except Exception:
            # Stored is stored: clients that missed the emit recover with `join {after_seq}`.
            log.exception("chat publish failed", extra={"messages": len(fresh)})
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue  # the sender went away; its message is stored all the same
            if isinstance(result, Delivery):
                fut.set_result(result)
            else:
                fut.set_exception(result)


# The writer's statements are built once: a statement object memoises its cache key, so SQLAlchemy
# skips rebuilding and re-hashing it for every batch.
_LOCK_THREADS = (
    select(FT.c.id, FT.c.last_seq, PM.c.user_id, U.c.nickname)
    .join(PM, PM.c.project_id == FT.c.project_id)
    .join(U, U.c.id == PM.c.user_id)
    .where(FT.c.id.in_(bindparam("fids", expanding=True)))
    .order_by(FT.c.id)
    .with_for_update(of=FT)
)
_RETRIES = select(MSG).where(
    tuple_(MSG.c.feedback_id, MSG.c.author_id, MSG.c.client_id).in_(bindparam("keys", expanding=True))
)
_INSERT = insert(MSG).returning(MSG.c.id, sort_by_parameter_order=True)
_MOVE_COUNTER = update(FT).where(FT.c.id == bindparam("fid")).values(last_seq=bindparam("seq"))


async def _write(conn: AsyncConnection, items: Sequence[Outgoing], now: datetime) -> list[Delivery | Exception]:
    fids = sorted({i.feedback_id for i in items})
    # One statement locks the threads (FOR UPDATE OF the thread rows, in id order: no deadlock between
    # nodes; SQLite's BEGIN IMMEDIATE already serialises) and reads their members with nicknames.
    rows = await conn.execute(_LOCK_THREADS, {"fids": fids})
    threads: dict[int, int] = {}
    members: dict[int, dict[int, str]] = defaultdict(dict)
    for fid, last_seq, uid, nickname in rows:
        threads[fid] = last_seq
        members[fid][uid] = nickname
    keys = {(i.feedback_id, i.user_id, i.client_id) for i in items if i.user_id in members.get(i.feedback_id, {})}
    existing: dict[tuple[int, int, str], ChatMessage] = {}
    if keys:
        found = await conn.execute(_RETRIES, {"keys": sorted(keys)})
        for r in found.mappings():
            key = (r["feedback_id"], r["author_id"], r["client_id"])
            existing[key] = _message(r, members[r["feedback_id"]].get(r["author_id"]))
    # Each slot: a Delivery, an Exception, or the index of an earlier slot this one repeats.
    slots: list[Delivery | Exception | int] = []
    new_rows: list[dict[str, Any]] = []
    new_slots: list[int] = []
    claimed: dict[tuple[int, int, str], int] = {}
    for item in items:
        room = members.get(item.feedback_id)
        if item.feedback_id not in threads or room is None or item.user_id not in room:
            slots.append(errors.NotFound("No such feedback thread."))
            continue
        key = (item.feedback_id, item.user_id, item.client_id)
        if key in existing:
            slots.append(Delivery(existing[key], tuple(room), duplicate=True))
        elif key in claimed:  # the same send twice in one batch: the later one is a retry
            slots.append(claimed[key])
        else:
            threads[item.feedback_id] += 1
            claimed[key] = len(slots)
            new_slots.append(len(slots))
            slots.append(errors.ServiceUnavailable("not stored"))
            new_rows.append(
                {
                    "feedback_id": item.feedback_id,
                    "seq": threads[item.feedback_id],
                    "author_id": item.user_id,
                    "client_id": item.client_id,
                    "text": item.text,
                    "created_at": now,
                }
            )
    if new_rows:
        ids = (await conn.execute(_INSERT, new_rows)).scalars()
        for slot, row, new_id in zip(new_slots, new_rows, ids, strict=True):
            room = members[row["feedback_id"]]
            author = UserRef(row["author_id"], room[row["author_id"]])
            message = ChatMessage(new_id, row["feedback_id"], row["seq"], author, row["client_id"], row["text"], now)
            slots[slot] = Delivery(message, tuple(room))
        await conn.execute(
            _MOVE_COUNTER,
            [{"fid": fid, "seq": threads[fid]} for fid in sorted({r["feedback_id"] for r in new_rows})],
        )
    results: list[Delivery | Exception] = []
    for entry in slots:
        if isinstance(entry, int):
            first = slots[entry]
            assert isinstance(first, Delivery)
            results.append(Delivery(first.message, first.recipients, duplicate=True))
        else:
            results.append(entry)
    return results


async def threads_of(engine: AsyncEngine, project_id: int) -> list[int]:
    """The feedback thread ids of a project (whose chat rooms a removed member leaves)."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(FT.c.id).where(FT.c.project_id == project_id))).scalars())
