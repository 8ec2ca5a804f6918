"""E-learning links: `roughcut admin grant|revoke`, admin-only management, every signed-in user lists them."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from tests.helpers import Mailbox, auth, signup, unique_email

Client = TestClient[Any, Any]
CLI_TIMEOUT = 60
ADMIN = "/api/v1/admin/learning-links"


@pytest.fixture(params=["postgres", "sqlite"])
async def setup(
    request: pytest.FixtureRequest, make_client: Any, sqlite_settings: Settings, pg_settings: Settings
) -> tuple[Client, Settings]:
    settings = sqlite_settings if request.param == "sqlite" else pg_settings
    return await make_client(settings), settings


async def admin_cli(settings: Settings, *args: str) -> tuple[int, str]:
    """Run `roughcut admin ...` as its own process against the app's database."""
    env = {**os.environ, "DATABASE_URL": settings.db_url, "DATA_DIR": str(settings.data_dir)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roughcut", "admin", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def code_of(resp: Any) -> str:
    code: str = (await resp.json())["code"]
    return code


async def test_admins_manage_links_and_everyone_lists_them(setup: tuple[Client, Settings], mailbox: Mailbox) -> None:
    client, settings = setup
    email = unique_email("admin")
    admin = await signup(client, mailbox, email)
    user = await signup(client, mailbox)
    body = {"url": "https://youtu.be/abc", "title": " 촬영 기초 "}

    resp = await client.post(ADMIN, json=body, headers=auth(admin))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    assert (await admin_cli(settings, "grant", email.upper()))[0] == 0

    resp = await client.post(ADMIN, json=body, headers=auth(admin))
    assert resp.status == 201, await resp.text()
    first = await resp.json()
    assert (first["url"], first["title"]) == ("https://youtu.be/abc", "촬영 기초")
    resp = await client.post(ADMIN, json={"url": "https://vimeo.com/2"}, headers=auth(admin))
    second = await resp.json()
    assert second["title"] == ""

    resp = await client.get("/api/v1/learning-links", headers=auth(user))
    assert resp.status == 200
    assert [x["id"] for x in (await resp.json())["items"]] == [second["id"], first["id"]]
    for method, url in (("POST", ADMIN), ("GET", ADMIN), ("PATCH", f"{ADMIN}/{first['id']}")):
        resp = await client.request(method, url, json=body, headers=auth(user))
        assert (resp.status, await code_of(resp)) == (403, "permission_denied"), method
    resp = await client.delete(f"{ADMIN}/{first['id']}", headers=auth(user))
    assert resp.status == 403

    resp = await client.patch(f"{ADMIN}/{first['id']}", json={"title": "Lighting"}, headers=auth(admin))
    assert (await resp.json())["title"] == "Lighting"
    resp = await client.patch(f"{ADMIN}/{first['id']}", json={"url": "javascript:alert(1)"}, headers=auth(admin))
    assert (resp.status, await code_of(resp)) == (422, "validation_failed")
    resp = await client.delete(f"{ADMIN}/{first['id']}", headers=auth(admin))
    assert resp.status == 204
    resp = await client.delete(f"{ADMIN}/{first['id']}", headers=auth(admin))
    assert (resp.status, await code_of(resp)) == (404, "not_found")
    resp = await client.get(ADMIN, headers=auth(admin))
    assert [x["id"] for x in (await resp.json())["items"]] == [second["id"]]

    assert (await admin_cli(settings, "revoke", email))[0] == 0
    resp = await client.delete(f"{ADMIN}/{second['id']}", headers=auth(admin))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    resp = await client.get("/api/v1/learning-links")
    assert (resp.status, await code_of(resp)) == (401, "token_missing")


async def test_granting_an_unknown_address_fails(setup: tuple[Client, Settings]) -> None:
    _client, settings = setup
    code, out = await admin_cli(settings, "grant", unique_email("nobody"))
    assert code == 1
    assert "No account" in out
