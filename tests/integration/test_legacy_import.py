"""`roughcut import-legacy` against a real old-schema database (PostgreSQL and SQLite) built from LEGACY.md."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.domain.feedback_model import section_ms
from roughcut.legacy.cli import run_import
from roughcut.legacy.report import Report
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from tests.conftest import PG_ADMIN, PG_HOST, AppFactory
from tests.legacy_db import EXPECTED_SKIPS, OLD_PASSWORD, add_comments, old_database, old_schema, seed, seed_v2

TARGETS = (t.users, t.user_memos, t.learning_links, t.projects, t.project_stages, t.project_members, t.invitations)
TARGETS += (
    t.project_memos,
    t.legacy_files,
    t.project_files,
    t.feedback_threads,
    t.feedback_versions,
    t.comments,
    t.legacy_map,
)
KILL_TIMEOUT = 120
EXTRA_COMMENTS = 3000
SMALL_BATCH = 50


@dataclass
class World:
    kind: str
    source: str
    old: AsyncEngine
    meta: Any
    settings: Settings
    stack: AsyncExitStack
    tmp: Path

    async def another_target(self) -> Settings:
        """A second, empty roughcut database of the same kind."""
        return await self.stack.enter_async_context(_target(self.kind, self.tmp, self.settings))


@asynccontextmanager
async def _target(kind: str, tmp: Path, base: Settings) -> AsyncIterator[Settings]:
    tag = uuid.uuid4().hex[:10]
    if kind == "sqlite":
        yield replace(base, data_dir=tmp / f"target-{tag}", database_url=None)
        return
    name = f"roughcut_import_{tag}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield replace(base, database_url=f"postgresql+asyncpg://{PG_HOST}/{name}")
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture(params=["postgres", "sqlite"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, pg_settings: Settings, sqlite_settings: Settings
) -> AsyncIterator[World]:
    kind = request.param
    async with AsyncExitStack() as stack:
        name = f"vridge_{uuid.uuid4().hex[:10]}"
        source, old = await stack.enter_async_context(old_database(kind, tmp_path, PG_ADMIN, PG_HOST, name))
        meta = old_schema()
        await seed(old, meta)
        base = sqlite_settings if kind == "sqlite" else pg_settings
        settings = await stack.enter_async_context(_target(kind, tmp_path, base))
        yield World(kind, source, old, meta, settings, stack, tmp_path)


async def counts(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings.db_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                for table in TARGETS
            }
    finally:
        await engine.dispose()


async def rows(settings: Settings, query: Any) -> list[Any]:
    engine = make_engine(settings.db_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(query)).mappings())
    finally:
        await engine.dispose()


def summary(report: Report) -> dict[str, tuple[int, int, int, dict[str, int]]]:
    return {x.table: (x.read, x.imported, x.unchanged, dict(x.skipped)) for x in report.tables}


def checksums(report: Report) -> dict[str, str]:
    return {x.table: x.checksum for x in report.tables}


EXPECTED = {  # table: (read, imported)
    "users_user": (6, 4),
    "users_usermemo": (3, 1),
    "onlines_onlinevideo": (3, 2),
    "projects_project": (3, 2),
    "projects_members": (6, 3),
    "projects_projectinvite": (2, 1),
    "projects_memo": (1, 1),
    "projects_file": (2, 1),
    "projects_samplefiles": (1, 1),
    "feedbacks_feedback": (3, 2),
    "feedbacks_feedbackcomment": (6, 3),
}


async def test_import_maps_counts_and_runs_again_without_duplicates(world: World) -> None:
    first = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    assert summary(first) == {
        table: (read, imported, 0, EXPECTED_SKIPS.get(table, {})) for table, (read, imported) in EXPECTED.items()
    }
    after_first = await counts(world.settings)
    assert after_first["users"] == 4
    assert after_first["projects"] == 2
    assert after_first["project_stages"] == 16
    assert after_first["project_members"] == 2 + 3  # two owners, three members
    assert after_first["comments"] == 3
    assert after_first["feedback_versions"] == 1

    users = {u["email"]: u for u in await rows(world.settings, select(t.users))}
    assert set(users) == {"kim@vlanet.net", "lee@example.com", "park@gmail.com", "choi@example.com"}
    assert users["kim@vlanet.net"]["nickname"] == "김감독"
    assert users["kim@vlanet.net"]["password_hash"].startswith("pbkdf2_sha256$1000$")
    assert (users["park@gmail.com"]["login_method"], users["park@gmail.com"]["password_hash"]) == ("google", None)
    assert users["choi@example.com"]["nickname"] == "choi"

    (project,) = await rows(world.settings, select(t.projects).where(t.projects.c.name == "봄 캠페인"))
    assert (project["color"], project["consumer"], project["status"]) == ("#A1B2C3", "브랜드", "completed")
    roles = await rows(world.settings, select(t.project_members).where(t.project_members.c.project_id == project["id"]))
    by_user = {users_id: role for users_id, role in ((m["user_id"], m["role"]) for m in roles)}
    assert sorted(by_user.values()) == ["manager", "member", "owner"]
    assert by_user[users["choi@example.com"]["id"]] == "manager"
    (teaser,) = await rows(world.settings, select(t.projects).where(t.projects.c.name == "Teaser"))
    stages = await rows(world.settings, select(t.project_stages).where(t.project_stages.c.project_id == teaser["id"]))
    dated = {s["stage"] for s in stages if s["start_at"] is not None}
    assert dated == {"basic_plan"}  # the shared row is read; the orphaned filming row leaves the stage empty
    (invitation,) = await rows(world.settings, select(t.invitations))
    assert (invitation["email"], invitation["status"]) == ("new@example.com", "expired")
    comments = {c["text"]: c for c in await rows(world.settings, select(t.comments))}
    assert (comments["컷 편집 필요"]["anonymous"], comments["컷 편집 필요"]["at_ms"]) == (True, 330_000)
    assert (comments["Warmer"]["at_ms"], comments["Warmer"]["title"]) == (3_723_000, "색보정")
    assert (comments["로고 크게"]["at_ms"], comments["로고 크게"]["section"]) == (None, "인트로")
    (version,) = await rows(world.settings, select(t.feedback_versions))
    assert version["blob_key"] == "feedback_file/review.mp4"
    (project_file,) = await rows(world.settings, select(t.project_files))
    assert (project_file["project_id"], project_file["key"]) == (project["id"], "project_file/brief.pdf")
    assert (project_file["filename"], project_file["content_type"]) == ("brief.pdf", "application/pdf")
    files = {f["object_key"]: f["kind"] for f in await rows(world.settings, select(t.legacy_files))}
    assert files == {"sample_file/guide.pdf": "sample_file"}
    links = await rows(world.settings, select(t.learning_links.c.url))
    assert sorted(x["url"] for x in links) == ["https://www.youtube.com/embed/abc", "https://www.youtube.com/embed/def"]

    second = await run_import(world.settings, world.source, dry=False, batch_size=7)
    assert {table: imported for table, (_r, imported, _u, _s) in summary(second).items()} == dict.fromkeys(EXPECTED, 0)
    assert checksums(second) == checksums(first)
    assert await counts(world.settings) == after_first

    # A change in the old database is brought over by the next run, and only that change.
    async with world.old.begin() as conn:
        await conn.execute(
            update(world.meta.tables["projects_project"])
            .where(world.meta.tables["projects_project"].c.id == 2)
            .values(name="Teaser v2")
        )
    third = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    changed = {table: imported for table, (_r, imported, _u, _s) in summary(third).items() if imported}
    assert changed == {"projects_project": 1}
    assert checksums(third)["projects_project"] != checksums(first)["projects_project"]
    assert await rows(world.settings, select(t.projects.c.name).where(t.projects.c.id == teaser["id"])) == [
        {"name": "Teaser v2"}
    ]
    assert await counts(world.settings) == after_first


async def test_dry_run_reports_the_same_and_writes_nothing(world: World) -> None:
    from roughcut.storage import migrate

    engine = make_engine(world.settings.db_url)
    world.settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate.upgrade(engine)
    await engine.dispose()
    before = await counts(world.settings)
    dry = await run_import(world.settings, world.source, dry=True, batch_size=SMALL_BATCH)
    assert dry.dry_run
    assert await counts(world.settings) == before
    real = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    assert summary(dry) == summary(real)
    assert checksums(dry) == checksums(real)


async def test_an_imported_user_logs_in_with_the_old_password_and_the_hash_is_upgraded(
    world: World, make_client: AppFactory
) -> None:
    await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    client = await make_client(world.settings)
    resp = await client.post("/api/v1/auth/login", json={"email": "lee@example.com", "password": "wrong-password-1"})
    assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"email": "Lee@Example.com", "password": OLD_PASSWORD})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["user"]["nickname"] == "이편집"
    (stored,) = await rows(world.settings, select(t.users.c.password_hash).where(t.users.c.email == "lee@example.com"))
    assert stored["password_hash"].startswith("$argon2id$")
    resp = await client.post("/api/v1/auth/login", json={"email": "lee@example.com", "password": OLD_PASSWORD})
    assert resp.status == 200
    # The old app, logged in with the old password, sees the imported project and its file.
    resp = await client.post("/users/login", json={"email": "lee@example.com", "password": OLD_PASSWORD})
    assert resp.status == 201
    cookie = {"Cookie": f"vridge_session={resp.cookies['vridge_session'].value}"}
    listed = await (await client.get("/projects/project_list", headers=cookie)).json()
    project = next(p for p in listed["result"] if p["name"] == "봄 캠페인")
    assert (project["owner_email"], project["owner_nickname"]) == ("kim@vlanet.net", "김감독")
    detail = (await (await client.get(f"/projects/detail/{project['id']}", headers=cookie)).json())["result"]
    (file,) = detail["files"]
    assert file["file_name"] == "brief.pdf"
    assert file["files"].startswith("http")
    assert [m["memo"] for m in detail["memo"]] == ["편집 회의"]
    # The old row changing later (a login there) does not take the upgraded password back.
    users_user = world.meta.tables["users_user"]
    async with world.old.begin() as conn:
        await conn.execute(update(users_user).where(users_user.c.id == 2).values(nickname="이편집2"))
    await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    (after,) = await rows(world.settings, select(t.users).where(t.users.c.email == "lee@example.com"))
    assert (after["nickname"], after["password_hash"]) == ("이편집2", stored["password_hash"])


async def _cli(settings: Settings, source: str, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATA_DIR": str(settings.data_dir)}
    env.pop("DATABASE_URL", None)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roughcut",
        "import-legacy",
        "--from",
        source,
        "--batch-size",
        str(SMALL_BATCH),
        *extra,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_killed_mid_run_the_next_run_finishes_with_a_clean_runs_counts(world: World) -> None:
    await add_comments(world.old, world.meta, EXTRA_COMMENTS)
    proc = await _cli(world.settings, world.source)
    assert proc.stderr is not None

    async def killed_in_comments() -> None:
        # Plain progress lines (stderr is not a terminal): kill once some comment batches have committed.
        while line := await proc.stderr.readline():  # type: ignore[union-attr]
            table, _, done = line.decode().strip().partition(": ")
            if table == "feedbacks_feedbackcomment" and int(done.split("/")[0]) >= EXTRA_COMMENTS // 3:
                proc.send_signal(signal.SIGKILL)
                return
        raise AssertionError("the import ended before it could be killed")

    await asyncio.wait_for(killed_in_comments(), KILL_TIMEOUT)
    assert await asyncio.wait_for(proc.wait(), KILL_TIMEOUT) == -signal.SIGKILL
    partial = await counts(world.settings)
    assert 3 < partial["comments"] < 3 + EXTRA_COMMENTS

    report_file = world.tmp / "report.json"
    resumed = await _cli(world.settings, world.source, "--report", str(report_file))
    out, err = await asyncio.wait_for(resumed.communicate(), KILL_TIMEOUT)
    assert resumed.returncode == 0, err.decode()
    assert "feedbacks_feedbackcomment" in out.decode()
    written = {x["table"]: x for x in json.loads(report_file.read_text())["tables"]}
    comments = written["feedbacks_feedbackcomment"]
    assert comments["read"] == 6 + EXTRA_COMMENTS
    assert 0 < comments["imported"] < 3 + EXTRA_COMMENTS  # the rest was committed before the kill
    assert comments["skip_reasons"] == EXPECTED_SKIPS["feedbacks_feedbackcomment"]
    assert written["users_user"]["imported"] == 0

    clean = await world.another_target()
    report = await run_import(clean, world.source, dry=False, batch_size=SMALL_BATCH)
    resumed_counts, clean_counts = await counts(world.settings), await counts(clean)
    assert resumed_counts == clean_counts
    assert resumed_counts["comments"] == 3 + EXTRA_COMMENTS
    again = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH)
    assert checksums(again) == checksums(report)


@pytest.mark.parametrize(
    ("section", "ms"),
    [
        ("05:30", 330_000),
        ("1:02:03", 3_723_000),
        (" 0:07.5 ", 7_500),
        ("00:00", 0),
        ("5:75", None),
        ("인트로", None),
        ("1:60:00", None),
        ("", None),
        ("12", None),
    ],
)
def test_sections_that_read_as_times(section: str, ms: int | None) -> None:
    assert section_ms(section) == ms


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
async def test_later_versions_columns_are_used_when_present(
    kind: str, tmp_path: Path, pg_settings: Settings, sqlite_settings: Settings
) -> None:
    """[V2]: projects.status, several feedbacks per project (feedbacks_feedback.project_id, title), comment seconds."""
    async with AsyncExitStack() as stack:
        source, old = await stack.enter_async_context(
            old_database(kind, tmp_path, PG_ADMIN, PG_HOST, f"vridge_v2_{uuid.uuid4().hex[:10]}")
        )
        meta = old_schema(v2=True)
        await seed_v2(old, meta)
        settings = await stack.enter_async_context(
            _target(kind, tmp_path, sqlite_settings if kind == "sqlite" else pg_settings)
        )
        report = await run_import(settings, source, dry=False, batch_size=SMALL_BATCH)
        assert {x.table: x.imported for x in report.tables}["feedbacks_feedback"] == 2
        (project,) = await rows(settings, select(t.projects))
        assert project["status"] == "on_hold"
        threads = await rows(settings, select(t.feedback_threads).order_by(t.feedback_threads.c.id))
        assert [th["title"] for th in threads] == ["1차 시안", "2차 시안"]
        (comment,) = await rows(settings, select(t.comments))
        assert (comment["feedback_id"], comment["at_ms"], comment["section"]) == (threads[1]["id"], 12_500, "")


async def test_the_old_database_is_opened_read_only(world: World) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from roughcut.legacy.source import Source

    src = await Source.open(world.source)
    try:
        assert src.has("feedbacks_feedbackcomment", "section")
        assert not src.has("feedbacks_feedbackcomment", "timestamp")  # [V2] only
        with pytest.raises(DBAPIError):
            async with src._engine.begin() as conn:
                await conn.execute(text("CREATE TABLE written (id integer)"))
    finally:
        await src.close()
