"""The hand-built project body equals what the documented ProjectSchema dumps."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from roughcut.domain.project_model import (
    STAGE_ORDER,
    Project,
    ProjectStatus,
    Role,
    Stage,
    StageName,
    StageStatus,
    UserRef,
)
from roughcut.http.project_routes import project_body
from roughcut.http.project_schemas import ProjectSchema
from roughcut.wire.json import dumps


def test_fast_body_matches_the_schema() -> None:
    t = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    stages = tuple(
        Stage(name, t if i % 2 else None, t if i % 3 else None, StageStatus.DONE if i < 2 else StageStatus.TODO)
        for i, name in enumerate(STAGE_ORDER)
    )
    project = Project(
        7,
        "Ad",
        "Kim",
        "ACME",
        "desc",
        "#ff0000",
        ProjectStatus.REVIEW,
        StageName.FILMING,
        stages,
        t,
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    owner = UserRef(3, "Owner")
    fast = orjson.loads(dumps(project_body(project, owner, Role.MANAGER, 4)))
    documented = ProjectSchema().dump(
        {
            **{f: getattr(project, f) for f in Project.__dataclass_fields__},
            "owner": owner,
            "my_role": Role.MANAGER,
            "member_count": 4,
        }
    )
    assert fast == orjson.loads(dumps(documented))
    assert fast["stages"][1]["start_at"] == "2026-03-01T09:30:15.123456Z"
