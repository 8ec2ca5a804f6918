"""SQLAlchemy Core tables: one schema for PostgreSQL and SQLite, created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("nickname", String(50), nullable=False),
    Column("password_hash", String(255)),
    Column("login_method", String(16), nullable=False),
    Column("avatar_url", String(1024)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Set only by `roughcut admin grant` (migration 0005): manages e-learning links and sample files.
    Column("is_admin", Boolean, nullable=False, server_default=false()),
)

social_identities = Table(
    "social_identities",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
)

email_codes = Table(
    "email_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("verified_at", UtcDateTime),
    Column("token_hash", String(64), unique=True),
    Column("token_expires_at", UtcDateTime),
    Column("token_used_at", UtcDateTime),
    Index("ix_email_codes_email_created", "email", "created_at"),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=False),
    Column("idle_expires_at", UtcDateTime, nullable=False),
    Column("absolute_expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("user_agent", String(255), nullable=False, default=""),
    Column("ip", String(64), nullable=False, default=""),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", Id, ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("rotated_at", UtcDateTime),
)

user_memos = Table(
    "user_memos",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("date", Date, nullable=False),
    Column("memo", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_user_memos_user_date", "user_id", "date", "id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", BigInteger, nullable=True),
    Column("type", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("actor_id", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Gap-free per project (migration 0006): given out under the project's row lock at append.
    Column("seq", BigInteger, nullable=True),
    Index("ix_events_project_id_id", "project_id", "id"),
    Index("ux_events_project_id_seq", "project_id", "seq", unique=True),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("manager", String(100), nullable=False, server_default=""),
    Column("consumer", String(100), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("color", String(16), nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="planning"),
    Column("current_stage", String(32), nullable=False, server_default="basic_plan"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_projects_updated_at_id", "updated_at", "id"),
    Index("ix_projects_created_at_id", "created_at", "id"),
)

project_stages = Table(
    "project_stages",
    metadata,
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("start_at", UtcDateTime),
    Column("end_at", UtcDateTime),
    Column("status", String(16), nullable=False, server_default="todo"),
    PrimaryKeyConstraint("project_id", "stage"),
    Index("ix_project_stages_range", "start_at", "end_at"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("joined_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("project_id", "user_id"),
    Index("ix_project_members_user_project", "user_id", "project_id", "role"),
    # Exactly one owner per project: the database refuses a second.
    Index(
        "uq_project_members_one_owner",
        "project_id",
        unique=True,
        postgresql_where=text("role = 'owner'"),
        sqlite_where=text("role = 'owner'"),
    ),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("inviter_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("responded_at", UtcDateTime),
    # One pending invitation per address and project.
    Index(
        "uq_invitations_pending",
        "project_id",
        "email",
        unique=True,
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

project_memos = Table(
    "project_memos",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("date", Date, nullable=False),
    Column("memo", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_project_memos_project_date", "project_id", "date", "id"),
)

feedback_threads = Table(
    "feedback_threads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("created_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The chat's sequence counter: incremented in the transaction that stores messages (gap-free).
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
)

feedback_versions = Table(
    "feedback_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feedback_id", Id, ForeignKey("feedback_threads.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("blob_key", String(512)),
    Column("duration_ms", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Column("status", String(16), nullable=False, server_default="processing"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("poster_key", String(512)),  # the poster frame processing made (0004)
    Column("fps", Float),  # frames per second, found by processing (0007)
    UniqueConstraint("feedback_id", "number"),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feedback_id", Id, ForeignKey("feedback_threads.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", Id, ForeignKey("feedback_versions.id", ondelete="SET NULL")),
    Column("parent_id", Id, ForeignKey("comments.id", ondelete="CASCADE")),
    # Kept for edit rights even when anonymous; never shown to anyone but the author then.
    Column("author_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("anonymous", Boolean, nullable=False, server_default=false()),
    Column("text", Text, nullable=False),
    Column("at_ms", BigInteger),
    Column("until_ms", BigInteger),
    Column("title", String(200), nullable=False, server_default=""),
    Column("section", String(200), nullable=False, server_default=""),
    Column("annotation", JSON),
    Column("resolved_at", UtcDateTime),
    Column("resolved_by", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_comments_feedback_position", "feedback_id", "at_ms", "created_at", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feedback_id", Id, ForeignKey("feedback_threads.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("author_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("client_id", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("feedback_id", "seq"),
    # A retried send (same author, same client_id) finds the first message instead of storing again.
    Index("uq_messages_client", "feedback_id", "author_id", "client_id", unique=True),
)

chat_reads = Table(
    "chat_reads",
    metadata,
    Column("feedback_id", Id, ForeignKey("feedback_threads.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("read_seq", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("feedback_id", "user_id"),
)

learning_links = Table(
    "learning_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", String(1024), nullable=False),
    Column("title", String(200), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_learning_links_created_at_id", "created_at", "id"),
)

# `roughcut import-legacy`: which roughcut row each old row became (old table + old id), so a second run
# imports only what changed and never twice; `digest` is the old row's content hash at its last import.
legacy_map = Table(
    "legacy_map",
    metadata,
    Column("old_table", String(64), nullable=False),
    Column("old_id", BigInteger, nullable=False),
    Column("new_id", BigInteger, nullable=True),
    Column("digest", String(64), nullable=False),
    Column("imported_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("old_table", "old_id"),
)

# The durable job queue (roughcut/jobs, storage/jobs.py). A job is `pending` until done or dead; a pending
# job with `locked_until` in the future is running under that lease; a lapsed lease may be claimed again.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("key", String(255)),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("run_at", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
    Column("locked_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    # What a worker claims: due pending jobs, oldest first.
    Index("ix_jobs_due", "status", "run_at", "id"),
    # Idempotent enqueue: one pending job per kind and key.
    Index(
        "uq_jobs_pending_key",
        "kind",
        "key",
        unique=True,
        postgresql_where=text("status = 'pending' AND key IS NOT NULL"),
        sqlite_where=text("status = 'pending' AND key IS NOT NULL"),
    ),
)

# Old object keys of imported sample files (no project to file them under) until they move to the blob store.
legacy_files = Table(
    "legacy_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("kind", String(16), nullable=False),
    Column("object_key", String(1024), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Direct-to-storage uploads (domain/uploads.py): the key is the server's; the filename only displayed.
uploads = Table(
    "uploads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # None for a sample file (0007): it belongs to no project.
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("purpose", String(32), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("key", String(512), nullable=False, unique=True),
    Column("strategy", String(16), nullable=False),
    Column("multipart_id", String(1024)),
    Column("part_size", BigInteger),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # The sweeper's scan: pending uploads, oldest first.
    Index("ix_uploads_status_created", "status", "created_at"),
)

project_files = Table(
    "project_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("uploader_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("key", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Processing (domain/media.py): images get a WebP thumbnail, videos a poster and their dimensions.
    Column("status", String(16), nullable=False, server_default="ready"),
    Column("preview_key", String(512)),
    Column("width", Integer),
    Column("height", Integer),
    Column("duration_ms", BigInteger),
    Column("fps", Float),  # (0007)
    Index("ix_project_files_project_id", "project_id", "id"),
)

# Global sample files (templates shown on project create and edit), added by administrators (0007).
sample_files = Table(
    "sample_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("uploader_id", Id, ForeignKey("users.id", ondelete="SET NULL")),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("key", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Revalidation webhook endpoints registered through the admin API (0008); WEBHOOK_URLS ones are settings.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", String(1024), nullable=False),
    Column("secret", String(128), nullable=False),  # whsec_<base64>: needed to sign, so kept as is
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),  # the receiver answered 410 Gone
)
