"""A draining node (app.drain, what SIGTERM starts) leaves the balancer and takes no new sockets, while the
requests of connections it still has keep working."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from roughcut.app import drain
from tests.helpers import Mailbox, auth, signup


async def _assert_draining(resp: Any) -> None:
    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["code"] == "draining"


async def test_a_draining_node_fails_readiness_and_refuses_new_sockets(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    pair = await signup(client, mailbox)
    handshake = await client.get("/socket.io/?EIO=4&transport=polling")
    assert handshake.status == 200 and (await handshake.text()).startswith("0{")
    assert (await client.get("/readyz")).status == 200
    await drain(client.app)
    await _assert_draining(await client.get("/readyz"))
    await _assert_draining(await client.get("/socket.io/?EIO=4&transport=polling"))
    await _assert_draining(
        await client.get(
            "/socket.io/?EIO=4&transport=websocket", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
        )
    )
    me = await client.get("/api/v1/me", headers=auth(pair))  # REST still answers until the node exits
    assert me.status == 200
