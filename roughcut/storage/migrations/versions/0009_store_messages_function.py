"""the chat group commit's one-round-trip write on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00

`roughcut_store_messages` stores a batch of chat sends in one statement's round trip (its own implicit
transaction): it locks the batch's threads in id order, then (a new snapshot, so every earlier holder's
messages are visible) answers each distinct send as refused (no row: not a member of the thread's
project, or no such thread), already stored (the first message with this author and client_id), or new
(inserted with the thread's next seq; the thread's counter moves). New rows carry the thread's members,
the audience the messages are published to. storage/repos/chat_pg.py calls it; the rules are the same
as domain/chat.py's `plan_batch`, which the embedded SQLite backend runs (tests run both).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STORE_MESSAGES = """
CREATE OR REPLACE FUNCTION roughcut_store_messages(
    p_fids bigint[], p_uids bigint[], p_cids text[], p_texts text[], p_at timestamptz
) RETURNS TABLE (
    pos bigint, is_new boolean, id bigint, seq bigint, nickname text, body text, created_at timestamptz,
    members bigint[]
) LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
BEGIN
    -- NO KEY UPDATE: only last_seq changes, so rows referencing the thread keep their KEY SHARE checks.
    PERFORM 1 FROM feedback_threads t WHERE t.id = ANY (p_fids) ORDER BY t.id FOR NO KEY UPDATE;
    RETURN QUERY
    WITH sends AS (
        SELECT s.fid, s.uid, s.cid, s.txt, s.pos
        FROM unnest(p_fids, p_uids, p_cids, p_texts) WITH ORDINALITY AS s (fid, uid, cid, txt, pos)
    ), checked AS (
        SELECT s.fid, s.uid, s.cid, s.txt, s.pos, t.last_seq, t.project_id, u.nickname AS name,
               m.id AS old_id, m.seq AS old_seq, m.text AS old_text, m.created_at AS old_at
        FROM sends s
        JOIN feedback_threads t ON t.id = s.fid
        JOIN project_members pm ON pm.project_id = t.project_id AND pm.user_id = s.uid
        JOIN users u ON u.id = s.uid
        LEFT JOIN messages m ON m.feedback_id = s.fid AND m.author_id = s.uid AND m.client_id = s.cid
    ), fresh AS (
        SELECT c.*, c.last_seq + row_number() OVER (PARTITION BY c.fid ORDER BY c.pos) AS new_seq
        FROM checked c WHERE c.old_id IS NULL
    ), inserted AS (
        INSERT INTO messages (feedback_id, seq, author_id, client_id, text, created_at)
        SELECT f.fid, f.new_seq, f.uid, f.cid, f.txt, p_at FROM fresh f ORDER BY f.pos
        RETURNING messages.id AS new_id, messages.feedback_id AS fid, messages.seq AS new_seq
    ), moved AS (
        UPDATE feedback_threads t SET last_seq = top.seq_to
        FROM (SELECT f.fid, max(f.new_seq) AS seq_to FROM fresh f GROUP BY f.fid) top
        WHERE t.id = top.fid
    ), audience AS (
        SELECT p.fid, array_agg(pm.user_id ORDER BY pm.user_id) AS ids
        FROM (SELECT DISTINCT f.fid, f.project_id FROM fresh f) p
        JOIN project_members pm ON pm.project_id = p.project_id
        GROUP BY p.fid
    )
    SELECT f.pos, true, i.new_id, f.new_seq, f.name::text, f.txt, p_at, a.ids
    FROM fresh f
    JOIN inserted i ON i.fid = f.fid AND i.new_seq = f.new_seq
    JOIN audience a ON a.fid = f.fid
    UNION ALL
    SELECT c.pos, false, c.old_id, c.old_seq, c.name::text, c.old_text, c.old_at, NULL::bigint[]
    FROM checked c WHERE c.old_id IS NOT NULL;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(STORE_MESSAGES)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION roughcut_store_messages(bigint[], bigint[], text[], text[], timestamptz)")
