"""The SQL unit of work: one transaction per use-case call; events stored with it, published after commit.

Lock order (PostgreSQL). Every write takes its project row lock first, FOR NO KEY UPDATE: the role
lookup of a `@writes` use case locks the project (`require_role` → `SqlProjects.role_of(lock=True)`)
before anything under the project is read for update or written, and `commit` locks the projects of
its events in id order in the same mode (a no-op for a project already locked). Rows inserted under a
project take FOR KEY SHARE on it for their foreign-key check; NO KEY UPDATE does not conflict with KEY
SHARE, so those checks never wait for, nor block, the project lock. (The commit-time lock used to be
FOR UPDATE: two writers that had both inserted a memo each held KEY SHARE and each waited for the
other's to end: `deadlock detected`.) What can still collide (a project deletion cascading into thread
rows the chat group commit holds, an account deletion cascading into several projects' rows) is
rolled back by PostgreSQL and raised here as `TransactionConflict`, which `@writes` answers by running
the use case again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain import errors
from roughcut.domain.events import Committed, DomainEvent, StoredEvent, audience_of
from roughcut.domain.ports import EventPublisher
from roughcut.domain.transactions import writing
from roughcut.storage.db import connect, is_conflict, write_slot
from roughcut.storage.jobs import SqlJobs
from roughcut.storage.repos.accounts import SqlEmailCodes, SqlSessions, SqlUsers
from roughcut.storage.repos.chat import SqlChatRooms
from roughcut.storage.repos.events import SqlEventLog
from roughcut.storage.repos.feedback import SqlFeedback
from roughcut.storage.repos.invitations import SqlInvitations
from roughcut.storage.repos.learning import SqlLearningLinks
from roughcut.storage.repos.memos import SqlMemos
from roughcut.storage.repos.project_memos import SqlProjectMemos
from roughcut.storage.repos.projects import SqlProjects
from roughcut.storage.repos.uploads import SqlProjectFiles, SqlSampleFiles, SqlUploads, SqlVersions
from roughcut.storage.webhooks import SqlWebhookEndpoints, WebhookOutbox

log = logging.getLogger(__name__)


class SqlUnitOfWork:
    """`async with uow:` opens a transaction (a read's runs statement by statement on PostgreSQL, until its
    first write: storage/db.py); `commit()` stores recorded events and publishes them."""

    users: SqlUsers
    codes: SqlEmailCodes
    sessions: SqlSessions
    memos: SqlMemos
    events: SqlEventLog
    projects: SqlProjects
    invitations: SqlInvitations
    project_memos: SqlProjectMemos
    feedback: SqlFeedback
    chat: SqlChatRooms
    jobs: SqlJobs
    uploads: SqlUploads
    files: SqlProjectFiles
    versions: SqlVersions
    samples: SqlSampleFiles
    learning_links: SqlLearningLinks
    webhooks: SqlWebhookEndpoints

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher,
        wake_jobs: Callable[[], None] | None = None,
        outbox: WebhookOutbox | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._wake_jobs = wake_jobs  # this node's job worker, told after a commit that enqueued
        self._outbox = outbox  # revalidation webhooks: deliveries written with the events
        self._conn: AsyncConnection | None = None
        self._pending: list[DomainEvent] = []
        self._announced: list[Committed] = []
        # A writer holds its slot from before connecting until the connection is back in the pool
        # (on SQLite, statements after COMMIT would begin IMMEDIATE again).
        self._slot: asyncio.Semaphore | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        writes = writing()
        slot = write_slot(self._engine) if writes else None
        if slot is not None:
            # Queue before taking a pooled connection: waiting writers hold no connection, so reads
            # (and /readyz) always find one (storage/db.py).
            await slot.acquire()
            self._slot = slot
        try:
            # The connection begins its transaction lazily, at the first statement (SQLAlchemy autobegin).
            self._conn = conn = await connect(self._engine, write=writes)
        except BaseException:
            self._release()
            raise
        self.users = SqlUsers(conn)
        self.codes = SqlEmailCodes(conn)
        self.sessions = SqlSessions(conn)
        self.memos = SqlMemos(conn)
        self.events = SqlEventLog(conn)
        self.projects = SqlProjects(conn)
        self.invitations = SqlInvitations(conn)
        self.project_memos = SqlProjectMemos(conn)
        self.feedback = SqlFeedback(conn)
        self.chat = SqlChatRooms(conn)
        self.jobs = SqlJobs(conn)
        self.uploads = SqlUploads(conn)
        self.files = SqlProjectFiles(conn)
        self.versions = SqlVersions(conn)
        self.samples = SqlSampleFiles(conn)
        self.learning_links = SqlLearningLinks(conn)
        self.webhooks = SqlWebhookEndpoints(conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        self._pending.clear()
        self._announced.clear()
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            try:
                await conn.close()
            finally:
                self._release()
        if exc is not None and is_conflict(exc):
            # Rolled back above and nothing was published: the caller (`@writes`) may run it all again.
            raise errors.TransactionConflict() from exc

    def _release(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    def record(self, event: DomainEvent) -> None:
        """Keep an event to store with this transaction."""
        self._pending.append(event)

    def announce(self, change: Committed) -> None:
        """Keep a live-only change (not logged) to publish after commit, its audience read in this transaction."""
        self._announced.append(change)

    async def commit(self) -> list[StoredEvent]:
        """Fix each pending event's audience, store the events, commit, then hand them to the publisher."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("commit outside `async with`")
        stored: list[StoredEvent] = []
        committed: list[Committed] = []
        if self._pending:
            pending, self._pending = self._pending, []
            members = await self.events.lock_members({e.project_id for e in pending if e.project_id is not None})
            threads = await self.events.threads_of({e.project_id for e in pending if e.leaving and e.project_id})
            stored = await self.events.append(pending)
            committed = [Committed(s, audience_of(e, members, threads)) for s, e in zip(stored, pending, strict=True)]
            if self._outbox is not None:
                await self._outbox.write(conn, self.jobs, committed)
        await conn.commit()
        if self.jobs.enqueued and self._wake_jobs is not None:
            self.jobs.enqueued = False
            self._wake_jobs()  # the job is due now: no need to wait for the worker's next poll
        committed.extend(self._announced)
        self._announced.clear()
        if committed:
            try:
                await self._publisher.publish(committed)
            except Exception:
                # Committed events stay in the log; clients catch up from it. Never fail the caller.
                log.exception("event publish failed", extra={"event_ids": [e.id for e in stored]})
        return stored
