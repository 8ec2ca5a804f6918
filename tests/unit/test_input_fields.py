"""The one text field and the one id field: their rules, their documentation, and that every input uses them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from marshmallow import Schema, fields

from roughcut.domain import errors
from roughcut.http.api import ROUTE_MODULES, openapi_document
from roughcut.realtime.asyncapi import asyncapi_document
from roughcut.realtime.base import handles
from roughcut.realtime.server import NAMESPACES
from roughcut.wire.fields import CONTROL_MESSAGE, ID_MAX, Email, Id, Text, Url
from roughcut.wire.validation import load

# Control characters (Cc) other than the three a multi-line text may hold.
CONTROLS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"]
LINE_BREAKS = ["\t", "\n", "\r", "a\r\nb"]

# String inputs that are secrets or opaque tokens: hashed, compared or handed on, never stored as text.
NOT_TEXT = {"password", "new_password", "current_password", "verification_token", "refresh_token", "token"}
NOT_TEXT |= {"code", "state", "code_verifier", "id_token", "redirect_uri"}  # social login, sent to the provider
NOT_IDS = {"limit", "at_ms", "until_ms"}  # integers that are not ids (each has its own range)
NOT_IDS |= {"size", "part_number", "part_numbers", "bytes"}  # uploads: byte counts and S3 part numbers


class _Body(Schema):
    name = Text()
    memo = Text(multiline=True)
    avatar = Url()
    id = Id()
    after = Id(cursor=True)


class _Query(Schema):
    id = Id(query=True)
    after = Id(cursor=True, query=True)


def _refused(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(errors.ValidationFailed) as info:
        load(schema, data)
    return info.value.fields


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_text_refuses_control_characters(char: str) -> None:
    for field in ("name", "memo"):
        assert _refused(_Body(), {field: f"a{char}b"}) == {field: [CONTROL_MESSAGE]}
    assert _refused(_Body(), {"avatar": f"https://example.com/a{char}b"})["avatar"]


def test_only_multi_line_text_holds_line_breaks_and_tabs() -> None:
    for text in LINE_BREAKS:
        assert load(_Body(), {"memo": text}) == {"memo": text}
        assert _refused(_Body(), {"name": text}) == {"name": [CONTROL_MESSAGE]}
    # Python's `$` matches before a final newline: the check must not rely on it.
    assert _refused(_Body(), {"name": "trailing\n"}) == {"name": [CONTROL_MESSAGE]}


def test_text_keeps_everything_else() -> None:
    text = "Café ☕ 한국어 \u200b\u00a0 «»"
    assert load(_Body(), {"name": text, "memo": text}) == {"name": text, "memo": text}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        *[(1, True), (ID_MAX, True), (0, False), (-1, False), (ID_MAX + 1, False), (2**64, False)],
        *[(True, False), (1.5, False), ("1", False), (None, False), ([1], False), (float(ID_MAX), False)],
    ],
)
def test_ids_are_integers_in_the_databases_range(value: Any, ok: bool) -> None:
    if ok:
        assert load(_Body(), {"id": value}) == {"id": value}
    else:
        assert set(_refused(_Body(), {"id": value})) == {"id"}


def test_an_integral_number_is_that_integer() -> None:
    """JSON has one number type and JSON Schema's `integer` takes 1.0: so does the server, as the int 1."""
    loaded = load(_Body(), {"id": 1.0, "after": 0.0})
    assert loaded == {"id": 1, "after": 0} and type(loaded["id"]) is int and type(loaded["after"]) is int
    assert set(_refused(_Body(), {"id": 1e308})) == {"id"}


def test_cursors_start_at_zero() -> None:
    assert load(_Body(), {"after": 0}) == {"after": 0}
    assert set(_refused(_Body(), {"after": -1})) == {"after"}
    assert set(_refused(_Body(), {"after": ID_MAX + 1})) == {"after"}


