"""legacy import mapping, admin flag, learning links, sample files

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "learning_links",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_links")),
    )
    op.create_index("ix_learning_links_created_at_id", "learning_links", ["created_at", "id"])
    op.create_table(
        "legacy_map",
        sa.Column("old_table", sa.String(length=64), nullable=False),
        sa.Column("old_id", sa.BigInteger(), nullable=False),
        sa.Column("new_id", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("old_table", "old_id", name=op.f("pk_legacy_map")),
    )
    op.create_table(
        "legacy_files",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_legacy_files_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_files")),
    )
    op.create_index(op.f("ix_legacy_files_project_id"), "legacy_files", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_legacy_files_project_id"), table_name="legacy_files")
    op.drop_table("legacy_files")
    op.drop_table("legacy_map")
    op.drop_index("ix_learning_links_created_at_id", table_name="learning_links")
    op.drop_table("learning_links")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
