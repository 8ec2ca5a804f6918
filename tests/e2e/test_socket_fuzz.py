"""Socket.IO fuzzing: every client event of every namespace, with hostile payloads, over real connections.

The events come from the registry (realtime/server.NAMESPACES: each `on_*` handler the ack envelope wraps) and
each payload is built from the event's own schema, so a new event or field is fuzzed as soon as it exists.
A deterministic table (wrong types, missing fields, huge and negative numbers, long strings, deep nesting,
control characters, binary attachments, extra arguments, unknown events) and Hypothesis-drawn JSON (fixed seed,
bounded examples) are sent while another member chats in the same room.

Every call is answered in the envelope: `validation_failed` whenever the event's schema refuses the payload,
`unknown_event` for a name the namespace does not handle, else `ok` or a stable domain code, never
`internal_error`. Protocol-level garbage (a frame past the size limit, nesting past the JSON parser's) closes
its own connection only. No ERROR is logged, refused calls store nothing, and the other member's messages are
all acked and delivered in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from roughcut import keys
from roughcut.config import Settings
from roughcut.domain import errors
from roughcut.realtime.base import handles
from roughcut.realtime.server import MAX_MESSAGE, NAMESPACES
from roughcut.storage.tables import chat_reads, events, messages
from roughcut.wire.fields import Id, Integer, Text
from roughcut.wire.validation import load
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, join, signup
from tests.raw_socket import RawSocket

# Hypothesis-drawn payloads per event; FUZZ_EXAMPLES raises it for a long local run (it also scales the REST fuzzer).
SOCKET_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0) or 60
GOOD_EVERY = 0.02  # seconds between the other member's chat sends while the fuzzing runs
NESTING = 20_000  # deeper than the JSON parser takes, yet under the frame size limit
HUGE = "x" * 1_000_000  # a 1 MB string: the frame is far past max_http_buffer_size (MAX_MESSAGE)

# Answers a payload the schema accepts may get: success or a stable refusal, never internal_error.
DOMAIN_CODES = frozenset(
    {
        "not_found",
        "permission_denied",
        "validation_failed",
        "rate_limited",
        "conflict",
        "token_invalid",
        "token_expired",
        "token_missing",
        "session_revoked",
    }
)


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


LONG = "x" * 60_000  # a long string that still fits one frame (MAX_MESSAGE)
# Field values no client library would send for any field of ours (each is tried in every field of every event);
# those a field happens to accept are still sent, and must get a stable answer.
HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**63,
    2**63 - 1,
    -(2**63) - 1,
    2**64,
    1e308,
    -1e308,
    5e-324,
    "",
    " ",
    "1",
    "-1",
    "9223372036854775808",
    "\x00",
    "a\x00b",
    "\x07\x1b[2J",
    "\u202e\u2066rtl",
    "\ufeff",
    LONG,
    [],
    [1],
    {},
    {"$gt": 0},
    _nested(50),
]
NOT_OBJECTS: list[Any] = [1, -1, 2**63, "x", "", [], [{"feedback_id": 1}], True, 1e308]
UNKNOWN_EVENTS = ["nope", "SEND", "send ", "on_send", "__init__", "_session", "trigger_event", "emit", "", "x" * 1000]


@dataclass(frozen=True)
class ClientEvent:
    namespace: str
    name: str
    schema: type[Schema] | None


def client_events() -> list[ClientEvent]:
    """Every client event of every registered namespace, from the handlers the ack envelope wraps."""
    found = []
    for ns in NAMESPACES:
        for attr in sorted(dir(ns)):
            if attr.startswith("on_") and handles(ns, attr.removeprefix("on_")):
                found.append(ClientEvent(ns.path, attr.removeprefix("on_"), getattr(ns, attr).event_schema))
    return found


@dataclass
class World:
    """The seeded ids and tokens a valid payload is built from."""

    project_id: int
    feedback_id: int
    token: str


def valid_value(name: str, fld: fields.Field[Any], world: World) -> Any:
    """A value the field accepts, with the world's real ids; a new kind of field must be taught here."""
    choices = [v.choices for v in fld.validators if isinstance(v, validate.OneOf)]
    if choices:
        return next(iter(choices[0]))
    if isinstance(fld, Id):
        if name == "project_id":
            return world.project_id
        if name == "feedback_id":
            return world.feedback_id
        return 0 if fld.validators[0].min == 0 else 1  # type: ignore[attr-defined]  # a cursor or another id
    if isinstance(fld, Integer):
        return 0  # a count (upload progress bytes)
    if isinstance(fld, fields.UUID):
        return str(uuid.uuid4())
    if isinstance(fld, fields.Boolean):
        return True
    if name == "token":
        return world.token
    if isinstance(fld, Text):
        return "fuzz"
    raise AssertionError(f"the socket fuzzer does not know how to fill {name}: {type(fld).__name__}")


