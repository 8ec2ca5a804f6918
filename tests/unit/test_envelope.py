"""The Socket.IO ack envelope and the problem status mapping."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from marshmallow import Schema, fields

from roughcut.domain import errors
from roughcut.http.problems import status_for
from roughcut.realtime.envelope import event
from roughcut.wire.validation import load


class Point(Schema):
    x = fields.Int(required=True)


class Payload(Schema):
    n = fields.Int(required=True)
    points = fields.List(fields.Nested(Point))


class Handlers:
    @event(Payload)
    async def on_double(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"n": data["n"] * 2}

    @event()
    async def on_fail(self, sid: str, data: Any) -> None:
        raise errors.NotFound("gone", details={"id": 3})

    @event()
    async def on_crash(self, sid: str, data: Any) -> None:
        raise ZeroDivisionError

    @event()
    async def on_nothing(self, sid: str, data: Any) -> None:
        return None


async def test_envelope_shapes(caplog: pytest.LogCaptureFixture) -> None:
    h = Handlers()
    assert await h.on_double("s", {"n": 2}) == {"ok": True, "data": {"n": 4}}
    assert await h.on_nothing("s", None) == {"ok": True, "data": {}}
    bad = await h.on_double("s", {"n": "x"})
    assert bad["ok"] is False
    assert bad["error"]["code"] == "validation_failed"
    assert "n" in bad["error"]["details"]["fields"]
    assert (await h.on_double("s", [1]))["error"]["code"] == "validation_failed"
    assert await h.on_fail("s", None) == {
        "ok": False,
        "error": {"code": "not_found", "message": "gone", "details": {"id": 3}},
    }
    with caplog.at_level(logging.ERROR):
        crash = await h.on_crash("s", None)
    assert crash == {"ok": False, "error": {"code": "internal_error", "message": crash["error"]["message"]}}
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


async def test_socket_field_errors_have_the_rest_shape() -> None:
    bad = {"n": "x", "points": [{"x": 1}, {"x": "y"}], "extra": 1}
    ack = await Handlers().on_double("s", bad)
    with pytest.raises(errors.ValidationFailed) as rest:
        load(Payload(), bad)
    fields_ = ack["error"]["details"]["fields"]
    assert fields_ == rest.value.fields
    assert set(fields_) == {"n", "points", "extra"}
    assert all(isinstance(m, str) for messages in fields_.values() for m in messages)


def test_status_walks_the_mro() -> None:
    assert status_for(errors.TokenExpired()) == 401
    assert status_for(errors.CsrfFailed()) == 403
    assert status_for(errors.RateLimited(3)) == 429
    assert status_for(errors.ValidationFailed()) == 422

    class Custom(errors.Conflict):
        code = "custom"

    assert status_for(Custom()) == 409
