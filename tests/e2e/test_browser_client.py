"""A page in headless Chromium, served from another origin, used as the Next.js front end uses roughcut.

It signs in (bearer and cookie mode), lists projects, opens a feedback thread, chats over Socket.IO with
socket.io-client's browser bundle, and sees a stage change made elsewhere live on its /projects socket and
on an EventSource.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from playwright.async_api import Page

from roughcut.config import Settings
from tests.browser import chromium, front_end
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.helpers import PASSWORD, Mailbox, auth, create_project, join, signup, unique_email

TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"]}


async def rc(page: Page, call: str, *args: Any) -> Any:
    """Await `window.rc.<call>(...args)` in the page."""
    return await page.evaluate(f"(args) => window.rc.{call}(...args)", list(args))


@pytest.mark.parametrize(
    ("mode", "transport"), [("bearer", "websocket"), ("cookie", "websocket"), ("cookie", "polling")]
)
async def test_front_end_on_another_origin(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox, mode: str, transport: str
) -> None:
    async with front_end() as origin, chromium() as browser:
        client = await make_client(replace(pg_settings, cors_origins=(origin,)))
        api = str(client.make_url("")).rstrip("/")
        email = unique_email("browser")
        a = await signup(client, mailbox, email=email)
        b = await signup(client, mailbox)
        pid = (await create_project(client, a, name="Browser campaign"))["id"]
        await join(client, pid, b["user"]["id"])
        fid = await first_thread(client, auth(a), pid)

        page = await browser.new_page()
        await page.goto(f"{origin}/index.html")
        signed_in = await rc(page, "login", api, mode, email, PASSWORD)
        assert signed_in["status"] == 200
        assert signed_in["has_token"] is (mode == "bearer")

        listed = await rc(page, "get", "/api/v1/projects")
        assert listed["status"] == 200
        assert [p["id"] for p in listed["body"]["items"]] == [pid]
        threads = await rc(page, "get", f"/api/v1/projects/{pid}/feedback")
        assert fid in [t["id"] for t in threads["body"]["items"]]
        history = await rc(page, "get", f"/api/v1/feedback/{fid}/messages")
        assert history["status"] == 200
        assert history["body"]["items"] == []

        chat = await rc(page, "connect", "/chat", ["message"], TRANSPORTS[transport])
        assert chat.get("connected"), chat
        assert chat["transport"] == transport
        feed = await rc(page, "connect", "/projects", ["event"], TRANSPORTS[transport])
        assert feed.get("connected"), feed
        assert (await rc(page, "call", "/chat", "join", {"feedback_id": fid}))["ok"] is True
        assert (await rc(page, "call", "/projects", "subscribe", {"project_id": pid}))["ok"] is True
        opened = await rc(page, "stream", pid, ["stage.changed"])
        assert opened == {"open": True}

        other = await ChatClient().connect(client, b["access_token"])
        try:
            assert (await other.join(fid))["ok"] is True
            sent = await rc(
                page, "call", "/chat", "send", {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": "hi"}
            )
            assert sent["ok"] is True, sent
            assert (await other.next())["text"] == "hi"
            assert (await other.send(fid, "hello back"))["ok"] is True
            texts = {(await rc(page, "next", "/chat", "message"))["text"] for _ in range(2)}
            assert texts == {"hi", "hello back"}
        finally:
            await other.close()

        resp = await client.put(
            f"/api/v1/projects/{pid}/stages/filming",
            json={"start_at": "2026-12-03T09:00:00Z", "end_at": None, "status": "in_progress"},
            headers=auth(a),
        )
        assert resp.status == 200, await resp.text()
        live = await rc(page, "next", "/projects", "event")
        assert live["type"] == "stage.changed"
        assert live["project_id"] == pid
        streamed = await rc(page, "nextStreamEvent", "stage.changed")
        assert streamed["data"]["type"] == "stage.changed"
        assert int(streamed["id"]) == live["id"]
        await rc(page, "close")
