"""The chat group commit's write on PostgreSQL: one round trip per batch, on asyncpg directly.

The batch's distinct sends go as four arrays to `roughcut_store_messages` (migration 0009), which locks
their threads, refuses non-members, finds retried client_ids, numbers and inserts the new messages and
moves the counters, all in one statement's implicit transaction: no BEGIN/COMMIT round trips and no
SQLAlchemy statement compilation on the chat's hot path. The rules are domain/chat.py's `plan_batch`
(the SQLite backend runs it); the function is their one-statement form under the threads' row locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat import distinct_sends
from roughcut.domain.chat_model import ChatMessage, PostMessage, Sent
from roughcut.domain.events import Audience, Committed, MessagePosted
from roughcut.domain.project_model import UserRef

STORE = "SELECT * FROM roughcut_store_messages($1, $2, $3, $4, $5)"

Answer = Sent | errors.DomainError


class WriterConnection:
    """The group commit's own connection: checked out of the pool once and kept, since a checkout through
    SQLAlchemy's async pool costs about 150 µs of CPU, several times the batch's call itself. After a failure
    that may have left it unusable (anything but an error the server answered) it is dropped, and the next
    batch checks out a fresh one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """Run one statement on the kept connection (checked out first if there is none)."""
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                self._driver = (await conn.get_raw_connection()).driver_connection
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        try:
            rows: list[Any] = await self._driver.fetch(query, *args)
        except asyncpg.PostgresError:
            # The server refused the statement (its implicit transaction is rolled back): the connection is
            # fine, unless the server ended it with the error (an administrator's command, a shutdown).
            if self._driver.is_closed():
                await self._drop()
            raise
        except BaseException:
            await self._drop()
            raise
        return rows

    async def _drop(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await conn.invalidate()  # closed, and never handed out again by the pool
            await conn.close()

    async def close(self) -> None:
        """Give the connection back to the pool."""
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await conn.close()


async def store_batch(
    conn: WriterConnection, posts: Sequence[PostMessage], now: datetime
) -> tuple[list[Answer], list[Committed]]:
    """Store the sends; each send's answer, and the new messages with their audiences in seq order."""
    distinct, first_of = distinct_sends(posts)
    rows = await conn.fetch(
        STORE,
        [p.feedback_id for p in distinct],
        [p.user_id for p in distinct],
        [p.client_id for p in distinct],
        [p.text for p in distinct],
        now,
    )
    return _settle(distinct, first_of, rows)


def _settle(
    distinct: Sequence[PostMessage], first_of: Sequence[int], rows: Sequence[Sequence[Any]]
) -> tuple[list[Answer], list[Committed]]:
    by_pos: list[Answer | None] = [None] * len(distinct)  # None: no row, refused
    committed: list[Committed] = []
    for pos, is_new, new_id, seq, nickname, body, created_at, members in sorted(rows, key=lambda r: r[0]):
        post = distinct[pos - 1]
        author = UserRef(post.user_id, nickname)
        message = ChatMessage(new_id, post.feedback_id, seq, author, post.client_id, body, created_at)
        by_pos[pos - 1] = Sent(message, duplicate=not is_new)
        if is_new:
            committed.append(Committed(MessagePosted(message), Audience(users=tuple(members))))
    answers: list[Answer] = []
    seen: set[int] = set()
    for index in first_of:
        found = by_pos[index]
        if found is None:
            answers.append(errors.NotFound("No such feedback thread."))
        elif index in seen and isinstance(found, Sent):
            answers.append(Sent(found.message, duplicate=True))  # the same send twice in one batch
        else:
            answers.append(found)
        seen.add(index)
    return answers, committed
