"""REST: chat history."""

from __future__ import annotations

from roughcut.http.routing import ApiRoutes

routes = ApiRoutes()
