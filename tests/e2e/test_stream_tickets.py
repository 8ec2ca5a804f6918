"""Stream tickets: a bearer-mode EventSource opens the SSE stream with a single-use ticket, never a token."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from tests.conftest import AppFactory
from tests.e2e.test_sse import _event, _open, _set_stage, _team, _url
from tests.helpers import Mailbox, auth, create_project, signup


async def _ticket(client: TestClient[Any, Any], pair: dict[str, Any], project_id: int) -> str:
    resp = await client.post(f"{_url(project_id)}-tickets", headers=auth(pair))
    assert resp.status == 201, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["expires_in"] == 30
    ticket: str = body["ticket"]
    return ticket


async def _refused(client: TestClient[Any, Any], project_id: int, ticket: str) -> str:
    resp = await client.get(_url(project_id), params={"ticket": ticket})
    assert resp.status == 401, await resp.text()
    code: str = (await resp.json())["code"]
    return code


@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
async def test_a_ticket_opens_the_stream_once(
    make_client: AppFactory, sqlite_settings: Settings, mailbox: Mailbox, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await (make_client(sqlite_settings) if db == "sqlite" else make_client())
    owner, member, project_id = await _team(client, mailbox)
    ticket = await _ticket(client, member, project_id)
    with caplog.at_level(logging.INFO):
        resp = await _open(client, project_id, {}, f"?ticket={ticket}")
    assert ticket not in caplog.text  # the access log writes the path only
    await _set_stage(client, owner, project_id, "filming")
    _, kind, data = await _event(resp)
    assert kind == "stage.changed"
    assert data["data"]["stage"] == "filming"
    resp.close()
    assert await _refused(client, project_id, ticket) == "token_invalid"  # single use


async def test_a_ticket_is_bound_to_its_project_and_session(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member, project_id = await _team(client, mailbox)
    other_project = (await create_project(client, owner))["id"]
    ticket = await _ticket(client, owner, project_id)
    assert await _refused(client, other_project, ticket) == "token_invalid"
    assert await _refused(client, project_id, ticket) == "token_invalid"  # spent by the refused attempt
    assert await _refused(client, project_id, "made-up") == "token_invalid"

    ticket = await _ticket(client, member, project_id)
    assert (await client.post("/api/v1/auth/logout", headers=auth(member))).status == 204
    assert await _refused(client, project_id, ticket) == "session_revoked"


async def test_only_members_get_tickets(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, _, project_id = await _team(client, mailbox)
    stranger = await signup(client, mailbox)
    resp = await client.post(f"{_url(project_id)}-tickets", headers=auth(stranger))
    assert resp.status == 404
    assert (await resp.json())["code"] == "not_found"
    resp = await client.post(f"{_url(project_id)}-tickets")
    assert resp.status == 401
    assert (await resp.json())["code"] == "token_missing"
