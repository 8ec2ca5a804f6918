"""Writes of mapped rows into roughcut's tables (inside the batch's transaction)."""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, case, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.project_model import STAGE_ORDER, InvitationStatus, Role
from roughcut.domain.projects import FIRST_THREAD_TITLE
from roughcut.legacy import rules as r
from roughcut.security.passwords import DJANGO_PBKDF2
from roughcut.storage import tables as t

VIDEO_READY = "ready"
FIRST_VERSION = 1


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Bulk insert, answering the new ids in the order of `rows`."""
    if not rows:
        return []
    result = await conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows))
    return [int(i) for i in result.scalars()]


async def update_row(conn: AsyncConnection, table: Table, row_id: int, values: dict[str, Any]) -> bool:
    """Change a row imported before; False when it was deleted in roughcut since."""
    result = await conn.execute(update(table).where(table.c.id == row_id).values(**values))
    return bool(result.rowcount)


def user_values(u: r.UserRow) -> dict[str, Any]:
    return {
        "email": u.email,
        "nickname": u.nickname,
        "password_hash": u.password_hash,
        "login_method": u.login_method,
        "created_at": u.created_at,
        "updated_at": u.created_at,
    }


async def update_user(conn: AsyncConnection, user_id: int, u: r.UserRow, now: datetime) -> bool:
    """Nickname, login method and a changed old password, unless the user has a roughcut password by now."""
    c = t.users.c
    still_legacy = c.password_hash.is_(None) | c.password_hash.like(DJANGO_PBKDF2 + "$%")
    values = {
        "nickname": u.nickname,
        "login_method": u.login_method,
        "password_hash": case((still_legacy, literal(u.password_hash)), else_=c.password_hash),
        "updated_at": now,
    }
    return await update_row(conn, t.users, user_id, values)


async def taken_emails(conn: AsyncConnection, emails: Iterable[str]) -> set[str]:
    wanted = sorted(set(emails))
    if not wanted:
        return set()
    return set((await conn.execute(select(t.users.c.email).where(t.users.c.email.in_(wanted)))).scalars())


def memo_values(m: r.MemoRow) -> dict[str, Any]:
    return {
        "user_id": m.owner_id,
        "date": m.day,
        "memo": m.memo,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def project_memo_values(m: r.MemoRow, author_id: int | None) -> dict[str, Any]:
    return {
        "project_id": m.owner_id,
        "author_id": author_id,
        "date": m.day,
        "memo": m.memo,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def _project_values(p: r.ProjectRow) -> dict[str, Any]:
    return {
        "name": p.name,
        "manager": p.manager,
        "consumer": p.consumer,
        "description": p.description,
        "color": p.color,
        "status": p.status,
        "current_stage": p.current_stage.value,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def _stage_values(project_id: int, s: r.StageRow) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "stage": s.stage.value,
        "position": STAGE_ORDER.index(s.stage),
        "start_at": s.start_at,
        "end_at": s.end_at,
        "status": s.status.value,
    }


async def insert_projects(conn: AsyncConnection, rows: Sequence[r.ProjectRow]) -> list[tuple[int, int]]:
    """Projects with their stages, owner and first feedback thread (as create_project makes them)."""
    ids = await insert_rows(conn, t.projects, [_project_values(p) for p in rows])
    if not ids:
        return []
    await conn.execute(
        insert(t.project_stages), [_stage_values(pid, s) for pid, p in zip(ids, rows, strict=True) for s in p.stages]
    )
    await conn.execute(
        insert(t.project_members),
        [
            {"project_id": pid, "user_id": p.owner_id, "role": Role.OWNER.value, "joined_at": p.created_at}
            for pid, p in zip(ids, rows, strict=True)
        ],
    )
    threads = [
        {
            "project_id": pid,
            "title": FIRST_THREAD_TITLE,
            "description": "",
            "created_by": p.owner_id,
            "created_at": p.created_at,
            "updated_at": p.created_at,
        }
        for pid, p in zip(ids, rows, strict=True)
    ]
    return list(zip(ids, await insert_rows(conn, t.feedback_threads, threads), strict=True))


async def update_project(conn: AsyncConnection, project_id: int, p: r.ProjectRow) -> bool:
    """The project's fields and stage dates (its members and owner are roughcut's now)."""
    if not await update_row(conn, t.projects, project_id, _project_values(p)):
        return False
    s = t.project_stages.c
    for stage in p.stages:
        values = _stage_values(project_id, stage)
        await conn.execute(
            update(t.project_stages)
            .where(s.project_id == project_id, s.stage == stage.stage.value)
            .values(start_at=values["start_at"], end_at=values["end_at"], status=values["status"])
        )
    return True


async def memberships(conn: AsyncConnection, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """(project, user) → role, for those pairs that are members."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    c = t.project_members.c
    q = select(c.project_id, c.user_id, c.role).where(tuple_(c.project_id, c.user_id).in_(wanted))
    return {(row.project_id, row.user_id): row.role for row in await conn.execute(q)}


