"""Room-routed fan-out between two nodes: a node hears a thread or project only while its clients need it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from roughcut.app import SERVICES
from roughcut.realtime.publisher import Publisher
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.e2e.test_sse import _event, _open, _set_stage, _team, _until
from tests.helpers import Mailbox, auth, create_project, join, signup

SENDS = 5


def _publisher(node: TestClient[Any, Any]) -> Publisher:
    publisher: Publisher = node.app[SERVICES].publisher
    return publisher


async def test_a_node_without_clients_in_a_thread_decodes_none_of_its_messages(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node_a, node_b = await make_client(), await make_client()
    sender, reader = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, sender))["id"]
    await join(node_a, pid, reader["user"]["id"])
    fid = await first_thread(node_a, auth(sender), pid)
    on_a = await ChatClient().connect(node_a, sender["access_token"])
    on_b = await ChatClient().connect(node_b, reader["access_token"])
    try:
        await on_a.join(fid)
        heard_before = _publisher(node_b).received
        sent = [await on_a.send(fid, f"m{i}") for i in range(SENDS)]
        assert all(s["ok"] for s in sent)
        # The reader is connected to node B but has not joined the thread: B receives none of it until the
        # reader joins; the replay has everything so far, and what follows arrives live.
        joined = await on_b.join(fid, after_seq=0)
        assert [m["text"] for m in joined["data"]["missed"]] == [f"m{i}" for i in range(SENDS)]
        later = await on_a.send(fid, "live")
        assert (await on_b.next())["seq"] == later["data"]["message"]["seq"]
        # Redis keeps publish order on B's one connection, so the earlier sends would have arrived before this.
        assert _publisher(node_b).received == heard_before + 1
    finally:
        await on_a.close()
        await on_b.close()


async def test_an_sse_stream_on_another_node_hears_its_project_and_the_node_forgets_it_after(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node_a, node_b = await make_client(), await make_client()
    owner, member, pid = await _team(node_a, mailbox)
    routes = _publisher(node_b).routes
    assert routes is not None
    resp = await _open(node_b, pid, auth(member))
    assert f"project:{pid}" in routes.attended
    await _set_stage(node_a, owner, pid, "filming")
    _, kind, data = await _event(resp)
    assert (kind, data["project_id"]) == ("stage.changed", pid)
    resp.close()
    await _until(lambda: node_b.app[SERVICES].notifier.listeners(pid) == 0)
    await routes.prune()
    assert f"project:{pid}" not in routes.attended
