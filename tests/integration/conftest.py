"""Fixtures shared by the integration tier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.storage import migrate
from roughcut.storage.db import make_engine


@pytest.fixture(params=["postgres", "sqlite"])
async def engine(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on this run's PostgreSQL database, then on a fresh SQLite file."""
    if request.param == "postgres":
        eng = make_engine(pg_url)
    else:
        eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        await migrate.upgrade(eng)
    yield eng
    await eng.dispose()
