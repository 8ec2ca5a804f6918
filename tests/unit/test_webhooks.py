"""Revalidation webhooks: the tags of each event, the signature (checked by the standardwebhooks package), and
WEBHOOK_URLS parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from roughcut.config import ConfigError, Settings
from roughcut.domain.events import Audience, Committed, StoredEvent
from roughcut.domain.webhooks import new_secret, revalidation, signature, tags_of

AT = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def _change(event_id: int, kind: str, project_id: int | None, users: tuple[int, ...] = (), **data: Any) -> Committed:
    return Committed(StoredEvent(event_id, kind, data, project_id, 1, AT), Audience(users=users))


@pytest.mark.parametrize(
    ("kind", "data", "tags"),
    [
        ("stage.changed", {}, ["project:7", "user:1:projects", "user:2:projects"]),
        ("member.left", {"user_id": 2}, ["project:7", "user:1:projects", "user:2:projects"]),
        ("feedback.created", {"feedback_id": 9}, ["project:7", "feedback:9", "user:1:projects", "user:2:projects"]),
        ("comment.created", {"feedback_id": 9, "comment_id": 3}, ["project:7", "feedback:9"]),
        ("memo.changed", {"memo_id": 4}, ["project:7"]),
        ("upload.completed", {"upload_id": 5}, []),
    ],
)
def test_tags_follow_the_event_type_and_audience(kind: str, data: dict[str, Any], tags: list[str]) -> None:
    assert tags_of(_change(1, kind, 7, (1, 2), **data)) == tags


def test_a_batch_is_one_body_and_events_without_pages_make_none() -> None:
    assert revalidation([_change(5, "session.revoked", None)]) is None
    body = revalidation(
        [
            _change(11, "upload.completed", 7, (1,)),
            _change(12, "comment.created", 7, (1,), feedback_id=9),
            _change(13, "comment.resolved", 7, (1,), feedback_id=9),
        ]
    )
    assert body == {
        "id": "msg_12",
        "event": "comment.created",
        "events": ["comment.created", "comment.resolved"],
        "tags": ["project:7", "feedback:9"],
        "at": "2026-12-02T16:00:00Z",
    }


def test_the_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret, body = new_secret(), b'{"tags":["project:7"]}'
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, "msg_1", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"tags": ["project:7"]}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_webhook_urls_are_url_and_secret_pairs_with_the_secret_hidden() -> None:
    one, two = new_secret(), new_secret()
    env = {"WEBHOOK_URLS": f"https://app.example/api/revalidate {one},\nhttp://localhost:3000/r?x=1 {two}"}
    settings = Settings.from_env(env)
    assert [(t.url, t.secret.value) for t in settings.webhook_urls] == [
        ("https://app.example/api/revalidate", one),
        ("http://localhost:3000/r?x=1", two),
    ]
    assert one not in repr(settings) and two not in repr(settings)
    assert len({t.ref for t in settings.webhook_urls}) == 2
    assert Settings.from_env({}).webhook_urls == ()
    assert Settings.from_env({}).webhook_retry_for == 24 * 3600


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://app.example/r", "expected 'URL whsec_SECRET'"),
        ("ftp://app.example/r whsec_" + "A" * 32, "http\\(s\\) URL"),
        ("https://app.example/r secret", "whsec_<base64>"),
        ("https://app.example/r whsec_***", "not base64"),
        ("https://app.example/r whsec_QUJD", "24 to 64 bytes"),
    ],
)
def test_bad_webhook_urls_name_the_variable_and_entry(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^WEBHOOK_URLS: entry 1: .*{message}"):
        Settings.from_env({"WEBHOOK_URLS": value})


def test_a_url_listed_twice_is_refused() -> None:
    entry = f"https://app.example/r {new_secret()}"
    with pytest.raises(ConfigError, match=r"^WEBHOOK_URLS: entry 2: its URL is listed twice"):
        Settings.from_env({"WEBHOOK_URLS": f"{entry}, {entry}"})
