"""Malformed engine.io and Socket.IO input is bad input: the connection is closed, and a warning (not an error) logged.

python-socketio and python-engineio trust the framing they parse. A frame no client library sends (a
Socket.IO packet that is not JSON, an integer event name, a binary placeholder past the attachments, an
engine.io packet type out of range, a polling body that does not decode) raises inside them and is
logged at ERROR with a traceback; over the WebSocket transport an undecodable engine.io frame even
escapes to aiohttp (`roughcut.http "unhandled error"`). Anyone could fill the error log and Sentry.

Here that input is recognised where it enters, before the libraries trip on it:
- engine.io frames: `RoughcutWebSocket.wait` (realtime/server.py) and `checked_translate_request` (polling);
- Socket.IO packets: `CheckedPacket`, the server's packet class, and `CheckedServer._handle_eio_message`.
The offending connection is closed, with at most one WARNING per connection, and those warnings go
through one token bucket per node. tests/e2e/test_malformed_packets.py pins the library behaviour relied on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import socketio
from aiohttp import web
from engineio.payload import Payload
from socketio import packet as sio

from roughcut.realtime.base import LIFECYCLE
from roughcut.realtime.direct_socket import DirectEngine, DirectSocket

log = logging.getLogger(__name__)

WARN_BURST = 10  # warnings logged at once before the bucket runs dry
WARN_PER_SECOND = 0.2  # then one every 5 s at most; the ones left out are counted in the next
MAX_ATTACHMENTS = 10  # binary attachments one Socket.IO packet may announce (the library allows 10^10)
ENGINE_PACKET_TYPES = frozenset("0123456")  # OPEN..NOOP; engine.io indexes a name table with the type
CLIENT_PACKET_TYPES = frozenset({sio.CONNECT, sio.DISCONNECT, sio.EVENT, sio.ACK, sio.BINARY_EVENT, sio.BINARY_ACK})
BINARY_PACKET_TYPES = frozenset({sio.BINARY_EVENT, sio.BINARY_ACK})
EVENT_PACKET_TYPES = frozenset({sio.EVENT, sio.BINARY_EVENT})
# python-socketio raises this (a bare ValueError) for a binary event on a namespace the client did not join.
UNEXPECTED_BINARY = "Unexpected binary packet"
# What a polling body is replaced with once refused: engine.io's CLOSE packet, so the library ends the
# session itself exactly as when a client says goodbye.
CLOSE_PAYLOAD = b"1"
JSONP_PREFIX = "d="


class MalformedPacket(ValueError):
    """A packet no Socket.IO or engine.io client sends; its connection is closed."""


class WarningBudget:
    """A token bucket on one log call: `burst` warnings at once, then `rate` per second; the rest are counted."""

    def __init__(
        self,
        logger: logging.Logger,
        burst: int = WARN_BURST,
        rate: float = WARN_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._burst, self._rate, self._clock = logger, burst, rate, clock
        self._tokens = float(burst)
        self._last = clock()
        self.suppressed = 0

    def warn(self, message: str, **context: Any) -> bool:
        """Log `message` at WARNING if the bucket allows; returns whether it was logged."""
        now = self._clock()
        self._tokens = min(float(self._burst), self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            self.suppressed += 1
            return False
        self._tokens -= 1
        self._log.warning(message, extra={**context, "suppressed": self.suppressed})
        self.suppressed = 0
        return True


# ---- engine.io frames ----


def engine_frame_problem(frame: str | bytes) -> str | None:
    """Why engine.io would raise on this frame, or None when it decodes (binary frames are MESSAGEs)."""
    if isinstance(frame, bytes):
        return None
    if not frame:
        return "empty engine.io packet"
    if frame[0] == "b":  # base64 binary, as the polling transport sends it
        try:
            base64.b64decode(frame[1:])
        except (binascii.Error, ValueError):
            return "engine.io binary packet that is not base64"
        return None
    if frame[0] not in ENGINE_PACKET_TYPES:
        return "unknown engine.io packet type"
    return None


def payload_problem(body: bytes) -> str | None:
    """Why engine.io would raise on this polling body, or None (the same steps as engineio.payload.Payload)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "polling payload that is not UTF-8"
    if not text:
        return None
    if text.startswith(JSONP_PREFIX):
        values = urllib.parse.parse_qs(text).get("d")
        if not values:
            return "malformed JSONP payload"
        text = values[0]
    frames = text.split("\x1e")
    if len(frames) > Payload.max_decode_packets:
        return "too many packets in one payload"
    for frame in frames:
        problem = engine_frame_problem(frame)
        if problem is not None:
            return problem
    return None