def valid_payload(event: ClientEvent, world: World) -> dict[str, Any]:
    """Every field of the event's schema, filled with a valid value (optional ones too)."""
    if event.schema is None:
        return {}
    return {name: valid_value(name, fld, world) for name, fld in event.schema().fields.items() if not fld.dump_only}


def expected(event: ClientEvent, payload: Any) -> str | None:
    """`validation_failed` when the event's schema refuses the payload (as the envelope loads it), else None."""
    if event.schema is None:
        return None
    data = {} if payload is None else payload
    if not isinstance(data, dict):
        return "validation_failed"
    try:
        load(event.schema(), data)
    except errors.ValidationFailed:
        return "validation_failed"
    return None


def table_payloads(event: ClientEvent, world: World) -> Iterator[tuple[str, Any]]:
    """(label, payload) of the deterministic table for one event."""
    base = valid_payload(event, world)
    for name in base:
        for n, value in enumerate(HOSTILE):
            yield f"{name}=hostile[{n}]", {**base, name: value}
        if event.schema is not None and event.schema().fields[name].required:
            yield f"without {name}", {k: v for k, v in base.items() if k != name}
    yield "an extra field", {**base, "zz_extra": 1}
    yield "no payload", None
    for n, value in enumerate(NOT_OBJECTS):
        yield f"not an object [{n}]", value


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from([v for v in HOSTILE if v is not LONG and not isinstance(v, list | dict)]),  # a frame holds one
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def drawn_payloads(base: dict[str, Any], count: int) -> list[Any]:
    """`count` payloads drawn with a fixed seed: a field replaced, a field added, or the whole payload replaced."""
    keys_ = sorted(base)
    choices = [
        st.tuples(st.text(min_size=1, max_size=8).filter(lambda k: k not in base), JSON_VALUES).map(
            lambda kv: {**base, kv[0]: kv[1]}
        ),
        JSON_VALUES,
    ]
    if keys_:
        choices.insert(0, st.tuples(st.sampled_from(keys_), JSON_VALUES).map(lambda kv: {**base, kv[0]: kv[1]}))
    found: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(choices))
    def collect(payload: Any) -> None:
        found.append(payload)

    collect()
    return found


@dataclass
class Ledger:
    """What the fuzzing client was acked: the sends and read markers it may have stored."""

    sent: set[str] = field(default_factory=set)
    read_seq: int | None = None
    answers: int = 0
    refused: int = 0

    def note(self, event: ClientEvent, payload: Any, ack: Any, want: str | None, label: str) -> None:
        where = f"{event.namespace}:{event.name} {label}: {str(payload)[:200]!r} -> {str(ack)[:300]}"
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), where
        self.answers += 1
        if want is not None:
            assert ack["ok"] is False and ack["error"]["code"] == want, where
            assert isinstance(ack["error"].get("message"), str), where
        elif not ack["ok"]:
            assert ack["error"]["code"] in DOMAIN_CODES, where
        if not ack["ok"]:
            self.refused += 1
            return
        data = ack["data"]
        if (event.namespace, event.name) == ("/chat", "send") and not data["duplicate"]:
            self.sent.add(data["message"]["client_id"])
        if (event.namespace, event.name) == ("/chat", "read"):
            self.read_seq = max(self.read_seq or 0, data["read_seq"])


