"""Drain benchmark: how long a node takes, from SIGTERM, to tell N browser sockets to go and to exit.

    python -m bench.drain [--sockets 2000 5000] [--transport websocket]

Starts `roughcut serve` on the embedded default in a temporary folder, opens N connections with the
official socket.io-client (tests/js/drain_watch.mjs, as a browser tab would), sends SIGTERM and reports
the seconds until every client got `disconnect` and until the process exited. Needs `make test` (the
Node packages under tests/js).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import free_port

WATCH = Path(__file__).resolve().parents[1] / "tests" / "js" / "drain_watch.mjs"
DEMO = {"email": "demo@roughcut.local", "password": "roughcut-demo"}
TIMEOUT = 300.0


async def once(count: int, transport: str) -> dict[str, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "DATA_DIR"))}
    with tempfile.TemporaryDirectory() as folder:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "roughcut", "serve", "--port", str(port), cwd=folder, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert server.stdout is not None
        while not (await asyncio.wait_for(server.stdout.readline(), TIMEOUT)).startswith(b"demo login:"):
            pass
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base) as http, http.post("/api/v1/auth/login", json=DEMO) as resp:
            token = (await resp.json())["access_token"]
        node = shutil.which("node") or "node"
        clients = await asyncio.create_subprocess_exec(
            node, str(WATCH), base, token, str(count), transport, stdout=asyncio.subprocess.PIPE
        )
        assert clients.stdout is not None
        opened = json.loads(await asyncio.wait_for(clients.stdout.readline(), TIMEOUT))
        signalled = time.time()
        server.send_signal(signal.SIGTERM)
        gone = json.loads(await asyncio.wait_for(clients.stdout.readline(), TIMEOUT))
        await asyncio.wait_for(server.wait(), TIMEOUT)
        exited = time.time() - signalled
        await clients.wait()
    return {
        "sockets": count,
        "transport": transport,
        "connect_s": round(opened["ms"] / 1000, 2),
        "all_told_s": round(gone["at"] / 1000 - signalled, 2),
        "exit_s": round(exited, 2),
        "reasons": gone["reasons"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--transport", choices=["websocket", "polling"], default="websocket")
    args = parser.parse_args()
    print(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count()}))
    for count in args.sockets:
        print(json.dumps(await once(count, args.transport)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
