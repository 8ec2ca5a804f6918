"""WebSocket connections taken over from aiohttp once it has answered the handshake.

For the whole life of a WebSocket, aiohttp keeps the upgrade request with its parsed headers, its HTTP
protocol and parser, two tasks suspended in the request handler (with every frame of the handler's call
chain), and the response's reader queue and writer: about 13 KB per idle socket (bench/idle_memory.py).
Here aiohttp still checks the handshake and writes the 101 answer (`HandOffResponse`), then the transport
goes to a `Connection` and aiohttp forgets it: its handler returns and its server no longer lists it.

A Connection keeps aiohttp's frame parser and nothing else of it. Messages arrive by callback (no task
while the socket is idle) and go to its listener, the engine.io socket (realtime/direct_socket.py), which
writes its frames to the transport itself. The Connection answers pings and the close handshake, and closes
on a frame the parser refuses. What this relies on of aiohttp (`WebSocketResponse._post_start`, the HTTP
protocol's `_message_tail`, the parser's queue interface) is pinned in tests/unit/test_handoff.py.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.base_protocol import BaseProtocol

CLOSE_TIMEOUT_SECONDS = 5.0  # how long a peer gets to answer our close frame before the connection is cut

_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack
_CLOSE_CODE = struct.Struct("!H").pack
FIN = 0x80  # the final frame of its message (RFC 6455, 5.2); no mask bit: server frames are unmasked


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final WebSocket frame."""
    first, size = FIN | opcode, len(payload)
    if size < 126:
        return _LEN1(first, size) + payload
    if size < 65536:
        return _LEN2(first, 126, size) + payload
    return _LEN3(first, 127, size) + payload


def close_frame(code: int) -> bytes:
    return frame(WSMsgType.CLOSE, _CLOSE_CODE(code))


class Listener(Protocol):
    """Who a Connection hands its messages to."""

    def received(self, data: str | bytes) -> None: ...

    def lost(self) -> None: ...


class _Frames(WebSocketDataQueue):
    """Where aiohttp's parser puts each message: straight on to the connection, nothing buffered."""

    __slots__ = ()
    _protocol: Connection

    def feed_data(self, data: Any, size: int) -> None:
        self._protocol.message(data)

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        self._protocol.refused(exc)

    def feed_eof(self) -> None:
        """The transport reports the end itself (connection_lost)."""


class Connection(BaseProtocol):
    """One handed-off WebSocket: aiohttp's frame parser in front of a listener."""

    __slots__ = ("_close_sent", "_close_timer", "_held", "_on_lost", "_reader", "listener", "remote", "screen")

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, max_size: int) -> None:
        super().__init__(loop)
        self.transport = transport
        self._reader = WebSocketReader(_Frames(self, 1, loop=loop), max_size, compress=False, decode_text=True)
        self.listener: Listener | None = None
        # A frame check before the listener (realtime/server.py): False ends the connection.
        self.screen: Callable[[Connection, str | bytes], bool] | None = None
        self.remote: str | None = None
        self._held = b""  # what arrived before the listener was attached
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_sent = False
        self._on_lost: Callable[[], None] | None = None

    def listen(self, listener: Listener) -> None:
        """Start handing messages to `listener`, those that came with the handshake first."""
        self.listener = listener
        held, self._held = self._held, b""
        if held:
            self.data_received(held)

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._on_lost = callback

    # ---- asyncio.Protocol ----

    def data_received(self, data: bytes) -> None:
        if self.listener is None:
            self._held += data
        else:
            self._reader.feed_data(data)

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.lost()
        on_lost, self._on_lost = self._on_lost, None
        if on_lost is not None:
            on_lost()

    # ---- from the parser ----

    def message(self, msg: Any) -> None:
        kind = msg.type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            listener = self.listener
            if listener is None or self._close_sent:
                return
            if self.screen is not None and not self.screen(self, msg.data):
                self.close(WSCloseCode.POLICY_VIOLATION)
                return
            listener.received(msg.data)
        elif kind is WSMsgType.PING:
            self.write(frame(WSMsgType.PONG, bytes(msg.data)))
        elif kind is WSMsgType.CLOSE:
            if not self._close_sent:
                self.write(close_frame(msg.data or WSCloseCode.OK))  # the peer's code echoed (RFC 6455, 5.5.1)
                self._close_sent = True
            if self.transport is not None:
                self.transport.close()

    def refused(self, exc: BaseException) -> None:
        """The parser refused a frame (too large, malformed): close with its code, without waiting for an
        answer the parser would no longer read (RFC 6455, 7.1.7)."""
        self.close(int(getattr(exc, "code", WSCloseCode.PROTOCOL_ERROR)))
        if self.transport is not None:
            self.transport.close()  # after what is buffered, the close frame included

    # ---- writing ----

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self, code: int = WSCloseCode.OK) -> None:
        """Start the close handshake; the peer's answer (or CLOSE_TIMEOUT_SECONDS) ends the connection."""
        if self._close_sent or self.transport is None:
            return
        self.write(close_frame(code))
        self._close_sent = True
        self._close_timer = self._loop.call_later(CLOSE_TIMEOUT_SECONDS, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def drain(self) -> None:
        """Return once the transport takes writes again (at once unless it paused writing)."""
        await self._drain_helper()


class HandOffResponse(web.WebSocketResponse):
    """aiohttp's handshake and 101 answer, without its reader: the connection is taken over after."""

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        # No parser on the HTTP protocol: what the peer sends meanwhile stays raw in its message tail.
        self._ws_protocol = protocol

    async def write_eof(self, data: bytes = b"") -> None:
        """aiohttp calls this once the handler returns; the connection is not its any more."""


async def take_over(request: web.Request, response: HandOffResponse, max_size: int) -> Connection | None:
    """Answer the handshake, then move the connection from aiohttp to a Connection (None: the peer left)."""
    await response.prepare(request)
    http = request.protocol
    transport = http.transport
    if transport is None or transport.is_closing():
        return None
    connection = Connection(asyncio.get_running_loop(), transport, max_size)
    connection._held, http._message_tail = http._message_tail, b""
    transport.set_protocol(connection)
    if http._reading_paused:
        transport.resume_reading()
    http.transport = None  # so aiohttp neither writes to nor closes it
    http.connection_lost(None)  # and its server forgets the connection
    return connection