@pytest.mark.parametrize("raw", [" 1", "+1", "1_0", "\u0661", "", "1.0", "0x1", str(ID_MAX + 1), "9" * 30])
def test_query_ids_are_ascii_digits_in_range(raw: str) -> None:
    assert load(_Query(), {"id": "12", "after": "0"}) == {"id": 12, "after": 0}
    assert set(_refused(_Query(), {"id": raw})) == {"id"}


def _load_fields(schema: Schema, path: str) -> Iterator[tuple[str, fields.Field[Any]]]:
    """Every field a client sends, nested ones included, with a dotted name."""
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        yield from _inner(field, f"{path}.{name}")


def _inner(field: fields.Field[Any], path: str) -> Iterator[tuple[str, fields.Field[Any]]]:
    if isinstance(field, fields.Nested):
        yield from _load_fields(field.schema, path)
    elif isinstance(field, fields.List):
        yield from _inner(field.inner, path)
    elif isinstance(field, fields.Tuple):
        for i, part in enumerate(field.tuple_fields):
            yield from _inner(part, f"{path}[{i}]")
    else:
        yield path, field


def _inputs() -> Iterator[tuple[str, fields.Field[Any]]]:
    for routes in ROUTE_MODULES:
        for op in routes.operations:
            for schema in (op.body, op.query):
                if schema is not None:
                    yield from _load_fields(schema(), op.operation_id)
    for ns in NAMESPACES:
        for attr in dir(ns):
            if attr.startswith("on_") and handles(ns, attr.removeprefix("on_")):
                schema = getattr(ns, attr).event_schema
                if schema is not None:
                    yield from _load_fields(schema(), f"{ns.path}:{attr.removeprefix('on_')}")


def test_every_text_and_id_input_uses_the_shared_field_types() -> None:
    """A new text or id field that forgets the rules fails here, on REST and on sockets alike."""
    checked = 0
    for path, field in _inputs():
        name = path.rsplit(".", 1)[-1]
        if isinstance(field, fields.String) and not isinstance(field, fields.UUID) and name not in NOT_TEXT:
            assert isinstance(field, Text | Email), f"{path} is a {type(field).__name__}, not Text"
            checked += 1
        if isinstance(field, fields.Integer) and name not in NOT_IDS:
            assert isinstance(field, Id), f"{path} is a {type(field).__name__}, not Id"
            checked += 1
    assert checked > 40  # the sweep really walked the schemas


def _properties(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    props: dict[str, Any] = schema["properties"]
    return props


def test_the_documents_state_the_rules() -> None:
    doc = openapi_document()
    create = doc["paths"]["/projects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    project = _properties(doc, create)
    assert re.search(project["name"]["pattern"], "Spring") and not re.search(project["name"]["pattern"], "a\x00")
    assert re.search(project["description"]["pattern"], "two\nlines")
    assert project["color"]["pattern"].startswith("^(#")  # the field's own, stricter pattern stays
    transfer = doc["paths"]["/projects/{project_id}/transfer"]["post"]["requestBody"]["content"]["application/json"]
    user_id = _properties(doc, transfer["schema"])["user_id"]
    assert (user_id["type"], user_id["minimum"], user_id["maximum"]) == ("integer", 1, ID_MAX)
    events = doc["paths"]["/projects/{project_id}/events"]["get"]["parameters"]
    after = next(p for p in events if p["in"] == "query" and p["name"] == "after")["schema"]
    assert (after["type"], after["minimum"], after["maximum"]) == ("integer", 0, ID_MAX)

    chat = {m["name"]: m["payload"] for m in asyncapi_document()["channels"]["/chat"]["publish"]["message"]["oneOf"]}
    send = chat["send"]["properties"]
    assert (send["feedback_id"]["minimum"], send["feedback_id"]["maximum"]) == (1, ID_MAX)
    assert "pattern" in send["text"] and send["text"]["maxLength"] == 4000
    assert (chat["join"]["properties"]["after_seq"]["minimum"], chat["read"]["properties"]["seq"]["minimum"]) == (0, 0)
