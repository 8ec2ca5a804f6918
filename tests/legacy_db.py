"""The old Vlanet / VRidge (Django 4.2) schema as LEGACY.md lists it, built on PostgreSQL or SQLite, and seeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from roughcut.security.passwords import django_pbkdf2

OLD_PASSWORD = "vridge-old-password"
LEGACY_ITERATIONS = 1000  # a real Django hash, just cheap to check in tests
PK = BigInteger().with_variant(Integer(), "sqlite")  # Django's BigAutoField (SQLite: integer primary key)
STAGE_TABLES = (
    "projects_basicplan",
    "projects_storyboard",
    "projects_filming",
    "projects_videoedit",
    "projects_postwork",
    "projects_videopreview",
    "projects_confirmation",
    "projects_videodelivery",
)
STAGE_FKS = (
    "basic_plan_id",
    "story_board_id",
    "filming_id",
    "video_edit_id",
    "post_work_id",
    "video_preview_id",
    "confirmation_id",
    "video_delivery_id",
)


def _stamped(name: str, meta: MetaData, *columns: Column[Any]) -> Table:
    tz = DateTime(timezone=True)
    return Table(name, meta, Column("id", PK, primary_key=True), Column("created", tz), Column("updated", tz), *columns)


def old_schema(*, v2: bool = False) -> MetaData:
    """The [S] tables (no foreign-key constraints: the faults LEGACY.md lists could not exist otherwise)."""
    meta = MetaData()
    tz = DateTime(timezone=True)
    Table(
        "users_user",
        meta,
        Column("id", PK, primary_key=True),
        Column("password", String(128), nullable=False),
        Column("last_login", tz),
        Column("is_superuser", Boolean, nullable=False, default=False),
        Column("username", String(150), nullable=False, unique=True),
        Column("first_name", String(150), nullable=False, default=""),
        Column("last_name", String(150), nullable=False, default=""),
        Column("email", String(254), nullable=False, default=""),
        Column("is_staff", Boolean, nullable=False, default=False),
        Column("is_active", Boolean, nullable=False, default=True),
        Column("date_joined", tz, nullable=False),
        Column("nickname", String(100)),
        Column("login_method", String(10)),
        Column("email_secret", String(120)),
    )
    _stamped("users_emailverify", meta, Column("email", String(254)), Column("auth_number", Integer))
    _stamped("users_usermemo", meta, Column("user_id", BigInteger), Column("date", Date), Column("memo", Text))
    for name in STAGE_TABLES:
        _stamped(name, meta, Column("start_date", tz), Column("end_date", tz))
    project_extra = [Column("status", String(20)), Column("progress", Integer)] if v2 else []
    _stamped(
        "projects_project",
        meta,
        Column("user_id", BigInteger),
        Column("name", String(100)),
        Column("manager", String(50)),
        Column("consumer", String(50)),
        Column("description", Text),
        Column("color", String(100)),
        *(Column(fk, BigInteger) for fk in STAGE_FKS),
        Column("feedback_id", BigInteger),
        *project_extra,
    )
    _stamped(
        "projects_members",
        meta,
        Column("project_id", BigInteger),
        Column("user_id", BigInteger),
        Column("rating", String(10)),
    )
    _stamped("projects_projectinvite", meta, Column("project_id", BigInteger), Column("email", String(254)))
    _stamped("projects_file", meta, Column("project_id", BigInteger), Column("files", String(100)))
    _stamped("projects_memo", meta, Column("project_id", BigInteger), Column("date", Date), Column("memo", Text))
    _stamped("projects_samplefiles", meta, Column("files", String(100)))
    feedback_extra = [Column("project_id", BigInteger), Column("title", String(200))] if v2 else []
    _stamped("feedbacks_feedback", meta, Column("files", String(100)), *feedback_extra)
    comment_extra = [Column("timestamp", Float)] if v2 else []
    _stamped(
        "feedbacks_feedbackcomment",
        meta,
        Column("feedback_id", BigInteger),
        Column("user_id", BigInteger),
        Column("security", Boolean),
        Column("title", String(100)),
        Column("section", String(100)),
        Column("text", Text),
        *comment_extra,
    )
    _stamped(
        "feedbacks_feedbackmessage",
        meta,
        Column("feedback_id", BigInteger),
        Column("user_id", BigInteger),
        Column("text", Text),
    )
    _stamped("onlines_onlinevideo", meta, Column("link", String(200)))
    return meta


@asynccontextmanager
async def old_database(
    kind: str, tmp: Any, pg_admin: str, pg_host: str, name: str
) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A fresh old database: (the `--from` value, a writable engine to seed and change it)."""
    if kind == "sqlite":
        path = tmp / f"{name}.sqlite3"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        try:
            yield str(path), engine
        finally:
            await engine.dispose()
        return
    conn = await asyncpg.connect(pg_admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    engine = create_async_engine(f"postgresql+asyncpg://{pg_host}/{name}")
    try:
        yield f"postgresql://{pg_host}/{name}", engine
    finally:
        await engine.dispose()
        conn = await asyncpg.connect(pg_admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


T0 = datetime(2023, 7, 1, 9, 0, tzinfo=UTC)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _stamp(days: float = 0) -> dict[str, datetime]:
    return {"created": _at(days), "updated": _at(days)}


def _user(
    uid: int, username: str, email: str, nickname: str | None, method: str = "email", password: str = ""
) -> dict[str, Any]:
    return {
        "id": uid,
        "password": password or django_pbkdf2(OLD_PASSWORD, f"salt{uid}", LEGACY_ITERATIONS),
        "last_login": None,
        "is_superuser": False,
        "username": username,
        "first_name": "",
        "last_name": "",
        "email": email,
        "is_staff": False,
        "is_active": True,
        "date_joined": _at(uid),
        "nickname": nickname,
        "login_method": method,
        "email_secret": None,
    }


# Each faulty row is named by the reason the report must give.
USERS = [
    _user(1, "kim@vlanet.net", "kim@vlanet.net", "김감독"),
    _user(2, "Lee@Example.com", "", "이편집"),  # empty email: the address is in username (mixed case)
    _user(3, "park@gmail.com", "park@gmail.com", "박구글", "google", "!unusableSocialPassword"),
    _user(4, "KIM@vlanet.net ", "", "dup"),  # duplicate e-mail
    _user(5, "not-an-address", "", "nobody"),  # no valid e-mail address
    _user(6, "choi@example.com", "choi@example.com", None),  # no nickname: the address's local part
]
EXPECTED_SKIPS = {
    "users_user": {"duplicate e-mail": 1, "no valid e-mail address": 1},
    "users_usermemo": {"user gone": 1, "empty memo": 1},
    "onlines_onlinevideo": {"not an http(s) link": 1},
    "projects_project": {"owner gone": 1},
    "projects_members": {"duplicate member": 2, "project gone": 1},
    "projects_projectinvite": {"no valid e-mail address": 1},
    "projects_file": {"project gone": 1},
    "feedbacks_feedback": {"project gone": 1},
    "feedbacks_feedbackcomment": {"author gone": 1, "feedback gone": 1, "empty text": 1},
}


async def seed(engine: AsyncEngine, meta: MetaData) -> None:
    """Realistic and faulty rows (LEGACY.md's known faults), Korean text included."""
    tb = meta.tables
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(tb["users_user"]), USERS)
        await conn.execute(
            insert(tb["users_usermemo"]),
            [
                {"id": 1, "user_id": 1, "date": date(2023, 7, 5), "memo": "촬영 준비", **_stamp(1)},
                {"id": 2, "user_id": 99, "date": date(2023, 7, 6), "memo": "orphan", **_stamp(1)},
                {"id": 3, "user_id": 2, "date": date(2023, 7, 7), "memo": "  ", **_stamp(1)},
            ],
        )
        await conn.execute(
            insert(tb["onlines_onlinevideo"]),
            [
                {"id": 1, "link": "https://www.youtube.com/embed/abc", **_stamp(0)},
                {"id": 2, "link": "https://www.youtube.com/embed/def", **_stamp(1)},
                {"id": 3, "link": "javascript:alert(1)", **_stamp(2)},
            ],
        )
        for n, table in enumerate(STAGE_TABLES):
            await conn.execute(
                insert(tb[table]),
                [{"id": 1, "start_date": _at(n * 3), "end_date": _at(n * 3 + 2), **_stamp()}],
            )
        await conn.execute(
            insert(tb["feedbacks_feedback"]),
            [
                {"id": 1, "files": "feedback_file/review.mp4", **_stamp(2)},
                {"id": 2, "files": "", **_stamp(2)},
                {"id": 3, "files": "feedback_file/lost.mp4", **_stamp(2)},  # no project points at it
            ],
        )
        stages_a = dict.fromkeys(STAGE_FKS, 1)
        stages_b = {**dict.fromkeys(STAGE_FKS), "basic_plan_id": 1, "filming_id": 999}  # shared and orphaned
        await conn.execute(
            insert(tb["projects_project"]),
            [
                {
                    "id": 1,
                    "user_id": 1,
                    "name": "봄 캠페인",
                    "manager": "김",
                    "consumer": "브랜드",
                    "description": "설명",
                    "color": "#A1B2C3",
                    "feedback_id": 1,
                    **stages_a,
                    **_stamp(2),
                },
                {
                    "id": 2,
                    "user_id": 2,
                    "name": "Teaser",
                    "manager": "",
                    "consumer": "",
                    "description": "",
                    "color": "#000000",
                    "feedback_id": 2,
                    **stages_b,
                    **_stamp(3),
                },
                {
                    "id": 3,
                    "user_id": 99,
                    "name": "Orphan",
                    "manager": "",
                    "consumer": "",
                    "description": "",
                    "color": "#111111",
                    "feedback_id": None,
                    **stages_b,
                    **_stamp(3),
                },
            ],
        )
        await conn.execute(
            insert(tb["projects_members"]),
            [
                {"id": 1, "project_id": 1, "user_id": 2, "rating": "normal", **_stamp(3)},
                {"id": 2, "project_id": 1, "user_id": 6, "rating": "manager", **_stamp(3)},
                {"id": 3, "project_id": 1, "user_id": 2, "rating": "normal", **_stamp(4)},  # duplicate
                {"id": 4, "project_id": 1, "user_id": 1, "rating": "normal", **_stamp(4)},  # the owner: duplicate
                {"id": 5, "project_id": 3, "user_id": 2, "rating": "normal", **_stamp(4)},  # project gone
                {"id": 6, "project_id": 2, "user_id": 3, "rating": "manager", **_stamp(4)},
            ],
        )
        await conn.execute(
            insert(tb["projects_projectinvite"]),
            [
                {"id": 1, "project_id": 1, "email": "New@Example.com", **_stamp(4)},
                {"id": 2, "project_id": 1, "email": "bad", **_stamp(4)},
            ],
        )
        await conn.execute(
            insert(tb["projects_memo"]),
            [{"id": 1, "project_id": 1, "date": date(2023, 7, 10), "memo": "편집 회의", **_stamp(5)}],
        )
        await conn.execute(
            insert(tb["projects_file"]),
            [
                {"id": 1, "project_id": 1, "files": "project_file/brief.pdf", **_stamp(5)},
                {"id": 2, "project_id": 3, "files": "project_file/orphan.pdf", **_stamp(5)},
            ],
        )
        await conn.execute(
            insert(tb["projects_samplefiles"]), [{"id": 1, "files": "sample_file/guide.pdf", **_stamp(0)}]
        )
        await conn.execute(
            insert(tb["feedbacks_feedbackcomment"]),
            [
                {
                    "id": 1,
                    "feedback_id": 1,
                    "user_id": 2,
                    "security": True,
                    "title": "",
                    "section": "05:30",
                    "text": "컷 편집 필요",
                    **_stamp(6),
                },
                {
                    "id": 2,
                    "feedback_id": 1,
                    "user_id": 6,
                    "security": False,
                    "title": "색보정",
                    "section": "1:02:03",
                    "text": "Warmer",
                    **_stamp(6),
                },
                {
                    "id": 3,
                    "feedback_id": 1,
                    "user_id": 2,
                    "security": False,
                    "title": "",
                    "section": "인트로",
                    "text": "로고 크게",
                    **_stamp(6),
                },
                {
                    "id": 4,
                    "feedback_id": 1,
                    "user_id": 99,
                    "security": False,
                    "title": "",
                    "section": "",
                    "text": "ghost",
                    **_stamp(6),
                },
                {
                    "id": 5,
                    "feedback_id": 3,
                    "user_id": 1,
                    "security": False,
                    "title": "",
                    "section": "",
                    "text": "lost",
                    **_stamp(6),
                },
                {
                    "id": 6,
                    "feedback_id": 1,
                    "user_id": 1,
                    "security": False,
                    "title": "",
                    "section": "",
                    "text": "",
                    **_stamp(6),
                },
            ],
        )


async def add_comments(engine: AsyncEngine, meta: MetaData, count: int, first_id: int = 1000) -> None:
    """Many more comments (for a run long enough to kill in the middle)."""
    rows = [
        {
            "id": first_id + n,
            "feedback_id": 1,
            "user_id": 1 + n % 2,
            "security": n % 3 == 0,
            "title": "",
            "section": f"{n // 60 % 60:02d}:{n % 60:02d}",
            "text": f"코멘트 {n}",
            **_stamp(7),
        }
        for n in range(count)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(meta.tables["feedbacks_feedbackcomment"]), rows)


async def seed_v2(engine: AsyncEngine, meta: MetaData) -> None:
    """A [V2] database: a status column, two feedbacks of one project, a comment timed in seconds."""
    tb = meta.tables
    empty = dict.fromkeys(STAGE_FKS)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(tb["users_user"]), [USERS[0]])
        await conn.execute(
            insert(tb["projects_project"]),
            [
                {
                    "id": 1,
                    "user_id": 1,
                    "name": "V2",
                    "manager": "",
                    "consumer": "",
                    "description": "",
                    "color": "#123456",
                    "feedback_id": 1,
                    "status": "on_hold",
                    "progress": 40,
                    **empty,
                    **_stamp(1),
                },
            ],
        )
        await conn.execute(
            insert(tb["feedbacks_feedback"]),
            [
                {"id": 1, "files": "feedback_file/one.mp4", "project_id": 1, "title": "1차 시안", **_stamp(1)},
                {"id": 2, "files": "feedback_file/two.mp4", "project_id": 1, "title": "2차 시안", **_stamp(2)},
            ],
        )
        await conn.execute(
            insert(tb["feedbacks_feedbackcomment"]),
            [
                {
                    "id": 1,
                    "feedback_id": 2,
                    "user_id": 1,
                    "security": False,
                    "title": "",
                    "section": "",
                    "text": "v2",
                    "timestamp": 12.5,
                    **_stamp(3),
                }
            ],
        )
