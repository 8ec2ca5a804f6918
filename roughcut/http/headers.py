"""Security headers on every response: REST, SSE, Socket.IO polling, the docs page and static files.

Set in `on_response_prepare`, so streamed responses and problem responses get them too; a header a
handler set itself is kept.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from roughcut.http.middlewares import FORWARDED_SECURE
from roughcut.security.access import ACCESS_COOKIE

HSTS = "max-age=63072000; includeSubDomains"  # two years; sent only on requests that came over TLS
REFERRER_POLICY = "no-referrer"
# JSON and streams load nothing and may not be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
JSON_TYPES = ("application/json", "application/problem+json")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

OnPrepare = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def docs_csp(html: str) -> str:
    """The Swagger UI page's policy: its own files, its one inline script by hash, inline styles, data: images."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _authenticated(request: web.Request) -> bool:
    return "Authorization" in request.headers or ACCESS_COOKIE in request.cookies


def security_headers(docs_prefix: str, docs_html: str) -> OnPrepare:
    """The on_response_prepare hook; the docs page under `docs_prefix` gets its own CSP."""
    docs_policy = docs_csp(docs_html)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        headers.setdefault("Content-Security-Policy", docs_policy if request.path.startswith(docs_prefix) else API_CSP)
        if request.secure or request.get(FORWARDED_SECURE) is True:
            headers.setdefault("Strict-Transport-Security", HSTS)
        # What a caller reads with its credentials stays out of shared and disk caches; a response with an
        # ETag may be kept by the caller's own client, which revalidates it every time (If-None-Match → 304).
        if (
            "Cache-Control" not in headers
            and _authenticated(request)
            and headers.get("Content-Type", "").startswith(JSON_TYPES)
        ):
            headers["Cache-Control"] = "private, no-cache" if "ETag" in headers else "no-store"

    return on_prepare
