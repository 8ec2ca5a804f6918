"""per-project event sequence

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Gap-free per project: numbered under the project's row lock in the committing transaction, so a
    # receiving node can tell a missing event from one of another project (ids are shared by all).
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    # Events stored before this migration: numbered in id order per project.
    op.execute(
        "UPDATE events SET seq = (SELECT count(*) FROM events AS e"
        " WHERE e.project_id = events.project_id AND e.id <= events.id) WHERE project_id IS NOT NULL"
    )
    op.create_index("ux_events_project_id_seq", "events", ["project_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_events_project_id_seq", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("seq")