class _Body:
    """The request body engine.io reads as `wsgi.input`, once it has been read here to be checked."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, _length: int = -1) -> bytes:
        return self._data


# The environ keys python-engineio, python-socketio (aiohttp mode) and roughcut's namespaces read. The
# environ of a socket's first request is kept for the socket's life (by engine.io's frames and
# python-socketio's `environ` table): the other headers' copies were ~0.8 KB per idle socket. Pinned in
# tests/unit/test_socket_internals.py.
ENVIRON_KEYS = frozenset(
    {
        "wsgi.input",
        "wsgi.url_scheme",
        "aiohttp.request",
        "REQUEST_METHOD",
        "QUERY_STRING",
        "PATH_INFO",
        "SCRIPT_NAME",
        "REMOTE_ADDR",
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_HOST",
        "HTTP_ORIGIN",
        "HTTP_COOKIE",
        "HTTP_CONNECTION",
        "HTTP_UPGRADE",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_X_FORWARDED_PROTO",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
    }
)


def checked_translate_request(
    translate: Callable[[web.Request], dict[str, Any]], eio: engineio.AsyncServer, warnings: WarningBudget
) -> Callable[[web.Request], Awaitable[dict[str, Any]]]:
    """engine.io's aiohttp request translation, keeping only ENVIRON_KEYS, plus a check of polling bodies for
    a live session."""

    async def translate_request(request: web.Request) -> dict[str, Any]:
        environ = {key: value for key, value in translate(request).items() if key in ENVIRON_KEYS}
        length = request.content_length or 0
        sock = eio.sockets.get(request.query.get("sid", ""))
        # Larger bodies are refused by engine.io itself; without a live session there is nothing to close.
        if request.method != "POST" or sock is None or not 0 < length <= eio.max_http_buffer_size:
            return environ
        body = await request.read()
        problem = payload_problem(body)
        if problem is not None:
            if not (sock.closing or sock.closed):
                warnings.warn("malformed engine.io payload; connection closed", reason=problem, remote=request.remote)
            body = CLOSE_PAYLOAD
        environ["wsgi.input"] = _Body(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    return translate_request


# ---- Socket.IO packets ----


def _check_event(data: Any) -> None:
    if not (isinstance(data, list) and data and isinstance(data[0], str)):
        raise MalformedPacket("an event packet without an event name")
    if data[0] in LIFECYCLE:
        raise MalformedPacket("a client event with a reserved name")


def _check_placeholders(data: Any, attachments: int) -> None:
    """Every binary placeholder names an announced attachment (iteratively: the JSON may nest deeply)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            if item.get("_placeholder") and "num" in item:  # what python-socketio replaces by an attachment
                num = item["num"]
                if type(num) is not int or not 0 <= num < attachments:
                    raise MalformedPacket("a binary placeholder past the attachments")
            else:
                pending.extend(item.values())


_ABSENT: Any = object()


class CheckedPacket(sio.Packet):  # type: ignore[misc]
    """python-socketio's packet that decodes only what a client may send, raising MalformedPacket otherwise."""

    def __init__(self, *args: Any, encoded_packet: Any = _ABSENT, **kwargs: Any) -> None:
        if encoded_packet is _ABSENT:  # a packet the server sends
            super().__init__(*args, **kwargs)
            return
        # python-socketio decodes only a truthy packet: an empty one (or engine.io-decoded `null`, `[]`) would
        # become an EVENT without data. A binary frame outside a binary event is not a packet either.
        if not isinstance(encoded_packet, str) or not encoded_packet:
            raise MalformedPacket("an empty or non-text Socket.IO packet")
        super().__init__(*args, encoded_packet=encoded_packet, **kwargs)

    def decode(self, encoded_packet: Any) -> int:
        """Decode a client packet; returns the number of binary attachments that follow it."""
        if not isinstance(encoded_packet, str):
            raise MalformedPacket("a Socket.IO packet that is not text")
        try:
            attachments = int(super().decode(encoded_packet) or 0)
        except Exception as exc:  # whatever the library's parser raises on this input, the input is at fault
            raise MalformedPacket(f"an undecodable Socket.IO packet ({type(exc).__name__})") from None
        kind = self.packet_type
        if kind not in CLIENT_PACKET_TYPES:
            raise MalformedPacket("a packet type clients do not send")
        if (kind in BINARY_PACKET_TYPES) != (attachments > 0) or attachments > MAX_ATTACHMENTS:
            raise MalformedPacket("a wrong number of binary attachments")
        if kind in EVENT_PACKET_TYPES:
            _check_event(self.data)
        elif kind in (sio.ACK, sio.BINARY_ACK) and not isinstance(self.data, list):
            raise MalformedPacket("an ack without a list of arguments")
        if attachments:
            _check_placeholders(self.data, attachments)
        return attachments

    def add_attachment(self, attachment: Any) -> bool:
        """Add one binary attachment; True once the packet is complete."""
        try:
            return bool(super().add_attachment(attachment))
        except Exception as exc:  # e.g. nesting deeper than the interpreter's recursion limit
            raise MalformedPacket(f"a binary event that cannot be rebuilt ({type(exc).__name__})") from None


