"""Every client event of a socket spends one per-socket budget: past it the ack is rate_limited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roughcut import keys
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth, create_project, signup

BURST = 5


@pytest.mark.parametrize("settings_name", ["pg_settings", "sqlite_settings"])
async def test_each_event_spends_the_sockets_budget(
    make_client: AppFactory, mailbox: Mailbox, request: pytest.FixtureRequest, settings_name: str
) -> None:
    settings = request.getfixturevalue(settings_name)
    client = await make_client(settings, socket_event_burst=BURST, socket_event_rate=1)
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    fid = await first_thread(client, auth(pair), pid)
    chat = await ChatClient().connect(client, pair["access_token"])
    try:
        acks: list[dict[str, Any]] = [await chat.join(fid) for _ in range(BURST)]
        assert all(a["ok"] for a in acks)
        over = await chat.call("typing", {"feedback_id": fid, "typing": True})  # any event, not only `send`
        assert over["ok"] is False
        assert over["error"]["code"] == "rate_limited"
        assert over["error"]["details"]["retry_after"] >= 1
        unknown = await chat.call("no_such_event", {})  # refused before it spends anything
        assert unknown["error"]["code"] == "unknown_event"

        feed = await Feed().connect(client, pair["access_token"])  # another socket has its own budget
        try:
            assert (await feed.subscribe(pid))["ok"] is True
        finally:
            await feed.sio.disconnect()
    finally:
        await chat.close()
    budget = client.app[keys.SIO].namespace_handlers["/chat"].event_budget
    async with asyncio.timeout(5):  # the server forgets the socket's bucket when it sees the disconnect
        while len(budget):  # noqa: ASYNC110 - the state is the namespace's dict, not an awaitable
            await asyncio.sleep(0.01)
