"""Presence benchmark: 10,000 connections on 2 nodes joining in waves, a flap, and a node killed.

    python -m bench.presence [--rooms 500] [--members 20] [--wave 1000] [--flap 0.5]

Seeds R projects of M members (R x M users, one /presence socket each) in a fresh PostgreSQL database,
starts two `roughcut serve` nodes on Redis (a fresh prefix), and runs bench/presence_load.mjs: member j of
each project connects to node j % 2 and subscribes, in waves; then half of the first node's sockets
reload at once; then the second node is SIGKILLed. Reported: coalesced presence changes published per
second while connecting (the `roughcut_presence_changes_total` counter of both nodes), Redis commands
per connect (INFO `total_commands_processed`), presence events received by clients during the flap, and
how long after the kill the first node's sockets had seen every user of the dead node go offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.chat import ensure_node_modules, seed_rooms
from bench.common import REDIS_URL, Server, drop_database, fresh_database, launch
from bench.common import metric as read_metric

DB_NAME = "roughcut_bench_presence"
LOADER = Path(__file__).resolve().parent / "presence_load.mjs"
PHASE_TIMEOUT = 600.0


async def redis_commands() -> int:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return int((await client.info("stats"))["total_commands_processed"])
    finally:
        await client.aclose()


async def changes(nodes: list[Server]) -> float:
    async with aiohttp.ClientSession() as http:
        return sum([await read_metric(http, n.base, "roughcut_presence_changes_total") for n in nodes])


async def run(args: argparse.Namespace, env: dict[str, str], seed: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(launch(f"node{i}", ["-m", "roughcut", "serve"], env)) for i in range(2)
        ]
        cmd = ["node", str(LOADER), "--seed", str(seed), "--urls", ",".join(n.base for n in nodes)]
        cmd += ["--wave", str(args.wave), "--flap", str(args.flap)]
        proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdin is not None
        commands, published = await redis_commands(), await changes(nodes)
        while True:
            line = json.loads(await asyncio.wait_for(proc.stdout.readline(), PHASE_TIMEOUT))
            print(json.dumps(line), flush=True)
            if line["phase"] == "connected":
                elapsed = line["ms"] / 1000
                result["connections"] = line["connections"]
                result["connect_s"] = round(elapsed, 1)
                result["redis_commands_per_connect"] = round(
                    (await redis_commands() - commands) / line["connections"], 2
                )
                emitted = await changes(nodes) - published
                result["changes_published"] = int(emitted)
                result["changes_per_s_while_connecting"] = round(emitted / elapsed, 1)  # published ≤ 1 s after
                result["transitions_while_connecting"] = line["connections"]  # each user went offline → online
                result["events_received_while_connecting"] = line["received"]
            elif line["phase"] == "flapped":
                result["flap_sockets"] = line["sockets"]
                result["connections_failed"] = line["failed"]
                result["events_received_during_flap"] = line["received_during"]
            elif line["phase"] == "ready_to_kill":
                os.kill(nodes[1].pid, signal.SIGKILL)
                proc.stdin.write(f"killed {int(time.time() * 1000)}\n".encode())
                await proc.stdin.drain()
            elif line["phase"] == "dead_node":
                result.update(dead_users=line["dead_users"], seen_offline=line["seen_offline"])
                result["dead_node_users_offline_after_s"] = line["offline_after_s"]
                break
        await proc.wait()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--wave", type=int, default=1000)
    parser.add_argument("--flap", type=float, default=0.5)
    args = parser.parse_args()
    ensure_node_modules()
    db_url = await fresh_database(DB_NAME)
    env = {"DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": f"bench-presence-{uuid.uuid4().hex[:8]}"}
    env.update(LOG_LEVEL="WARNING", DEMO_USER="false")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-presence-") as tmp:
            env["DATA_DIR"] = tmp
            seed = seed_rooms(db_url, Path(tmp), args.rooms, args.members)
            result = await run(args, env, seed)
    finally:
        await drop_database(DB_NAME)
    summary = {"summary": "presence", "rooms": args.rooms, "members": args.members, "wave": args.wave}
    summary.update(machine=f"{platform.machine()} {platform.python_version()}", **result)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
