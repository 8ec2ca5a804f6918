"""Demo data for the embedded default, so a newcomer can log in at once."""

from __future__ import annotations

import logging

from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.domain.accounts import Accounts
from roughcut.domain.transactions import writes

log = logging.getLogger("roughcut")

DEMO_EMAIL = "demo@roughcut.local"
DEMO_PASSWORD = "roughcut-demo"


@writes
async def seed_demo_user(acc: Accounts) -> None:
    """Create the demo account once; later starts leave it as it is."""
    async with acc.uow() as uow:
        if await uow.users.by_email(DEMO_EMAIL) is not None:
            return
        await uow.users.add(
            NewUser(DEMO_EMAIL, "Demo", acc.hasher.hash(DEMO_PASSWORD), LoginMethod.EMAIL, None, acc.clock.now())
        )
        await uow.commit()
    log.info("demo account created", extra={"demo_email": DEMO_EMAIL})
