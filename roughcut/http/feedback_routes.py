"""REST: feedback threads and time-coded comments."""

from __future__ import annotations

from roughcut.http.routing import ApiRoutes

routes = ApiRoutes()