async def set_role(conn: AsyncConnection, m: r.MemberRow) -> bool:
    c = t.project_members.c
    q = update(t.project_members).where(
        and_(c.project_id == m.project_id, c.user_id == m.user_id, c.role != Role.OWNER.value)
    )
    return bool((await conn.execute(q.values(role=m.role))).rowcount)


def invitation_values(i: r.InvitationRow, inviter_id: int | None) -> dict[str, Any]:
    """Expired at once, with a random token nobody holds: an owner resends it to make a new one."""
    return {
        "project_id": i.project_id,
        "email": i.email,
        "role": Role.MEMBER.value,
        "message": "",
        "token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
        "inviter_id": inviter_id,
        "created_at": i.created_at,
        "expires_at": i.created_at,
        "status": InvitationStatus.EXPIRED.value,
    }


def file_values(f: r.FileRow) -> dict[str, Any]:
    return {"project_id": f.project_id, "kind": f.kind, "object_key": f.object_key, "created_at": f.created_at}


def project_file_values(f: r.FileRow) -> dict[str, Any]:
    """A project file whose blob is the old object (the blob store must reach the old bucket, or copies of it).

    The old database never stored sizes: 0 stands for unknown until the object is copied.
    """
    name = f.object_key.rsplit("/", 1)[-1]
    return {
        "project_id": f.project_id,
        "uploader_id": None,
        "filename": name[: r.FILENAME_MAX],
        "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream",
        "size": 0,
        "key": f.object_key,
        "created_at": f.created_at,
    }


def thread_values(th: r.ThreadRow) -> dict[str, Any]:
    return {
        "project_id": th.project_id,
        "title": th.title,
        "description": th.description,
        "created_at": th.created_at,
        "updated_at": th.updated_at,
    }


async def put_video(conn: AsyncConnection, thread_id: int, th: r.ThreadRow) -> None:
    """The review video as the thread's first version, pointing at the old object key."""
    if th.video_key is None:
        return
    v = t.feedback_versions.c
    q = update(t.feedback_versions).where(v.feedback_id == thread_id, v.number == FIRST_VERSION)
    if (await conn.execute(q.values(blob_key=th.video_key))).rowcount:
        return
    await conn.execute(
        insert(t.feedback_versions).values(
            feedback_id=thread_id,
            number=FIRST_VERSION,
            blob_key=th.video_key,
            status=VIDEO_READY,
            created_at=th.created_at,
        )
    )


def comment_values(c: r.CommentRow) -> dict[str, Any]:
    return {
        "feedback_id": c.feedback_id,
        "author_id": c.author_id,
        "anonymous": c.anonymous,
        "title": c.title,
        "section": c.section,
        "at_ms": c.at_ms,
        "text": c.text,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def link_values(link: r.LinkRow) -> dict[str, Any]:
    return {"url": link.url, "title": "", "created_at": link.created_at, "updated_at": link.updated_at}


async def insert_members(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(t.project_members), list(rows))
