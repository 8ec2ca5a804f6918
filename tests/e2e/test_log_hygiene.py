"""What the auth flow writes to the logs: request ids, and none of the secrets it handled."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.logging import JsonFormatter
from tests.helpers import PASSWORD, Mailbox, auth, unique_email, verified_token


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != "mail.log":  # the test's own SMTP server logs what it receives: not ours
            self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Any:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_no_secret_reaches_the_logs(client: TestClient[Any, Any], mailbox: Mailbox, captured: Capture) -> None:
    email = unique_email("logs")
    verification = await verified_token(client, mailbox, email)
    code = mailbox.last_code(email)
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "nickname": "L", "verification_token": verification},
    )
    pair = await resp.json()
    refreshed = await (await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    await client.post("/api/v1/auth/login", json={"email": email, "password": "a wrong password"})
    await client.get("/api/v1/me", headers=auth(refreshed))
    await client.post("/api/v1/auth/logout", headers=auth(refreshed))

    text = "\n".join(captured.lines)
    assert "POST /api/v1/auth/signup 201" in text  # the access log is there...
    assert '"request_id":"-"' not in "\n".join(line for line in captured.lines if "roughcut.access" in line)
    secrets = [
        PASSWORD,
        "a wrong password",
        code,
        verification,
        pair["access_token"],
        pair["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
    ]
    for secret in secrets:  # ...but none of what the client sent or got
        assert secret not in text
