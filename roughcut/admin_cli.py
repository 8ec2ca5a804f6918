"""`roughcut admin grant|revoke EMAIL`: the admin flag that lets an account manage e-learning links."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from roughcut.config import Settings
from roughcut.domain import errors
from roughcut.domain.clock import SystemClock
from roughcut.domain.events import Committed
from roughcut.domain.learning import Directory, set_admin
from roughcut.storage.db import make_engine
from roughcut.storage.uow import SqlUnitOfWork

NOT_FOUND_EXIT = 1


class _NothingToPublish:
    """The EventPublisher of a command whose use case records no events."""

    async def publish(self, batch: Sequence[Committed]) -> None:
        raise RuntimeError(f"the admin command publishes nothing, got {len(batch)} changes")


async def _run(settings: Settings, email: str, admin: bool) -> str:
    engine = make_engine(settings.db_url)
    publisher = _NothingToPublish()
    try:
        user = await set_admin(Directory(lambda: SqlUnitOfWork(engine, publisher), SystemClock()), email, admin)
    finally:
        await engine.dispose()
    return f"{user.email} is {'now' if user.is_admin else 'no longer'} an administrator"


def admin_command(settings: Settings, action: str, email: str) -> None:
    """Grant or revoke the admin flag; exit 1 when no account has the address."""
    try:
        print(asyncio.run(_run(settings, email, action == "grant")))
    except (errors.NotFound, errors.ValidationFailed) as exc:
        print(f"roughcut: {exc}")
        raise SystemExit(NOT_FOUND_EXIT) from None
