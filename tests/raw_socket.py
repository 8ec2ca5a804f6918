"""A bare Socket.IO client over one aiohttp websocket: cheap enough to open thousands in a test.

It speaks only what the tests need of the protocols (engine.io v4, Socket.IO v5, text packets):
open `0{...}`, ping `2` / pong `3`, namespace connect `40/ns,{auth}` and its answer, events `42/ns,id[...]`
(binary ones `45N-/ns,id[...]` and N binary frames) and acks `43/ns,id[...]`, namespace disconnect `41/ns,`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

WAIT = 5.0
ENGINE_PATH = "/socket.io/?EIO=4&transport=websocket"


def _prefix(namespace: str) -> str:
    return "" if namespace == "/" else f"{namespace},"


class RawSocket:
    """One engine.io websocket connection with its namespaces."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next_id = 0

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, base_url: str) -> RawSocket:
        """Open the websocket and read the engine.io handshake."""
        async with asyncio.timeout(WAIT):
            ws = await session.ws_connect(
                base_url.rstrip("/") + ENGINE_PATH, autoping=False, timeout=aiohttp.ClientWSTimeout(ws_close=WAIT)
            )
        opening = await ws.receive_str(timeout=WAIT)
        assert opening.startswith("0{"), opening
        return cls(ws)

    async def send_connect(self, namespace: str, token: str) -> None:
        """Ask to join a namespace (without waiting for the answer)."""
        await self.ws.send_str(f"40{_prefix(namespace)}{json.dumps({'token': token})}")

    async def connect(self, namespaces: list[str], token: str) -> None:
        """Join namespaces and wait until each one answered that it is connected."""
        for namespace in namespaces:
            await self.send_connect(namespace, token)
        waiting = {f"40{_prefix(ns)}" for ns in namespaces}
        async with asyncio.timeout(WAIT):
            while waiting:
                packet = await self._receive()
                if packet.startswith("44"):
                    raise AssertionError(f"connection refused: {packet}")
                waiting = {p for p in waiting if not packet.startswith(p + "{")}

    async def send_event(self, namespace: str, event: str, data: Any, *more: Any) -> int:
        """Send an event asking for an ack (`more`: other arguments); returns its ack id without waiting."""
        self._next_id += 1
        await self.ws.send_str(f"42{_prefix(namespace)}{self._next_id}{json.dumps([event, data, *more])}")
        return self._next_id

    async def call(self, namespace: str, event: str, data: Any, *more: Any) -> Any:
        """Send an event and wait for its ack."""
        ack_id = await self.send_event(namespace, event, data, *more)
        expected = f"43{_prefix(namespace)}{ack_id}["
        async with asyncio.timeout(WAIT):
            while True:
                packet = await self._receive()
                if packet.startswith(expected):
                    return json.loads(packet[len(expected) - 1 :])[0]

    async def call_binary(self, namespace: str, event: str, data: Any, attachments: list[bytes]) -> Any:
        """Send a binary event (`data` holds `{"_placeholder": true, "num": i}` for attachment i); wait for its ack."""
        self._next_id += 1
        ack_id = self._next_id
        header = f"45{len(attachments)}-{_prefix(namespace)}{ack_id}{json.dumps([event, data])}"
        await self.ws.send_str(header)
        for attachment in attachments:
            await self.ws.send_bytes(attachment)
        expected = f"43{_prefix(namespace)}{ack_id}["
        async with asyncio.timeout(WAIT):
            while True:
                packet = await self._receive()
                if packet.startswith(expected):
                    return json.loads(packet[len(expected) - 1 :])[0]

    async def closed(self) -> list[str]:
        """Read until the server closes the WebSocket (failing after WAIT); returns the text packets it sent."""
        texts: list[str] = []
        async with asyncio.timeout(WAIT):
            while True:
                message = await self.ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return texts
                if message.type == aiohttp.WSMsgType.TEXT:
                    texts.append(message.data)

    async def send_disconnect(self, namespace: str) -> None:
        """Leave one namespace; the connection stays."""
        await self.ws.send_str(f"41{_prefix(namespace)}")

    async def close(self) -> None:
        """Close the websocket (the server sees the transport close)."""
        await self.ws.close()

    async def _receive(self) -> str:
        while True:
            message = await self.ws.receive(timeout=WAIT)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"websocket ended: {message.type}")
            packet: str = message.data
            if packet == "2":  # engine.io ping: answer, or the server drops us
                await self.ws.send_str("3")
                continue
            return packet
