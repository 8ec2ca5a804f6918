"""Live sessions: one `reauth` renews the whole connection; connection churn leaves nothing behind on the node."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import Settings
from roughcut.security.tokens import JwtTokens
from tests.chat_client import first_thread
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, signup
from tests.raw_socket import RawSocket

WAIT = 5.0
SHORT_TTL = 3  # seconds: time enough to connect and reauth, short enough to wait out
NAMESPACES = ("/", "/projects", "/chat")
NO_SUCH_ID = 999_999_999  # a valid id that names nothing: the answer is not_found once the caller is accepted


class Multiplexed:
    """One python-socketio client on `/`, `/projects` and `/chat`, all over one engine.io connection."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.expired = {ns: asyncio.Event() for ns in NAMESPACES}
        self.dropped = {ns: asyncio.Event() for ns in NAMESPACES}
        for ns in NAMESPACES:
            self.sio.on("auth_expired", self._flag(self.expired[ns]), namespace=ns)
            self.sio.on("disconnect", self._flag(self.dropped[ns]), namespace=ns)

    @staticmethod
    def _flag(flag: asyncio.Event) -> Any:
        async def handler(*_args: Any) -> None:
            flag.set()

        return handler

    async def connect(self, client: TestClient[Any, Any], token: str) -> Multiplexed:
        await self.sio.connect(
            str(client.make_url("/")).rstrip("/"),
            auth={"token": token},
            namespaces=list(NAMESPACES),
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def call(self, namespace: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, namespace=namespace, timeout=WAIT)
        return ack


async def test_reauth_on_one_namespace_renews_every_namespace_of_the_connection(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    pair = await signup(client, mailbox)
    tokens, settings = client.app[keys.TOKENS], client.app[keys.SETTINGS]
    claims = tokens.verify_access(pair["access_token"])
    # The same user and login session as the pair, but a token that runs out in seconds.
    short_signer = JwtTokens(tokens.ring, settings.jwt_issuer, settings.jwt_audience, ttl=SHORT_TTL)
    short, _ = short_signer.issue_access(claims.user_id, claims.session_id, claims.auth_time)
    old_expiry = tokens.verify_access(short).expires_at

    renewed = await Multiplexed().connect(client, short)
    stayed = await Multiplexed().connect(client, short)
    try:
        assert set(renewed.sio.namespaces) == set(NAMESPACES)
        ack = await renewed.call("/", "reauth", {"token": pair["access_token"]})
        assert ack == {"ok": True, "data": {"expires_at": claims.expires_at}}

        # The connection that did not renew loses every namespace at the old expiry, told why on each.
        for ns in NAMESPACES:
            await asyncio.wait_for(stayed.expired[ns].wait(), SHORT_TTL + WAIT)
            await asyncio.wait_for(stayed.dropped[ns].wait(), WAIT)
        assert not stayed.sio.connected
        # Past the old expiry (a known instant, not a guess), the renewed connection keeps all three...
        await asyncio.sleep(max(0.0, old_expiry - time.time()))
        assert set(renewed.sio.namespaces) == set(NAMESPACES)
        # ...and each accepts the caller: not_found for an id that names nothing, not token_expired.
        joined = await renewed.call("/chat", "join", {"feedback_id": NO_SUCH_ID})
        assert joined["error"]["code"] == "not_found", joined
        subscribed = await renewed.call("/projects", "subscribe", {"project_id": NO_SUCH_ID})
        assert subscribed["error"]["code"] == "not_found", subscribed
        assert not any(flag.is_set() for flag in (*renewed.expired.values(), *renewed.dropped.values()))
    finally:
        await renewed.sio.disconnect()
        await stayed.sio.disconnect()


ROUNDS = 4
PER_ROUND = 500  # 2,000 connections in all
BATCH = 100  # connections alive at once (aiohttp's client opens at most 100 at a time)
SETTLE_SECONDS = 10.0
KINDS = 5  # the ways a connection lives and ends, see _life
LINGER_SECONDS = 60.0  # how long a typing notice lives in these tests: far longer than they run


def node_maps(client: TestClient[Any, Any]) -> dict[str, int]:
    """Sizes of everything this node keeps per connection or socket: they must return to their start."""
    sio = client.app[keys.SIO]
    manager = sio.manager
    sizes = {
        "engine.io sockets": len(sio.eio.sockets),
        "environs": len(sio.environ),
        "binary packets": len(sio._binary_packet),
        "ack callbacks": len(manager.callbacks),
        "pending connects": sum(len(sids) for sids in manager.pending_connect.values()),
        "pending disconnects": sum(len(sids) for sids in manager.pending_disconnect.values()),
    }
    for path, rooms in manager.rooms.items():
        sizes[f"rooms {path}"] = len(rooms)
        sizes[f"room members {path}"] = sum(len(members) for members in rooms.values())
    for path, namespace in sio.namespace_handlers.items():
        sizes[f"expiry timers {path}"] = len(namespace._expiry)
    chat = sio.namespace_handlers["/chat"]
    sizes["typing timers"] = len(chat._typing)
    sizes["send budgets"] = len(chat.budget._buckets)
    return {name: size for name, size in sizes.items() if size}


async def _settled(client: TestClient[Any, Any], baseline: dict[str, int]) -> dict[str, int]:
    """The node's maps once they are back to `baseline`, or as they are after SETTLE_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    # Closing is handled by the server's own tasks; there is no event to await from here.
    while (sizes := node_maps(client)) != baseline and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return sizes


async def _life(session: aiohttp.ClientSession, url: str, token: str, kind: int, fid: int, pid: int) -> None:
    """One connection: what it joins and does, and how abruptly it goes."""
    sock = await RawSocket.open(session, url)
    try:
        if kind == 0:  # joins everything, waits, leaves
            await sock.connect(list(NAMESPACES), token)
        elif kind == 1:  # asks to join and is gone before the answers
            for ns in NAMESPACES:
                await sock.send_connect(ns, token)
        elif kind == 2:  # busy in every namespace, gone before the acks (handlers still running)
            await sock.connect(["/projects", "/chat"], token)
            await sock.send_event("/chat", "typing", {"feedback_id": fid, "typing": True})
            await sock.send_event("/chat", "send", {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": "hi"})
            await sock.send_event("/chat", "join", {"feedback_id": fid})
            await sock.send_event("/projects", "subscribe", {"project_id": pid})
        elif kind == 3:  # leaves one namespace, then the connection
            await sock.connect(list(NAMESPACES), token)
            assert (await sock.call("/chat", "typing", {"feedback_id": fid, "typing": True}))["ok"] is True
            await sock.send_disconnect("/chat")
        else:  # refused: a token that is not one
            await sock.send_connect("/chat", "not-a-token")
    finally:
        await sock.close()


@pytest.fixture(params=["postgres", "sqlite"])
def node_settings(request: pytest.FixtureRequest) -> Settings:
    """Production (PostgreSQL, python-socketio's Redis manager) and the embedded default (SQLite, in process)."""
    settings: Settings = request.getfixturevalue("pg_settings" if request.param == "postgres" else "sqlite_settings")
    # A typing notice lives a minute here, so one left behind by a gone socket cannot expire in time to hide.
    return replace(settings, chat_typing_ttl=LINGER_SECONDS, chat_send_burst=10_000)


async def test_connection_storms_leave_nothing_behind(
    make_client: AppFactory, node_settings: Settings, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Sockets that come and go, some while their handlers still run: every per-socket map returns to its start."""
    client = await make_client(node_settings)
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    fid = await first_thread(client, auth(owner), pid)
    url = str(client.make_url("/"))
    baseline = node_maps(client)
    async with aiohttp.ClientSession() as session:
        for round_ in range(ROUNDS):
            for start in range(0, PER_ROUND, BATCH):
                lives = [
                    _life(session, url, owner["access_token"], (start + i) % KINDS, fid, pid) for i in range(BATCH)
                ]
                await asyncio.gather(*lives)
            assert await _settled(client, baseline) == baseline, f"after round {round_ + 1}"
    # A handler whose socket has gone answers quietly; a traceback per gone socket would flood the error log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
