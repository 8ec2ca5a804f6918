"""Flows the e2e tests share: sign up through the mailed code, log in, authorised headers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"


@dataclass
class Mailbox:
    """Mail received by the real aiosmtpd server."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        """Every mail delivered to `address`, oldest first."""
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def last_code(self, address: str) -> str:
        """The 6-digit code of the newest mail to `address`."""
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        body = mails[-1].get_payload(decode=True)
        assert isinstance(body, bytes)
        digits = [w.strip(".,") for w in body.decode().split() if w.strip(".,").isdigit()]
        return next(d for d in digits if len(d) == 6)


def unique_email(tag: str = "user") -> str:
    """A fresh address so tests sharing the database never collide."""
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


async def verified_token(client: TestClient[Any, Any], mailbox: Mailbox, email: str, purpose: str = "signup") -> str:
    """Ask for a code, read it from the mail, trade it for a verification token."""
    resp = await client.post("/api/v1/auth/email-codes", json={"email": email, "purpose": purpose})
    assert resp.status == 202, await resp.text()
    code = mailbox.last_code(email)
    resp = await client.post("/api/v1/auth/email-codes/verify", json={"email": email, "purpose": purpose, "code": code})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["verification_token"]
    return token


async def signup(
    client: TestClient[Any, Any], mailbox: Mailbox, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """A new account through the real code flow; returns the token pair body."""
    email = email or unique_email()
    token = await verified_token(client, mailbox, email)
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "nickname": "Tester", "verification_token": token},
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def auth(pair: dict[str, Any]) -> dict[str, str]:
    """Bearer header for a token pair."""
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def create_project(client: TestClient[Any, Any], pair: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """POST /projects as the owner of `pair`; returns the project detail."""
    resp = await client.post("/api/v1/projects", json={"name": "Spring campaign", **fields}, headers=auth(pair))
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def join(client: TestClient[Any, Any], project_id: int, user_id: int, role: str = "member") -> None:
    """Put a user in a project directly (the invitation flow is tested on its own)."""
    from datetime import UTC, datetime

    from roughcut import keys
    from roughcut.domain.project_model import Role

    async with client.app[keys.UOW]() as uow:
        await uow.projects.add_member(project_id, user_id, Role(role), datetime.now(UTC))
        await uow.commit()


@contextmanager
def count_statements(client: TestClient[Any, Any]) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs inside the block."""
    from sqlalchemy import event

    from roughcut import keys

    seen: list[str] = []
    engine = client.app[keys.ENGINE].sync_engine

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