class GoodTraffic:
    """Another member chatting in the same room all along: every send acked, every message delivered in order."""

    def __init__(self, chat: ChatClient, feedback_id: int, user_id: int) -> None:
        self.chat, self.feedback_id, self.user_id = chat, feedback_id, user_id
        self.acks: list[dict[str, Any]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.acks.append(await self.chat.send(self.feedback_id, f"good {n}"))
            n += 1
            await asyncio.sleep(GOOD_EVERY)

    async def stop_and_check(self) -> int:
        self._stop.set()
        assert self._task is not None
        await self._task
        assert self.acks and all(a["ok"] for a in self.acks), [a for a in self.acks if not a["ok"]]
        seqs = [a["data"]["message"]["seq"] for a in self.acks]
        assert seqs == sorted(seqs)
        delivered: list[dict[str, Any]] = []
        while len(delivered) < len(self.acks):  # the fuzzing member's accepted sends arrive in between
            message = await self.chat.next()
            if message["author"] and message["author"]["id"] == self.user_id:
                delivered.append(message)
        assert [m["text"] for m in delivered] == [f"good {n}" for n in range(len(self.acks))]
        assert [m["seq"] for m in delivered] == seqs
        return len(self.acks)


async def _rows(client: TestClient[Any, Any], user_id: int, feedback_id: int) -> tuple[int, int | None, int]:
    """(messages the user wrote, the user's read marker in the thread, events the user caused)."""
    async with client.app[keys.ENGINE].connect() as conn:
        wrote = (await conn.execute(select(func.count()).where(messages.c.author_id == user_id))).scalar_one()
        marker = (
            await conn.execute(
                select(chat_reads.c.read_seq).where(
                    chat_reads.c.user_id == user_id, chat_reads.c.feedback_id == feedback_id
                )
            )
        ).scalar_one_or_none()
        caused = (await conn.execute(select(func.count()).where(events.c.actor_id == user_id))).scalar_one()
    return int(wrote), marker, int(caused)


async def _garbage_closes_the_connection(
    session: aiohttp.ClientSession, base_url: str, token: str, namespace: str, frame: str
) -> None:
    raw = await RawSocket.open(session, base_url)
    try:
        await raw.connect([namespace], token)
        await raw.ws.send_str(frame)
        await raw.closed()
    finally:
        await raw.close()


def _placeholder(num: int) -> dict[str, Any]:
    return {"_placeholder": True, "num": num}


@pytest.fixture(params=["postgresql", "sqlite"])
def fuzz_settings(request: pytest.FixtureRequest) -> Settings:
    chosen: Settings = request.getfixturevalue("pg_settings" if request.param == "postgresql" else "sqlite_settings")
    return chosen


async def test_every_event_survives_hostile_payloads(
    make_client: AppFactory, fuzz_settings: Settings, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    # Sends are not budgeted here: the fuzzing member's accepted sends and the other member's steady ones.
    client = await make_client(fuzz_settings, chat_send_burst=100_000, chat_send_rate=100_000.0)
    a, b = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, a))["id"]
    await join(client, pid, b["user"]["id"])
    fid = await first_thread(client, auth(a), pid)
    world = World(pid, fid, a["access_token"])
    base_url = str(client.make_url("/"))
    before = await _rows(client, a["user"]["id"], fid)
    ledger = Ledger()
    catalogue = client_events()
    assert {(e.namespace, e.name) for e in catalogue} >= {
        ("/chat", "send"),
        ("/projects", "subscribe"),
        ("/", "reauth"),
    }

    other = await ChatClient().connect(client, b["access_token"])
    assert (await other.join(fid))["ok"]
    good = GoodTraffic(other, fid, b["user"]["id"])
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, base_url)
        await raw.connect([ns.path for ns in NAMESPACES], a["access_token"])
        assert (await raw.call("/chat", "join", {"feedback_id": fid}))["ok"]  # in the room the other member uses
        good.start()
        try:
            for event in catalogue:
                base = valid_payload(event, world)
                cases = [*table_payloads(event, world)]
                cases += [(f"drawn[{n}]", p) for n, p in enumerate(drawn_payloads(base, SOCKET_EXAMPLES))]
                for label, payload in cases:
                    try:
                        ack = await raw.call(event.namespace, event.name, payload)
                    except AssertionError as exc:  # the connection ended: say which payload ended it
                        raise AssertionError(
                            f"{event.namespace}:{event.name} {label} {payload!r:.300}: {exc}"
                        ) from None
                    ledger.note(event, payload, ack, expected(event, payload), label)
                # A second argument: one payload object per event.
                ack = await raw.call(event.namespace, event.name, base, {"x": 1})
                ledger.note(event, base, ack, "validation_failed", "extra argument")
                # Binary attachments where the schema wants JSON, in each field and as the whole payload.
                for name in base:
                    payload = {**base, name: _placeholder(0)}
                    ack = await raw.call_binary(event.namespace, event.name, payload, [b"\x00\xff"])
                    ledger.note(event, payload, ack, "validation_failed", f"{name}=binary")
                ack = await raw.call_binary(event.namespace, event.name, _placeholder(0), [b"{}"])
                ledger.note(event, "binary", ack, "validation_failed", "binary payload")
            for ns in NAMESPACES:
                for name in UNKNOWN_EVENTS:
                    ack = await raw.call(ns.path, name, {"feedback_id": fid})
                    ledger.note(ClientEvent(ns.path, name, None), name, ack, "unknown_event", "unknown event")
            # The fuzzing connection still works.
            assert (await raw.call("/chat", "join", {"feedback_id": fid}))["ok"]
            # Garbage below the event layer closes the connection that sent it, and only that one.
            send = {"feedback_id": fid, "client_id": str(uuid.uuid4())}
            garbage = {
                "a frame past the size limit": '42/chat,1["send",' + json.dumps({**send, "text": HUGE}) + "]",
                "nesting past the parser": '42/chat,1["join",' + "[" * NESTING + "]" * NESTING + "]",
                "a reserved event name": '42/chat,1["disconnect",{}]',
                "NaN": '42/chat,1["read",{"feedback_id":' + str(fid) + ',"seq":NaN}]',
                "a lone surrogate": '42/chat,1["send",' + json.dumps({**send, "text": "\ud800"}) + "]",
            }
            for frame in garbage.values():
                await _garbage_closes_the_connection(session, base_url, a["access_token"], "/chat", frame)
        finally:
            delivered = await good.stop_and_check()
            await raw.close()
            await other.close()
    elapsed = time.perf_counter() - started

    wrote, marker, caused = await _rows(client, a["user"]["id"], fid)
    assert wrote == before[0] + len(ledger.sent)  # only the acked sends were stored, each once
    assert marker == (ledger.read_seq if ledger.read_seq is not None else before[1])
    assert caused == before[2]  # no socket event of the fuzzing member wrote to the event log
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert ledger.answers > 500 and ledger.refused > 400, (ledger.answers, ledger.refused)
    print(  # the budget and wall time, shown with -s
        f"\nsocket fuzz: {ledger.answers} answers ({ledger.refused} refused, {len(ledger.sent)} stored sends), "
        f"{len(garbage)} connections closed, {delivered} good sends delivered, {elapsed:.1f}s"
    )


def test_the_fuzzer_covers_every_registered_event() -> None:
    """Each namespace's events are found and each of their fields can be filled; a new one needs no edit here."""
    world = World(1, 1, "t")
    assert len(LONG) < MAX_MESSAGE < len(HUGE)  # the table's long string fits a frame, the garbage one does not
    catalogue = client_events()
    assert {e.namespace for e in catalogue} == {ns.path for ns in NAMESPACES}
    for event in catalogue:
        base = valid_payload(event, world)
        assert expected(event, base) is None, (event, base)
        for label, payload in table_payloads(event, world):
            if label.startswith("without") or label in ("an extra field", "no payload"):
                assert expected(event, payload) == "validation_failed", (event, label)
