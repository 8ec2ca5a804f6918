"""Security headers on every response; no-store on what a caller reads with credentials unless revalidated."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from roughcut.security.access import ACCESS_COOKIE
from tests.helpers import Mailbox, auth, create_project, signup

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def _common(headers: Any) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers  # plain HTTP here: HSTS only behind TLS


async def test_every_kind_of_response_carries_them(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    for path, headers in (
        ("/healthz", {}),
        ("/api/v1/openapi.json", {}),
        ("/api/v1/projects", {}),  # a 401 problem
        ("/api/v1/nowhere", {}),  # a 404 problem
        ("/api/v1/projects", auth(pair)),
        ("/socket.io/?EIO=4&transport=polling", {}),
        ("/api/docs/static/swagger-ui.css", {}),
    ):
        resp = await client.get(path, headers=headers)
        _common(resp.headers)
        assert resp.headers["Content-Security-Policy"] == API_CSP if "docs" not in path else True
    docs = await client.get("/api/docs")
    _common(docs.headers)
    assert "script-src 'self' 'sha256-" in docs.headers["Content-Security-Policy"]


async def test_authenticated_json_is_not_stored(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    listed = await client.get("/api/v1/projects", headers=auth(pair))
    assert listed.headers["Cache-Control"] == "no-store"
    cookie = {"Cookie": f"{ACCESS_COOKIE}={pair['access_token']}"}
    assert (await client.get(f"/api/v1/projects/{pid}/members", headers=cookie)).headers["Cache-Control"] == "no-store"
    refused = await client.get("/api/v1/projects/999999", headers=auth(pair))
    assert refused.headers["Cache-Control"] == "no-store"
    me = await client.get("/api/v1/me", headers=auth(pair))
    assert "ETag" in me.headers
    assert me.headers["Cache-Control"] == "private, no-cache"  # kept by the caller, revalidated every time
    anonymous = await client.get("/api/v1/openapi.json")
    assert "Cache-Control" not in anonymous.headers
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["Cache-Control"].startswith("public")  # a handler's own choice is kept


async def test_hsts_behind_tls(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client(trusted_proxies=("127.0.0.1/32",))
    resp = await client.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert resp.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    plain = await client.get("/healthz")
    assert "Strict-Transport-Security" not in plain.headers
