"""frame rates of processed media, sample files, uploads without a project

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for table in ("feedback_versions", "project_files"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("fps", sa.Float(), nullable=True))
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.alter_column("project_id", existing_type=ID, nullable=True)  # sample files have none
    op.create_table(
        "sample_files",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("uploader_id", ID, nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploader_id"], ["users.id"], name=op.f("fk_sample_files_uploader_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_files")),
    )


def downgrade() -> None:
    op.drop_table("sample_files")
    op.execute("DELETE FROM uploads WHERE project_id IS NULL")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.alter_column("project_id", existing_type=ID, nullable=False)
    for table in ("project_files", "feedback_versions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("fps")
