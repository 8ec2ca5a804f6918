"""Cookie-mode sockets: the httpOnly access cookie authenticates a socket only from an allowed Origin."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from roughcut.security.access import ACCESS_COOKIE
from tests.conftest import AppFactory
from tests.helpers import Mailbox, signup

WAIT = 5.0
FRONT_END = "https://app.example.com"


async def _connect(client: TestClient[Any, Any], headers: dict[str, str], auth: Any = None) -> dict[str, Any]:
    """Connect to /projects; {"connected": True} or the refusal's data ({"code": ...})."""
    sio = socketio.AsyncClient(reconnection=False)
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @sio.on("connect_error", namespace="/projects")
    async def connect_error(data: Any) -> None:
        if not refused.done():
            refused.set_result(data)

    url = str(client.make_url("/")).rstrip("/")
    try:
        await sio.connect(
            url, headers=headers, auth=auth, namespaces=["/projects"], transports=["websocket"], wait_timeout=WAIT
        )
    except socketio.exceptions.ConnectionError:
        data = await asyncio.wait_for(refused, WAIT)
        # a namespace refusal carries {message, data: {code}}; engine.io's own (a bad Origin) only a message
        return dict(data["data"]) if isinstance(data, dict) else {"engine_refused": data}
    finally:
        await sio.disconnect()
    return {"connected": True}


@pytest.fixture
async def cookie_client(make_client: AppFactory, pg_settings: Settings) -> TestClient[Any, Any]:
    return await make_client(replace(pg_settings, cors_origins=(FRONT_END,)))


async def test_the_cookie_connects_from_an_allowed_origin(
    cookie_client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    pair = await signup(cookie_client, mailbox)
    cookie = f"{ACCESS_COOKIE}={pair['access_token']}"
    assert await _connect(cookie_client, {"Cookie": cookie, "Origin": FRONT_END}) == {"connected": True}
    public = "http://localhost:8080"  # PUBLIC_URL's own pages are allowed too
    assert await _connect(cookie_client, {"Cookie": cookie, "Origin": public}) == {"connected": True}


async def test_the_cookie_is_refused_from_other_or_no_origin(
    cookie_client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    pair = await signup(cookie_client, mailbox)
    cookie = f"{ACCESS_COOKIE}={pair['access_token']}"
    refused = await _connect(cookie_client, {"Cookie": cookie})
    assert refused["code"] == "csrf_failed"
    # engine.io refuses a disallowed Origin before any namespace sees the socket
    assert "engine_refused" in await _connect(cookie_client, {"Cookie": cookie, "Origin": "https://evil.example"})
    assert (await _connect(cookie_client, {"Origin": FRONT_END}))["code"] == "token_missing"
    garbled = await _connect(cookie_client, {"Cookie": f"{ACCESS_COOKIE}=nope", "Origin": FRONT_END})
    assert garbled["code"] == "token_invalid"


async def test_a_bearer_token_wins_over_the_cookie(cookie_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(cookie_client, mailbox)
    headers = {"Cookie": f"{ACCESS_COOKIE}=stale"}  # no Origin: a server-side client with a leftover cookie
    assert await _connect(cookie_client, headers, {"token": pair["access_token"]}) == {"connected": True}
