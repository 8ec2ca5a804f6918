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

from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.domain import errors
from roughcut.domain.chat import distinct_sends
from roughcut.domain.chat_model import ChatMessage, PostMessage, Sent
from roughcut.domain.events import Audience, Committed, MessagePosted
from roughcut.domain.project_model import UserRef

STORE = "SELECT * FROM roughcut_store_messages($1, $2, $3, $4, $5)"

Answer = Sent | errors.DomainError


async def store_batch(
    engine: AsyncEngine, posts: Sequence[PostMessage], now: datetime
) -> tuple[list[Answer], list[Committed]]:
    """Store the sends; each send's answer, and the new messages with their audiences in seq order."""
    distinct, first_of = distinct_sends(posts)
    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        driver = fairy.driver_connection
        assert driver is not None
        try:
            rows = await driver.fetch(
                STORE,
                [p.feedback_id for p in distinct],
                [p.user_id for p in distinct],
                [p.client_id for p in distinct],
                [p.text for p in distinct],
                now,
            )
        except BaseException:
            if driver.is_closed():  # the pool must not hand out a dead connection again
                await conn.invalidate()
            raise
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
