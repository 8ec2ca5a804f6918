"""`roughcut import-legacy` throughput: a realistic old Vlanet database, a first import and a no-change rerun.

    python -m bench.legacy_import --users 2000 --projects 5000 --comments 100000

Builds the old database (LEGACY.md's [S] tables, as the test suite defines them) on PostgreSQL, or on
SQLite with `--sqlite`, with the usual mess: members (a few duplicated), eight stage rows per project,
memos, invitations, files, one review video per project and comments whose `section` is a time or free
text. Then times the import into a fresh roughcut database twice and prints rows/s and the peak RSS of
this process (the importer runs in it). Each run is its own process-level measurement of elapsed time;
peak RSS is the high-water mark after each run, so a flat second figure means memory did not grow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import MetaData, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import PG_ADMIN, PG_HOST, drop_database, fresh_database
from roughcut.config import Settings
from roughcut.legacy.cli import run_import
from roughcut.security.passwords import django_pbkdf2
from tests.legacy_db import LEGACY_ITERATIONS, STAGE_FKS, STAGE_TABLES, old_schema

INSERT_BATCH = 2000
T0 = datetime(2022, 1, 1, tzinfo=UTC)
MEMBERS_PER_PROJECT = 3
DUPLICATE_EVERY = 50  # one duplicated member row per this many projects (a fault LEGACY.md lists)
SECTIONS = ("05:30", "1:02:03", "00:12", "인트로", "전체", "")


def _stamp(n: int) -> dict[str, datetime]:
    at = T0 + timedelta(minutes=n)
    return {"created": at, "updated": at}


def _users(count: int) -> Iterator[dict[str, Any]]:
    hashed = django_pbkdf2("old-password", "benchsalt", LEGACY_ITERATIONS)  # one hash: making them is not the bench
    for uid in range(1, count + 1):
        email = f"user{uid}@vlanet.net"
        yield {
            "id": uid,
            "password": hashed if uid % 10 else "!social",
            "last_login": None,
            "is_superuser": False,
            "username": email,
            "first_name": "",
            "last_name": "",
            "email": "" if uid % 7 == 0 else email,  # empty email: the address is in username
            "is_staff": False,
            "is_active": True,
            "date_joined": T0,
            "nickname": f"사용자{uid}",
            "login_method": "email" if uid % 10 else "google",
            "email_secret": None,
        }


def _projects(count: int, users: int) -> Iterator[dict[str, Any]]:
    for pid in range(1, count + 1):
        stages = dict.fromkeys(STAGE_FKS, pid)  # stage row `pid` of each of the eight stage tables
        yield {
            "id": pid,
            "user_id": pid % users + 1,
            "name": f"프로젝트 {pid}",
            "manager": "김감독",
            "consumer": "브랜드",
            "description": "설명 " * 20,
            "color": "#A1B2C3",
            "feedback_id": pid,
            **stages,
            **_stamp(pid),
        }


def _stages(projects: int) -> Iterator[dict[str, Any]]:
    for sid in range(1, projects + 1):
        start = T0 + timedelta(days=sid % 365)
        yield {"id": sid, "start_date": start, "end_date": start + timedelta(days=3), **_stamp(sid)}


def _members(projects: int, users: int) -> Iterator[dict[str, Any]]:
    mid = 0
    for pid in range(1, projects + 1):
        picked = [(pid * 7 + k * 13) % users + 1 for k in range(MEMBERS_PER_PROJECT)]
        if pid % DUPLICATE_EVERY == 0:
            picked.append(picked[0])
        for k, uid in enumerate(picked):
            mid += 1
            yield {"id": mid, "project_id": pid, "user_id": uid, "rating": "manager" if k == 0 else "normal"}


def _comments(count: int, projects: int, users: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for cid in range(1, count + 1):
        yield {
            "id": cid,
            "feedback_id": rng.randint(1, projects),
            "user_id": rng.randint(1, users + users // 100),  # about 1% whose author is gone
            "security": cid % 5 == 0,
            "title": "",
            "section": SECTIONS[cid % len(SECTIONS)],
            "text": f"피드백 {cid}: 컷 전환이 조금 빠릅니다.",
            **_stamp(cid),
        }


async def _fill(engine: AsyncEngine, meta: MetaData, table: str, rows: Iterator[dict[str, Any]], stamped: bool) -> int:
    written = 0
    batch: list[dict[str, Any]] = []
    async with engine.begin() as conn:
        for row in rows:
            if stamped and "created" not in row:
                row.update(_stamp(written))
            batch.append(row)
            if len(batch) == INSERT_BATCH:
                await conn.execute(insert(meta.tables[table]), batch)
                written, batch = written + len(batch), []
        if batch:
            await conn.execute(insert(meta.tables[table]), batch)
            written += len(batch)
    return written


async def build_old(engine: AsyncEngine, users: int, projects: int, comments: int) -> int:
    """Create and fill the old tables; answers the rows written."""
    meta = old_schema()
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    rng = random.Random(13)
    total = await _fill(engine, meta, "users_user", _users(users), False)
    total += await _fill(engine, meta, "projects_project", _projects(projects, users), False)
    for table in STAGE_TABLES:
        total += await _fill(engine, meta, table, _stages(projects), True)
    total += await _fill(engine, meta, "projects_members", _members(projects, users), True)
    memos = ({"id": i, "project_id": i, "date": date(2023, 7, i % 28 + 1), "memo": "회의"} for i in range(1, projects))
    total += await _fill(engine, meta, "projects_memo", memos, True)
    files = ({"id": i, "project_id": i, "files": f"project_file/{i}.pdf"} for i in range(1, projects + 1))
    total += await _fill(engine, meta, "projects_file", files, True)
    invites = ({"id": i, "project_id": i, "email": f"guest{i}@example.com"} for i in range(1, projects // 2))
    total += await _fill(engine, meta, "projects_projectinvite", invites, True)
    videos = ({"id": i, "files": f"feedback_file/{i}.mp4"} for i in range(1, projects + 1))
    total += await _fill(engine, meta, "feedbacks_feedback", videos, True)
    total += await _fill(engine, meta, "feedbacks_feedbackcomment", _comments(comments, projects, users, rng), False)
    return total


@asynccontextmanager
async def old_and_target(sqlite: bool, tmp: Path) -> AsyncIterator[tuple[str, AsyncEngine, Settings]]:
    """The old database (its `--from` value and an engine to fill it) and settings for a fresh roughcut one."""
    tag = uuid.uuid4().hex[:8]
    if sqlite:
        path = tmp / "old.sqlite3"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        try:
            yield str(path), engine, Settings(data_dir=tmp / "roughcut")
        finally:
            await engine.dispose()
        return
    old_name, new_name = f"bench_vridge_{tag}", f"bench_import_{tag}"
    old_url = await _empty_database(old_name)
    engine = create_async_engine(old_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        target = await fresh_database(new_name)
        yield old_url, engine, Settings(data_dir=tmp / "roughcut", database_url=target)
    finally:
        await engine.dispose()
        await drop_database(old_name)
        await drop_database(new_name)


async def _empty_database(name: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql://{PG_HOST}/{name}"


def _peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _timed_import(source: str, settings: Settings, batch_size: int) -> dict[str, Any]:
    started = time.perf_counter()
    report = await run_import(settings, source, dry=False, batch_size=batch_size)
    seconds = time.perf_counter() - started
    read = sum(t.read for t in report.tables)
    return {
        "seconds": round(seconds, 2),
        "rows_read": read,
        "imported": sum(t.imported for t in report.tables),
        "unchanged": sum(t.unchanged for t in report.tables),
        "skipped": sum(sum(t.skipped.values()) for t in report.tables),
        "rows_per_second": round(read / seconds) if seconds else None,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as folder:
        async with old_and_target(args.sqlite, Path(folder)) as (source, old, settings):
            built = time.perf_counter()
            rows = await build_old(old, args.users, args.projects, args.comments)
            build_seconds = time.perf_counter() - built
            rss_before = _peak_rss_mib()
            first = await _timed_import(source, settings, args.batch_size)
            second = await _timed_import(source, settings, args.batch_size)
    return {
        "database": "sqlite" if args.sqlite else "postgresql",
        "size": {"users": args.users, "projects": args.projects, "comments": args.comments, "old_rows": rows},
        "batch_size": args.batch_size,
        "build_seconds": round(build_seconds, 1),
        "peak_rss_mib_before_import": round(rss_before, 1),
        "first_import": first,
        "second_import_no_change": second,
        "python": platform.python_version(),
    }


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true", help="old and new databases on SQLite (default PostgreSQL)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(_parse(sys.argv[1:]))), ensure_ascii=False, indent=2))
