"""The default namespace `/`: authentication, `reauth`, and session notices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from roughcut.realtime.base import AUTH_EXPIRED, AuthNamespace, Payload
from roughcut.realtime.rooms import ROOT_NAMESPACE

SESSION_REVOKED: dict[str, Any] = {
    "type": "object",
    "properties": {"session_id": {"type": "integer"}, "reason": {"type": "string"}},
}


class RootNamespace(AuthNamespace):
    """Clients that connect to `/` get `session_revoked` and `auth_expired` notices."""

    path = ROOT_NAMESPACE
    emits: ClassVar[Mapping[str, Payload]] = {"session_revoked": SESSION_REVOKED, "auth_expired": AUTH_EXPIRED}
