"""A python-socketio client on /chat that queues what the server sends, for the chat tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

WAIT = 5.0


class ChatClient:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {
            name: asyncio.Queue() for name in ("message", "typing", "read", "resync")
        }
        for name, queue in self.inbox.items():
            self.sio.on(name, queue.put, namespace="/chat")

    async def connect(self, client: TestClient[Any, Any], token: str) -> ChatClient:
        await self.sio.connect(
            str(client.make_url("/")).rstrip("/"),
            auth={"token": token},
            namespaces=["/chat"],
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(event, data, namespace="/chat", timeout=WAIT)
        return ack

    async def join(self, fid: int, after_seq: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"feedback_id": fid}
        if after_seq is not None:
            payload["after_seq"] = after_seq
        return await self.call("join", payload)

    async def send(self, fid: int, text: str, client_id: str | None = None) -> dict[str, Any]:
        return await self.call("send", {"feedback_id": fid, "client_id": client_id or str(uuid.uuid4()), "text": text})

    async def next(self, kind: str = "message") -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox[kind].get(), WAIT)

    async def close(self) -> None:
        await self.sio.disconnect()


async def first_thread(client: TestClient[Any, Any], headers: dict[str, str], project_id: int) -> int:
    """The feedback thread made with the project (from its event log)."""
    events = await (await client.get(f"/api/v1/projects/{project_id}/events", headers=headers)).json()
    fid: int = next(e["data"]["feedback_id"] for e in events["items"] if e["type"] == "feedback.created")
    return fid
