"""Demo data for the embedded default, so a newcomer can log in at once and find something on the first screen."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from roughcut.domain import chat, feedback, projects
from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.domain.accounts import Accounts
from roughcut.domain.chat import Chat
from roughcut.domain.chat_model import PostMessage
from roughcut.domain.feedback_model import NewComment
from roughcut.domain.project_model import NewProject, Stage, StageName, StageStatus
from roughcut.domain.projects import Projects
from roughcut.domain.transactions import writes

log = logging.getLogger("roughcut")

DEMO_EMAIL = "demo@roughcut.local"
DEMO_PASSWORD = "roughcut-demo"
DEMO_PROJECT = "Welcome to roughcut"
_COMMENTS = (
    (4_000, 7_500, "The opening shot holds a beat too long; trim it to the music."),
    (42_000, None, "Logo colour: match the brand guide here."),
)
_CHAT = (
    "Welcome! This project shows what a production looks like in roughcut.",
    "Comments sit at a time in the cut; this chat is for everything else.",
    "Delete the project whenever you like.",
)


async def seed_demo(acc: Accounts, deps: Projects, room: Chat) -> None:
    """Create the demo account and, with it, its demo project; later starts leave both as they are."""
    user_id = await seed_demo_user(acc)
    if user_id is not None:
        await seed_demo_project(deps, room, user_id)


@writes
async def seed_demo_user(acc: Accounts) -> int | None:
    """Create the demo account once: its id, or None when it exists already."""
    async with acc.uow() as uow:
        if await uow.users.by_email(DEMO_EMAIL) is not None:
            return None
        user = await uow.users.add(
            NewUser(DEMO_EMAIL, "Demo", acc.hasher.hash(DEMO_PASSWORD), LoginMethod.EMAIL, None, acc.clock.now())
        )
        await uow.commit()
    log.info("demo account created", extra={"demo_email": DEMO_EMAIL})
    return user.id


def _day(now: datetime, days: int) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)


async def seed_demo_project(deps: Projects, room: Chat, user_id: int) -> int:
    """A project with its schedule under way, time-coded comments and a few chat messages, made through the
    same use cases as the API (so the same rules and events apply); its id."""
    now = deps.clock.now()
    stages = (
        Stage(StageName.BASIC_PLAN, _day(now, -14), _day(now, -8), StageStatus.DONE),
        Stage(StageName.STORYBOARD, _day(now, -7), _day(now, 3), StageStatus.IN_PROGRESS),
        Stage(StageName.FILMING, _day(now, 4), _day(now, 10), StageStatus.TODO),
    )
    new = NewProject(
        DEMO_PROJECT, "Demo", "Roughcut Studio", "A sample production to look around in.", "#4f46e5", stages
    )
    project_id = (await projects.create_project(deps, user_id, new)).project.id
    (thread,) = await feedback.list_threads(deps, user_id, project_id, None, 1)
    for at_ms, until_ms, text in _COMMENTS:
        await feedback.add_comment(deps, user_id, NewComment(thread.id, text, at_ms=at_ms, until_ms=until_ms))
    for text in _CHAT:
        await chat.send(room, PostMessage(user_id, thread.id, str(uuid.uuid4()), text))
    log.info("demo project created", extra={"project_id": project_id})
    return project_id
