"""`roughcut serve` with no configuration: migrates itself, prints where it is, and the demo login works."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import socketio

START_TIMEOUT = 60.0
DRAIN_BOUND = 3.0  # seconds from SIGTERM to exit with one live socket


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "DATA_DIR"))}
    proc = await asyncio.create_subprocess_exec(
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
    assert proc.stdout is not None
    try:
        banner: list[str] = []
        while not any(line.startswith("demo login:") for line in banner):
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
            assert line, "server exited before printing its banner"
            banner.append(line.decode().strip())
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
