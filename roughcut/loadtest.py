"""`roughcut loadtest-seed`: chat rooms full of members and their access tokens, for the load tester."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.config import Settings
from roughcut.security.tokens import JwtTokens, load_keyring
from roughcut.storage import migrate
from roughcut.storage import tables as t
from roughcut.storage.db import begin_write, make_engine

EMAIL_DOMAIN = "loadtest.invalid"  # reserved TLD: no mail can ever reach a seeded user
TTL_MIN, TTL_MAX = 60, 3600  # the bounds ACCESS_TOKEN_TTL allows
OUT_MODE = 0o600  # the file holds live access tokens
REFUSED_EXIT = 1


class SeedRefused(Exception):
    """The database already has users and `--force` was not given."""


@dataclass(frozen=True, slots=True)
class Room:
    """One seeded project's first feedback thread and its members (the first one owns the project)."""

    project_id: int
    feedback_id: int
    user_ids: tuple[int, ...]


async def _ids(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert, returning the new ids in the order of `rows`."""
    result = await conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars()]


async def seed(settings: Settings, rooms: int, members: int, *, force: bool = False) -> list[Room]:
    """Migrate if needed, then create `rooms` projects with `members` users each and one feedback thread."""
    if rooms < 1 or members < 1:
        raise ValueError("rooms and members must be at least 1")
    if settings.sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        await migrate.upgrade(engine)
        now = datetime.now(UTC)
        tag = secrets.token_hex(4)  # keeps emails unique when seeding again with --force
        async with begin_write(engine) as conn:  # reads, then writes: IMMEDIATE on SQLite
            existing = int((await conn.execute(select(func.count()).select_from(t.users))).scalar_one())
            if existing and not force:
                raise SeedRefused(f"the database already has {existing} users; pass --force to seed anyway")
            user_ids = await _ids(
                conn,
                t.users,
                [
                    {
                        "email": f"lt-{tag}-{r}-{m}@{EMAIL_DOMAIN}",
                        "nickname": f"Load {r}.{m}",
                        "login_method": "email",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for r in range(rooms)
                    for m in range(members)
                ],
            )
            project_ids = await _ids(
                conn,
                t.projects,
                [{"name": f"Load test {tag} room {r}", "created_at": now, "updated_at": now} for r in range(rooms)],
            )
            people = [tuple(user_ids[r * members : (r + 1) * members]) for r in range(rooms)]
            await conn.execute(
                insert(t.project_members),
                [
                    {"project_id": pid, "user_id": uid, "role": "owner" if n == 0 else "member", "joined_at": now}
                    for pid, room in zip(project_ids, people, strict=True)
                    for n, uid in enumerate(room)
                ],
            )
            feedback_ids = await _ids(
                conn,
                t.feedback_threads,
                [
                    {
                        "project_id": pid,
                        "title": "Load test chat",
                        "created_by": room[0],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pid, room in zip(project_ids, people, strict=True)
                ],
            )
    finally:
        await engine.dispose()
    return [Room(p, f, u) for p, f, u in zip(project_ids, feedback_ids, people, strict=True)]


def tokens_for(settings: Settings, rooms: list[Room], ttl: int) -> dict[str, Any]:
    """The load tester's file: each room's feedback id and an access token per member (one session each)."""
    issuer = JwtTokens(load_keyring(settings), settings.jwt_issuer, settings.jwt_audience, ttl)
    now = int(time.time())
    return {
        "rooms": [
            {
                "project_id": room.project_id,
                "feedback_id": room.feedback_id,
                "members": [{"user_id": uid, "token": issuer.issue_access(uid, uid, now)[0]} for uid in room.user_ids],
            }
            for room in rooms
        ]
    }


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only (it holds tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OUT_MODE)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)


def seed_command(settings: Settings, rooms: int, members: int, out: Path, ttl: int, force: bool) -> None:
    """The CLI: seed, mint, write; exit 1 when the database has users and `force` is off."""
    if not TTL_MIN <= ttl <= TTL_MAX:
        print(f"roughcut: --ttl must be between {TTL_MIN} and {TTL_MAX} seconds", file=sys.stderr)
        raise SystemExit(REFUSED_EXIT)
    try:
        seeded = asyncio.run(seed(settings, rooms, members, force=force))
    except (SeedRefused, ValueError) as exc:
        print(f"roughcut: {exc}", file=sys.stderr)
        raise SystemExit(REFUSED_EXIT) from None
    write_private(out, tokens_for(settings, seeded, ttl))
    print(f"seeded {rooms} rooms x {members} members; tokens in {out}")
