"""The e-mail field: the edge normalises once, to the domain's one normal form, and every e-mail input uses it."""

from __future__ import annotations

import pytest
from marshmallow import Schema

from roughcut.domain import errors
from roughcut.domain.accounts import INVALID_EMAIL, normalize_email
from roughcut.http.api import ROUTE_MODULES, openapi_document
from roughcut.wire.fields import Email
from roughcut.wire.validation import load
from tests.unit.test_accounts import ADDRESS, VARIANTS

# Every operation that takes an e-mail address in its body today; a new one joins by itself.
KNOWN_EMAIL_INPUTS = {"sendEmailCode", "verifyEmailCode", "signup", "login", "resetPassword", "createInvitation"}


class _Body(Schema):
    email = Email(required=True)


def test_the_field_and_the_domain_agree_on_one_normal_form() -> None:
    loaded = [load(_Body(), {"email": v})["email"] for v in VARIANTS]
    assert loaded == [normalize_email(v) for v in VARIANTS] == [ADDRESS] * len(VARIANTS)


def test_the_field_refuses_what_is_not_an_address() -> None:
    for value in ("v\x00@x.test", "v\u200b@x.test", "no-at-sign", ""):
        with pytest.raises(errors.ValidationFailed) as info:
            load(_Body(), {"email": value})
        assert info.value.fields == {"email": [INVALID_EMAIL]}, repr(value)


def _email_fields(schema: type[Schema]) -> dict[str, object]:
    return {name: f for name, f in schema._declared_fields.items() if "email" in name}


def test_every_email_input_uses_the_email_field_and_the_document_says_so() -> None:
    document = openapi_document()
    seen = set()
    for routes in ROUTE_MODULES:
        for op in routes.operations:
            for schema in (op.body, op.query):
                if schema is None or not _email_fields(schema):
                    continue
                seen.add(op.operation_id)
                for name, declared in _email_fields(schema).items():
                    assert isinstance(declared, Email), (op.operation_id, name)
                    body = document["paths"][op.path][op.method].get("requestBody")
                    if schema is op.body and body is not None:
                        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                        assert document["components"]["schemas"][ref]["properties"][name]["format"] == "email"
    assert seen >= KNOWN_EMAIL_INPUTS
