"""A python-socketio client on /projects that queues every `event`, for the project feed tests."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

WAIT = 5.0


class Feed:
    """A python-socketio client on /projects that queues every `event`."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.resyncs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sio.on("event", self.events.put, namespace="/projects")
        self.sio.on("resync", self.resyncs.put, namespace="/projects")

    async def connect(self, client: TestClient[Any, Any], token: str) -> Feed:
        await self.sio.connect(
            str(client.make_url("/")).rstrip("/"),
            auth={"token": token},
            namespaces=["/projects"],
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def subscribe(self, project_id: int, after: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"project_id": project_id}
        if after is not None:
            payload["after_event_id"] = after
        ack: dict[str, Any] = await self.sio.call("subscribe", payload, namespace="/projects", timeout=WAIT)
        return ack

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def close(self) -> None:
        await self.sio.disconnect()
