"""The default namespace `/`: authentication, `reauth`, and session notices."""

from __future__ import annotations

from roughcut.realtime.base import AuthNamespace


class RootNamespace(AuthNamespace):
    """Clients that connect to `/` get `session_revoked` and `auth_expired` notices."""
