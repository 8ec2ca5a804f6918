"""A project read in one statement (PostgreSQL's row arrays, storage/repos/projects.py) must read exactly what the
separate reads do, on both backends: stages in order with their timestamps, members in join order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain.project_model import NewProject, Role, Stage, StageName, StageStatus
from roughcut.storage import tables as t
from roughcut.storage.repos.projects import SqlProjects

T0 = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)


async def _user(conn: AsyncConnection, name: str, avatar: str | None) -> int:
    q = insert(t.users).values(
        email=f"{name}-{uuid.uuid4().hex}@example.com",
        nickname=name,
        avatar_url=avatar,
        login_method="email",
        created_at=T0,
        updated_at=T0,
    )
    return int((await conn.execute(q.returning(t.users.c.id))).scalar_one())


async def test_view_reads_what_the_separate_reads_read(engine: AsyncEngine) -> None:
    stages = (
        Stage(StageName.STORYBOARD, T0, T0 + timedelta(days=3), StageStatus.DONE),
        Stage(StageName.BASIC_PLAN, None, None, StageStatus.TODO),  # given out of order, read in stage order
        Stage(StageName.FILMING, T0 + timedelta(days=4), None, StageStatus.TODO),
    )
    async with engine.begin() as conn:
        repo = SqlProjects(conn)
        owner = await _user(conn, "Ann", None)
        later = [await _user(conn, name, f"https://cdn.example/{name}.png") for name in ("Bob", "Cy")]
        outsider = await _user(conn, "Eve", None)
        project = await repo.create(NewProject("Cut", "M", "C", "d", "#123456", stages), owner, T0)
        for n, uid in enumerate(later):
            await repo.add_member(project.id, uid, Role.MEMBER if n else Role.MANAGER, T0 + timedelta(minutes=n + 1))
        # Same joined_at: ordered by user id as `members` orders them.
        tie = await _user(conn, "Dee", None)
        await repo.add_member(project.id, tie, Role.MEMBER, T0 + timedelta(minutes=2))

    async with engine.connect() as conn:
        repo = SqlProjects(conn)
        expected = (await repo.get(project.id), Role.MANAGER, await repo.members(project.id))
        assert await repo.view_as(project.id, later[0]) == expected
        assert await repo.get_as(project.id, later[0]) == expected[:2]
        assert [s.stage for s in expected[0].stages if s is not None] == [  # type: ignore[union-attr]
            StageName.BASIC_PLAN,
            StageName.STORYBOARD,
            StageName.FILMING,
        ]
        assert [m.user_id for m in expected[2]] == [owner, later[0], *sorted([later[1], tie])]
        assert expected[0] is not None and expected[0].stages[1].start_at == T0  # microseconds and UTC kept
        for missing in ((project.id, outsider), (project.id + 1000, owner)):
            assert await repo.view_as(*missing) is None
            assert await repo.get_as(*missing) is None

    async with engine.begin() as conn:  # a writer's locking read returns the same
        repo = SqlProjects(conn)
        assert await repo.view_as(project.id, later[0], lock=True) == expected
        assert await repo.get_as(project.id, later[0], lock=True) == expected[:2]
