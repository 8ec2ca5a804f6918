"""`roughcut serve` with no configuration: migrates itself, prints where it is, and the demo login works."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
import socketio

START_TIMEOUT = 60.0
DRAIN_BOUND = 3.0  # seconds from SIGTERM to exit with one live socket
STOP_BOUND = 2.0  # seconds from SIGTERM or SIGINT to exit, with WebSocket, polling and SSE clients open


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _serve(tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "DATA_DIR"))}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roughcut",
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _banner(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    banner: list[str] = []
    while not any(line.startswith("demo login:") for line in banner):
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        assert line, "server exited before printing its banner"
        banner.append(line.decode().strip())
    return banner


async def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = _free_port()
    proc = await _serve(tmp_path, port)
    try:
        banner = await _banner(proc)
        assert f"roughcut on http://localhost:{port}" in banner[0]
        assert f"API docs: http://localhost:{port}/api/docs" in banner
        email, password = banner[-1].removeprefix("demo login:").strip().split(" / ")
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/api/v1/auth/login", json={"email": email, "password": password}) as resp:
                assert resp.status == 200
                pair = await resp.json()
            async with http.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}) as resp:
                assert (await resp.json())["email"] == email
            async with http.get("/readyz") as resp:
                assert resp.status == 200
        # A live socket is told to go when the node drains (SIGTERM), so it reconnects elsewhere.
        sio = socketio.AsyncClient(reconnection=False)
        gone = asyncio.Event()
        sio.on("disconnect", lambda *_: gone.set())
        await sio.connect(f"http://127.0.0.1:{port}", auth={"token": pair["access_token"]}, transports=["websocket"])
        assert (tmp_path / "var" / "roughcut.db").exists()
        assert (tmp_path / "var" / "keys" / "current.pem").stat().st_mode & 0o077 == 0
        loop = asyncio.get_running_loop()
        signalled = loop.time()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gone.wait(), 10)
        assert await asyncio.wait_for(proc.wait(), 30) in (0, -signal.SIGTERM)
        # The drain runs while connections still work, so the socket's close handshake completes at once
        # (aiohttp's own SIGTERM handling ignored it, and the node waited out the client's 5 s close timeout).
        assert loop.time() - signalled < DRAIN_BOUND
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


JS_WATCH = Path(__file__).resolve().parents[1] / "js" / "drain_watch.mjs"  # socket.io-client v4, as browsers


async def _js_sockets(base: str, token: str, count: int, transport: str) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed: run `make test`"
    proc = await asyncio.create_subprocess_exec(
        node, str(JS_WATCH), base, token, str(count), transport, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
    assert json.loads(line)["connected"] == count, line
    return proc


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_tells_every_kind_of_client_and_exits_quickly(tmp_path: Path, stop: signal.Signals) -> None:
    """Ctrl-C in `make run` and SIGTERM from an orchestrator drain alike: sockets of the Python and the
    official JavaScript client, on WebSocket and on long polling, get `disconnect` (they reconnect
    elsewhere), and an SSE stream ends (EventSource reconnects)."""
    port = _free_port()
    proc = await _serve(tmp_path, port)
    clients: list[socketio.AsyncClient] = []
    browsers: list[asyncio.subprocess.Process] = []
    try:
        email, password = (await _banner(proc))[-1].removeprefix("demo login:").strip().split(" / ")
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base) as http:
            async with http.post("/api/v1/auth/login", json={"email": email, "password": password}) as resp:
                token = (await resp.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post("/api/v1/projects", json={"name": "Drain"}, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
                pid = (await resp.json())["id"]
            told: list[asyncio.Event] = []
            for transports in (["websocket"], ["polling"]):
                sio = socketio.AsyncClient(reconnection=False)
                gone = asyncio.Event()
                sio.on("disconnect", lambda *_, gone=gone: gone.set())
                await sio.connect(base, auth={"token": token}, transports=transports, wait_timeout=10)
                clients.append(sio)
                told.append(gone)
            browsers = [await _js_sockets(base, token, 3, t) for t in ("websocket", "polling")]
            async with http.get(f"/api/v1/projects/{pid}/events/stream", headers=headers) as stream:
                assert stream.status == 200
                loop = asyncio.get_running_loop()
                signalled = loop.time()
                proc.send_signal(stop)
                async with asyncio.timeout(STOP_BOUND * 5):  # generous: the bound is asserted below
                    while await stream.content.readany():
                        pass  # the stream ends: EventSource reconnects elsewhere
                    for gone in told:
                        await gone.wait()
                    for browser in browsers:
                        assert browser.stdout is not None
                        assert json.loads(await browser.stdout.readline())["gone"] == 3
                    assert await proc.wait() in (0, -stop)
                assert loop.time() - signalled < STOP_BOUND
    finally:
        for sio in clients:
            await sio.disconnect()
        for child in (*browsers, proc):
            if child.returncode is None:
                child.kill()
                await child.wait()
