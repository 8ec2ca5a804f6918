"""`roughcut loadtest-seed` on a database of its own: rooms of members, tokens that verify, the --force guard."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select

from roughcut.__main__ import main
from roughcut.config import Settings
from roughcut.loadtest import SeedRefused, seed
from roughcut.security.tokens import JwtTokens, load_keyring
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from tests.conftest import PG_ADMIN, PG_HOST

ROOMS, MEMBERS = 3, 4


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database made for one test (not the shared pg_url one: the seed needs no users in it)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'seed.db'}"
        return
    name = f"roughcut_seed_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_HOST}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _counts(url: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                counts = {
                    table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                    for table in (t.users, t.projects, t.project_members, t.feedback_threads)
                }
                owners = select(func.count()).where(t.project_members.c.role == "owner")
                counts["owners"] = int((await conn.execute(owners)).scalar_one())
                return counts
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path, out: Path, *extra: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    main(["loadtest-seed", "--rooms", str(ROOMS), "--members", str(MEMBERS), "--out", str(out), *extra])


def test_the_command_seeds_rooms_and_mints_tokens_that_verify(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "seed.json"
    _cli(monkeypatch, db_url, tmp_path / "data", out)

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rooms = json.loads(out.read_text())["rooms"]
    assert len(rooms) == ROOMS
    assert all(len(room["members"]) == MEMBERS for room in rooms)
    assert len({m["user_id"] for room in rooms for m in room["members"]}) == ROOMS * MEMBERS
    assert _counts(db_url) == {
        "users": ROOMS * MEMBERS,
        "projects": ROOMS,
        "project_members": ROOMS * MEMBERS,
        "feedback_threads": ROOMS,
        "owners": ROOMS,
    }
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    verifier = JwtTokens(load_keyring(settings), settings.jwt_issuer, settings.jwt_audience, 3600)
    for room in rooms:
        for member in room["members"]:
            assert verifier.verify_access(member["token"]).user_id == member["user_id"]


def test_the_command_refuses_a_database_with_users_unless_forced(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli(monkeypatch, db_url, tmp_path / "data", tmp_path / "first.json")

    with pytest.raises(SystemExit) as refused:
        _cli(monkeypatch, db_url, tmp_path / "data", tmp_path / "second.json")
    assert refused.value.code == 1
    assert "--force" in capsys.readouterr().err
    assert not (tmp_path / "second.json").exists()
    assert _counts(db_url)["users"] == ROOMS * MEMBERS

    _cli(monkeypatch, db_url, tmp_path / "data", tmp_path / "second.json", "--force")
    assert _counts(db_url)["feedback_threads"] == 2 * ROOMS
    second = json.loads((tmp_path / "second.json").read_text())["rooms"]
    first = json.loads((tmp_path / "first.json").read_text())["rooms"]
    assert {r["feedback_id"] for r in first}.isdisjoint(r["feedback_id"] for r in second)


def test_the_function_refuses_too(db_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    rooms = asyncio.run(seed(settings, 1, 2))
    assert len(rooms) == 1
    assert len(rooms[0].user_ids) == 2
    with pytest.raises(SeedRefused):
        asyncio.run(seed(settings, 1, 2))
