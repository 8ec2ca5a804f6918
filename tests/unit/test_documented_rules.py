"""The rules the server enforces are the rules the OpenAPI document states, field by field.

Each test checks one rule both ways: the server's field refuses what the document's schema refuses (with the
document's own `pattern` run as a search, the way JSON Schema applies it) and takes what it takes.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from marshmallow import Schema

from roughcut.domain import errors
from roughcut.http.api import openapi_document
from roughcut.wire.fields import Bool, RangeBound, Text, Timestamp, Url
from roughcut.wire.validation import load

DOC = openapi_document()
UNSAFE = {"post", "put", "patch", "delete"}


class _Fields(Schema):
    name = Text(nonblank=True)
    memo = Text(multiline=True, nonblank=True)
    at = Timestamp()
    start = RangeBound()
    end = RangeBound(end=True)
    url = Url()
    flag = Bool()


def _accepts(name: str, value: Any) -> bool:
    try:
        load(_Fields(), {name: value})
    except errors.ValidationFailed:
        return False
    return True


def _pattern(name: str) -> str:
    found: str = _Fields().fields[name].metadata["pattern"]
    return found


def _component(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = DOC["components"]["schemas"][name]
    return schema


SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.mark.parametrize("field", ["name", "memo"])
def test_nonblank_text_needs_a_character_that_is_not_white_space(field: str) -> None:
    pattern = _pattern(field)
    for text in ["x", " x ", "\u3000é\u3000", "a b"]:
        assert _accepts(field, text) and re.search(pattern, text), text
    # Every white space str.strip() removes, alone or repeated, is blank on both sides (controls are refused anyway).
    for space in SPACES:
        assert not _accepts(field, space * 2), f"U+{ord(space):04X}"
        assert not re.search(pattern, space * 2), f"U+{ord(space):04X}"


def test_booleans_are_json_booleans() -> None:
    assert load(_Fields(), {"flag": False}) == {"flag": False}
    for value in (1, 0, 1.0, "true", "yes", "on", None):
        assert not _accepts("flag", value), value


def test_text_is_a_string_never_bytes() -> None:
    assert not _accepts("name", b"bytes")  # a Socket.IO binary attachment where text is wanted


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-05-09T10:00:00Z", True),
        ("2026-05-09t10:00:00.123456789+09:00", True),
        ("2026-05-09T10:00:00", False),  # no offset: which day is it?
        ("2026-05-09", False),
        ("2026-05-09 10:00:00Z", False),
        ("2026-W19-6T10:00:00Z", False),
        ("2026-05-09T24:00:00Z", False),
        ("2026-05-09T10:00:00+24:00", False),
        ("0001-01-01T00:00:00+05:00", False),  # before year 1 in UTC: no database takes it
        ("9999-12-31T23:59:59-01:00", False),
        ("٢٠٢٦-05-09T10:00:00Z", False),
        (1_700_000_000, False),
    ],
)
def test_timestamps_are_rfc3339_with_an_offset_held_in_utc(value: Any, ok: bool) -> None:
    assert _accepts("at", value) is ok
    if ok:
        assert load(_Fields(), {"at": value})["at"].tzinfo is UTC


def test_a_range_bound_takes_a_day_or_a_time() -> None:
    loaded = load(_Fields(), {"start": "2026-05-09", "end": "2026-05-09"})
    assert loaded["start"] == datetime(2026, 5, 9, tzinfo=UTC)
    assert loaded["end"] == datetime(2026, 5, 9, 23, 59, 59, 999999, tzinfo=UTC)
    assert load(_Fields(), {"end": "2026-05-09T12:00:00+02:00"})["end"] == datetime(2026, 5, 9, 10, tzinfo=UTC)
    for bad in ("2026-02-30", "2026-05-09T12:00:00", "yesterday", "9999-12-31T23:59:59-01:00"):
        assert not _accepts("start", bad), bad
    listing = {p["name"]: p["schema"] for p in DOC["paths"]["/projects"]["get"]["parameters"]}
    assert listing["from"]["anyOf"] == [{"format": "date-time"}, {"format": "date"}]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://cdn.example/a.png", True),
        ("http://localhost:3000/callback?x=1#y", True),
        ("https://127.0.0.1", True),
        ("https://example.com/é", True),
        ("ftp://example.com/a", False),
        ("javascript:alert(1)", False),
        ("https://", False),
        ("https://exa mple.com", False),
        ("https://example.com/a b", False),
        ("//example.com", False),
    ],
)
def test_urls_are_what_the_pattern_says(url: str, ok: bool) -> None:
    assert _accepts("url", url) is ok
    documented = _component("MeUpdate")["properties"]["avatar_url"]["pattern"]
    assert bool(re.search(documented, url)) is ok


def test_the_document_states_the_cross_field_and_length_rules() -> None:
    signup = _component("SignupRequest")["properties"]
    assert (signup["password"]["minLength"], signup["password"]["maxLength"]) == (10, 1024)
    assert _component("PasswordResetRequest")["properties"]["new_password"]["minLength"] == 10
    me = _component("MeUpdate")
    assert me["properties"]["new_password"]["minLength"] == 10
    assert me["dependentRequired"] == {"new_password": ["current_password"]}
    assert _component("RoleUpdate")["properties"]["role"]["enum"] == ["manager", "member"]
    assert _component("VerifyCodeRequest")["properties"]["code"]["pattern"] == "^[0-9]{6}$"
    assert _component("SocialLoginRequest")["anyOf"] == [
        {"required": ["code", "redirect_uri"]},
        {"required": ["id_token"]},
    ]
    stages = _component("ProjectCreate")["properties"]["stages"]
    assert len(stages["allOf"]) == 8 and all(rule["maxContains"] == 1 for rule in stages["allOf"])
    kinds = _component("Shape")["allOf"]
    rect = next(rule for rule in kinds if "rect" in rule["if"]["properties"]["kind"].get("enum", []))
    assert rect["then"]["properties"]["points"] == {"minItems": 2, "maxItems": 2}
    comment = _component("CommentCreate")
    assert comment["then"]["required"] == ["at_ms"]
    assert "not before" in comment["properties"]["until_ms"]["description"]


def test_every_status_an_operation_can_answer_is_documented() -> None:
    for path, operations in DOC["paths"].items():
        for method, op in operations.items():
            statuses = set(op["responses"])
            where = (method, path)
            if op["security"]:
                assert "401" in statuses, where  # token missing, invalid, expired, session revoked
                if method in UNSAFE:
                    assert "403" in statuses, where  # csrf_failed in cookie mode
            if "requestBody" in op:
                assert {"413", "422"} <= statuses, where
            if method in UNSAFE:
                assert "503" in statuses, where  # transaction_conflict after @writes' retries
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path":
                    assert "404" in statuses, where
                    schema = parameter["schema"]
                    assert schema.get("type") == "integer" or "enum" in schema or parameter["name"] == "token", where
    auth = DOC["paths"]["/auth/login"]["post"]["responses"]
    assert {"401", "429"} <= set(auth)
    assert "401" in DOC["paths"]["/auth/refresh"]["post"]["responses"]
    for path in ("/me", "/projects/{project_id}", "/feedback/{feedback_id}", "/calendar"):
        assert "304" in DOC["paths"][path]["get"]["responses"], path  # If-None-Match on an ETag read
    stream = DOC["paths"]["/projects/{project_id}/events/stream"]["get"]["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"]
