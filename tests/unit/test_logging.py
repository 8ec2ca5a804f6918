"""JSON log lines: request id, and no passwords, codes or tokens."""

from __future__ import annotations

import json
import logging

from roughcut.logging import JsonFormatter, request_id

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIiwiZXhwIjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl"


def _line(msg: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(record, k, v)
    out: dict[str, object] = json.loads(JsonFormatter().format(record))
    return out


def test_request_id_and_fields() -> None:
    token = request_id.set("rid-1234")
    try:
        line = _line("hello %s", "world", user_id=5)
    finally:
        request_id.reset(token)
    assert line["message"] == "hello world"
    assert line["request_id"] == "rid-1234"
    assert line["user_id"] == 5
    assert str(line["time"]).endswith("Z")


def test_secrets_are_scrubbed() -> None:
    line = _line(
        "auth header Bearer %s and url %s",
        JWT,
        "redis://user:s3cretpw@host:6379/0",
        password="hunter2hunter2",
        refresh_token="abc",
        code="123456",
        verification_token="vt",
        session_id=9,
    )
    text = json.dumps(line)
    for secret in (JWT, "s3cretpw", "hunter2hunter2", '"abc"', "123456", '"vt"'):
        assert secret not in text
    assert line["session_id"] == 9
    assert "[redacted]" in str(line["message"])
