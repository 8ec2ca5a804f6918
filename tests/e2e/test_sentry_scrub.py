"""What would reach Sentry from an error inside a login: the error, without secrets or personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from roughcut import keys, sentry
from roughcut.security.access import ACCESS_COOKIE
from tests.conftest import AppFactory

EMAIL = "victim@example.com"
PASSWORD = "hunter2-correct-horse"
COOKIE = "cookie-secret-value-123"
CSRF = "csrf-secret-value-456"


class RecordingTransport(Transport):
    """Keeps every event Sentry would send."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.events.extend(item.payload.json for item in envelope.items if item.type == "event" and item.payload.json)


@pytest.fixture
def recorded() -> Iterator[RecordingTransport]:
    transport = RecordingTransport()
    sentry.init("https://public@sentry.invalid/1", transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off again for the rest of the run


async def test_an_error_inside_login_reaches_sentry_scrubbed(
    make_client: AppFactory, recorded: RecordingTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client()

    def failing_verify(password_hash: str, password: str) -> bool:
        raise RuntimeError(f"password check failed for {EMAIL}")

    monkeypatch.setattr(client.app[keys.ACCOUNTS].hasher, "verify", failing_verify)
    resp = await client.post(
        "/api/v1/auth/login?cookie=1",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"Cookie": f"{ACCESS_COOKIE}={COOKIE}; csrf_token={CSRF}", "X-CSRF-Token": CSRF},
    )
    assert resp.status == 500
    assert (await resp.json())["code"] == "internal_error"

    assert recorded.events, "the error was not reported"
    event = recorded.events[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"  # what went wrong is still there
    assert "[email]" in event["exception"]["values"][-1]["value"]
    sent = json.dumps(recorded.events)
    for secret in (EMAIL, PASSWORD, COOKIE, CSRF):
        assert secret not in sent, (secret, sent[max(0, sent.find(secret) - 300) : sent.find(secret) + 50])
    request = event["request"]
    assert "cookies" not in request
    assert not {h.lower() for h in request.get("headers", {})} & {"cookie", "authorization", "x-csrf-token"}
    assert request.get("data", sentry.FILTERED) == sentry.FILTERED


def test_the_scrubber_masks_secret_keys_and_addresses_anywhere() -> None:
    event = {
        "request": {"url": "http://x/api/v1/projects/1/events/stream", "query_string": "ticket=abc"},
        "extra": {"refresh_token": "r", "nested": [{"new_password": "p", "note": "mail bob@example.org now"}]},
        "user": {"email": "bob@example.org", "ip_address": "203.0.113.9"},
        "level": "error",
    }
    cleaned = sentry.scrub(event, {})
    assert cleaned["request"]["query_string"] == sentry.FILTERED
    assert cleaned["extra"] == {
        "refresh_token": sentry.FILTERED,
        "nested": [{"new_password": sentry.FILTERED, "note": "mail [email] now"}],
    }
    assert "user" not in cleaned
    assert cleaned["level"] == "error"
