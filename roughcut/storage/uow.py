"""The SQL unit of work: one transaction per use-case call; events stored with it, published after commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain.events import DomainEvent, StoredEvent
from roughcut.domain.ports import EventPublisher
from roughcut.storage.repos.accounts import SqlEmailCodes, SqlSessions, SqlUsers
from roughcut.storage.repos.events import SqlEventLog
from roughcut.storage.repos.feedback import SqlFeedback
from roughcut.storage.repos.invitations import SqlInvitations
from roughcut.storage.repos.memos import SqlMemos
from roughcut.storage.repos.project_memos import SqlProjectMemos
from roughcut.storage.repos.projects import SqlProjects

log = logging.getLogger(__name__)


class NullPublisher:
    """Publishes nothing: for the CLI and for tests of storage alone."""

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        return None


class SqlUnitOfWork:
    """`async with uow:` opens a transaction; `commit()` stores recorded events and publishes them."""

    users: SqlUsers
    codes: SqlEmailCodes
    sessions: SqlSessions
    memos: SqlMemos
    events: SqlEventLog
    projects: SqlProjects
    invitations: SqlInvitations
    project_memos: SqlProjectMemos
    feedback: SqlFeedback

    def __init__(self, engine: AsyncEngine, publisher: EventPublisher) -> None:
        self._engine = engine
        self._publisher = publisher
        self._conn: AsyncConnection | None = None
        self._pending: list[DomainEvent] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        # The connection begins its transaction lazily, at the first statement (SQLAlchemy autobegin).
        self._conn = await self._engine.connect()
        conn = self._conn
        self.users = SqlUsers(conn)
        self.codes = SqlEmailCodes(conn)
        self.sessions = SqlSessions(conn)
        self.memos = SqlMemos(conn)
        self.events = SqlEventLog(conn)
        self.projects = SqlProjects(conn)
        self.invitations = SqlInvitations(conn)
        self.project_memos = SqlProjectMemos(conn)
        self.feedback = SqlFeedback(conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        self._pending.clear()
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()

    def record(self, event: DomainEvent) -> None:
        """Keep an event to store with this transaction."""
        self._pending.append(event)

    async def commit(self) -> list[StoredEvent]:
        """Write pending events to the log, commit, then hand them to the publisher."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("commit outside `async with`")
        stored: list[StoredEvent] = []
        if self._pending:
            # Lock the projects first: a project's event ids then follow its commit order, so a client
            # resuming "after id N" can never miss an event that committed later with a smaller id.
            await self.events.lock_projects({e.project_id for e in self._pending if e.project_id is not None})
            stored = await self.events.append(self._pending)
            self._pending.clear()
        await conn.commit()
        if stored:
            try:
                await self._publisher.publish(stored)
            except Exception:
                # Committed events stay in the log; clients catch up from it. Never fail the caller.
                log.exception("event publish failed", extra={"event_ids": [e.id for e in stored]})
        return stored