async def close_connection(eio: engineio.AsyncServer, eio_sid: str) -> bool:
    """Close an engine.io connection now, on any transport; False when it is already gone or closing."""
    sock = eio.sockets.get(eio_sid)
    if sock is None or sock.closing or sock.closed:
        return False
    await sock.close(wait=False)  # the namespaces' disconnect handlers run; a CLOSE packet is sent or queued
    if not getattr(sock, "direct", False):  # a DirectSocket closes its WebSocket after the packet itself
        sock.queue.put_nowait(None)  # the writer sends it and ends, closing the WebSocket without waiting on the peer
    return True


class OpenWebSockets:
    """The WebSocket handlers running on this node, so a drain can wait for their close handshakes."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def opened(self) -> None:
        self.count += 1
        self.idle.clear()

    def closed(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


class Activity:
    """When each connection last sent a Socket.IO packet (engine.io's pings do not count), and what to do
    when a connection waited on is heard from again (presence: an idle socket is back)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}  # eio_sid -> epoch seconds
        self._waiting: dict[str, Callable[[], object]] = {}

    def seen(self, eio_sid: str) -> None:
        """A packet arrived on the connection."""
        self.last[eio_sid] = time.time()
        if self._waiting:
            callback = self._waiting.pop(eio_sid, None)
            if callback is not None:
                callback()

    def when_heard(self, eio_sid: str, callback: Callable[[], object]) -> None:
        """Call `callback` (once) at the connection's next packet."""
        self._waiting[eio_sid] = callback

    def gone(self, eio_sid: str) -> None:
        """The connection closed."""
        self.last.pop(eio_sid, None)
        self._waiting.pop(eio_sid, None)


class CheckedServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server with CheckedPacket: a malformed packet closes its connection with a warning."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(serializer=CheckedPacket, **kwargs)
        self.bad_input = WarningBudget(log)
        self.open_websockets = OpenWebSockets()
        self.activity = Activity()

    def _engineio_server_class(self) -> type[DirectEngine]:
        return DirectEngine

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        sock = self.eio.sockets.get(eio_sid)
        if sock is None or sock.closing or sock.closed:
            return  # the connection is being closed: what it still sends (a CONNECT, say) must not start anything
        self.activity.seen(eio_sid)
        try:
            await super()._handle_eio_message(eio_sid, data)
        except MalformedPacket as exc:
            await self.refuse(eio_sid, str(exc))
        except ValueError as exc:
            if exc.args != (UNEXPECTED_BINARY,):
                raise
            await self.refuse(eio_sid, "a binary event on a namespace the client did not join")

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            DirectSocket.adopt(sock)  # before its first ping and its WebSocket (realtime/direct_socket.py)
        answer = await super()._handle_eio_connect(eio_sid, environ)
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if query.get("transport", ["polling"])[0] != "websocket":  # engine.io's own default
            # The session keeps this environ for its life; a WebSocket lets go of its request once taken
            # over (realtime/server.py), a long-poll's first request is not needed after the answer.
            environ.pop("aiohttp.request", None)
        return answer

    async def _handle_eio_disconnect(self, eio_sid: str, *args: Any) -> None:
        self.activity.gone(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, *args)

    async def refuse(self, eio_sid: str, reason: str) -> None:
        """Close the connection that sent a malformed packet; one warning for it (if the node's budget allows)."""
        self._binary_packet.pop(eio_sid, None)
        if await close_connection(self.eio, eio_sid):
            self.bad_input.warn("malformed Socket.IO packet; connection closed", reason=reason)
