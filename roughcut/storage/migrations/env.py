"""Alembic environment: runs on the connection roughcut hands it (see roughcut.storage.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from roughcut.storage.tables import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `roughcut migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    version_table_schema=context.config.attributes.get("schema"),
)
with context.begin_transaction():
    context.run_migrations()
