"""The one ack envelope: `{ok: true, data}` or `{ok: false, error: {code, message, details?}}`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from marshmallow import Schema

from roughcut.domain import errors
from roughcut.wire.validation import load

log = logging.getLogger("roughcut.realtime")

INVALID_PAYLOAD = "The payload has invalid fields."

Ack = dict[str, Any]
NS = TypeVar("NS")
EventHandler = Callable[[NS, str, Any], Awaitable[Any]]


def error_ack(code: str, message: str, details: dict[str, Any] | None = None) -> Ack:
    """A refusal in the envelope."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"ok": False, "error": error}


def from_domain(exc: errors.DomainError) -> Ack:
    """A DomainError in the envelope, with field errors and details."""
    details: dict[str, Any] = dict(exc.details)
    if exc.fields:
        details["fields"] = exc.fields
    return error_ack(exc.code, exc.message, details or None)


def event(schema: type[Schema] | None = None) -> Callable[[EventHandler[NS]], Callable[[NS, str, Any], Awaitable[Ack]]]:
    """Wrap an `on_*` handler: validate, call, and always answer through the ack.

    python-socketio sends no ack when a handler raises, so nothing may escape this wrapper.
    """

    def deco(fn: EventHandler[NS]) -> Callable[[NS, str, Any], Awaitable[Ack]]:
        loader = schema() if schema is not None else None  # built once: building one copies its fields

        @functools.wraps(fn)
        async def wrapper(self: NS, sid: str, data: Any = None) -> Ack:
            try:
                payload: Any = data
                if loader is not None:
                    if data is None:
                        data = {}
                    if not isinstance(data, dict):
                        raise errors.ValidationFailed("The payload must be an object.")
                    payload = load(loader, data, message=INVALID_PAYLOAD)
                result = await fn(self, sid, payload)
                return {"ok": True, "data": {} if result is None else result}
            except errors.DomainError as exc:
                return from_domain(exc)
            except Exception:
                log.exception("socket event failed", extra={"event": fn.__name__, "sid": sid})
                return error_ack("internal_error", "Something went wrong on our side.")

        wrapper.event_schema = schema  # type: ignore[attr-defined]  # read by the AsyncAPI document
        return wrapper

    return deco
