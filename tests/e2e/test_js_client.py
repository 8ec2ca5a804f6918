"""The chat flow with the official JavaScript client: socket.io-client v4 driven by tests/js/chat_flow.mjs."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.chat_client import first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
SCRIPT = JS_DIR / "chat_flow.mjs"
TIMEOUT = 60.0


def _node() -> str:
    """The node binary, failing (never skipping) when the JS side is not installed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js 18+ is needed for the JS client test: install it, then run `make test`.")
    if not (JS_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        pytest.fail(
            "tests/js/node_modules is missing: run `make test` "
            "(it installs socket.io-client with `npm ci --prefix tests/js`)."
        )
    return node


async def _run_flow(node: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run the Node script and return the one JSON line it prints."""
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT.relative_to(ROOT)),
        json.dumps(inputs),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"chat_flow.mjs did not finish within {TIMEOUT:.0f} s")
    assert proc.returncode == 0, f"chat_flow.mjs exited {proc.returncode}:\n{err.decode()}\n{out.decode()}"
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got:\n{out.decode()}\nstderr:\n{err.decode()}"
    observed: dict[str, Any] = json.loads(lines[0])
    return observed


def _message(ack: dict[str, Any]) -> dict[str, Any]:
    assert ack["ok"] is True, ack
    message: dict[str, Any] = ack["data"]["message"]
    return message


# WebSocket from the start (the app's choice), long polling upgraded to a WebSocket (the library's
# default), and long polling only: the server writes WebSocket frames itself (realtime/direct_socket.py).
TRANSPORTS = {"websocket": ["websocket"], "upgrade": ["polling", "websocket"], "polling": ["polling"]}


@pytest.mark.parametrize("transports", list(TRANSPORTS.values()), ids=list(TRANSPORTS))
async def test_js_client_chat_flow(client: TestClient[Any, Any], mailbox: Mailbox, transports: list[str]) -> None:
    node = _node()
    a, b = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, a))["id"]
    await join(client, pid, b["user"]["id"])
    fid = await first_thread(client, auth(a), pid)
    a_id, b_id = a["user"]["id"], b["user"]["id"]

    seen = await _run_flow(
        node,
        {
            "url": str(client.make_url("/")).rstrip("/"),
            "a": {"token": a["access_token"], "user_id": a_id},
            "b": {"token": b["access_token"], "user_id": b_id},
            "feedback_id": fid,
            "transports": transports,
        },
    )
    assert seen["client"]["version"].startswith("4.")
    assert seen["transport"] == transports[-1]  # polling first was upgraded to the WebSocket

    # Refused at connect, with the code in connect_error's err.data.
    assert seen["refused"]["no_token"]["connect_error"]["data"] == {"code": "token_missing"}
    assert seen["refused"]["bad_token"]["connect_error"]["data"] == {"code": "token_invalid"}

    empty = {"feedback_id": fid, "last_seq": 0, "read_seq": 0, "missed": [], "truncated": False}
    assert seen["join"] == {"a": {"ok": True, "data": empty}, "b": {"ok": True, "data": empty}}

    # Stored, then delivered live to B exactly as acked to A.
    first = _message(seen["send"]["ack"])
    assert seen["send"]["ack"]["data"]["duplicate"] is False
    assert first["seq"] == 1
    assert first["feedback_id"] == fid
    assert first["client_id"] == seen["send"]["client_id"]
    assert first["author"] == {"id": a_id, "nickname": "Tester"}
    assert first["text"] == "First cut looks great"
    assert first["created_at"].endswith("Z")
    assert seen["send"]["b_received"] == first

    # The retry with the same client_id: the same stored message, flagged.
    retry = seen["retry"]["ack"]
    assert _message(retry) == first
    assert retry["data"]["duplicate"] is True

    # B was away for exactly three messages and gets exactly those, in order, on rejoin.
    offline = [_message(ack) for ack in seen["offline"]["acks"]]
    assert [m["seq"] for m in offline] == [2, 3, 4]
    assert [m["text"] for m in offline] == ["while away 1", "while away 2", "while away 3"]
    assert seen["offline"]["after_seq"] == 1
    rejoin = seen["offline"]["rejoin"]
    assert rejoin["ok"] is True, rejoin
    assert rejoin["data"]["missed"] == offline
    assert rejoin["data"]["last_seq"] == 4
    assert rejoin["data"]["truncated"] is False

    # Live again after the rejoin.
    live = _message(seen["live"]["ack"])
    assert seen["live"]["b_received"] == live
    assert live["seq"] == 5

    # What B saw, live or recovered: every seq once, gap-free; A's socket got every stored message.
    b_seqs = [first["seq"], *(m["seq"] for m in rejoin["data"]["missed"]), seen["live"]["b_received"]["seq"]]
    assert b_seqs == list(range(1, 6))
    assert seen["a_messages"] == [first, *offline, live]
    assert len({m["id"] for m in seen["a_messages"]}) == 5

    # Typing from A reaches B (start, then stop).
    assert seen["typing"]["ack"] == {"ok": True, "data": {}}
    assert seen["typing"]["b_received"] == {"feedback_id": fid, "user_id": a_id, "typing": True}
    assert seen["typing"]["stop_ack"] == {"ok": True, "data": {}}
    assert seen["typing"]["b_received_stop"] == {"feedback_id": fid, "user_id": a_id, "typing": False}

    # B's read marker reaches A.
    assert seen["read"]["seq"] == 5
    assert seen["read"]["ack"] == {"ok": True, "data": {"read_seq": 5}}
    assert seen["read"]["a_received"] == {"feedback_id": fid, "user_id": b_id, "seq": 5}

    # A validation error in the ack envelope; nothing was stored.
    invalid = seen["invalid"]["ack"]
    assert invalid["ok"] is False
    assert invalid["error"]["code"] == "validation_failed"
    assert isinstance(invalid["error"]["message"], str)

    # No extra message events anywhere (the duplicate was not re-broadcast); A is not told of its own typing.
    assert seen["leftover"]["a"]["message"] == []
    assert seen["leftover"]["b"]["message"] == []
    assert seen["leftover"]["a"]["typing"] == []

    history = await (await client.get(f"/api/v1/feedback/{fid}/messages", headers=auth(b))).json()
    assert [m["seq"] for m in history["items"]] == [1, 2, 3, 4, 5]
    assert [m["id"] for m in history["items"]] == [m["id"] for m in seen["a_messages"]]
