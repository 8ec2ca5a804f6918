"""Cluster chat benchmark: 1, 2 and 3 `roughcut serve` nodes behind HAProxy, stock fan-out vs room routing.

    python -m bench.cluster [--nodes 1 2 3] [--rooms 30] [--members 10] [--rate 300] [--seconds 10]

Every node shares PostgreSQL and Redis (a fresh Redis prefix per run). The Node load generator
(bench/chat_load.mjs) opens one /chat WebSocket per member through HAProxy, which places them either
`spread` (round robin per connection: every node hosts some members of every room) or `affine` (by the
socket's `room` query parameter: a room's members on one node, as a balancer that routes by project
would). Each configuration runs with ROOM_ROUTING=false (every node receives every committed batch, the
stock single-channel fan-out) and true (a node receives only its rooms' topics). Reported per run:
delivered/s, p50/p99, CPU seconds per node and Redis's, and what each node received from the broker
(messages, bytes: what it had to decode) against the stock run of the same shape. Nodes share core 0 and
the generator and HAProxy core 1, so CPU seconds per delivered message is the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.chat import CHAT_BUDGET, DB_NAME, DRAIN_SECONDS, LOADER, LOADER_OVERHEAD, ensure_node_modules, seed_rooms
from bench.common import CLIENT_CPU, REDIS_URL, Server, cpu_seconds, drop_database, free_port, fresh_database, launch
from bench.common import metric as read_metric

PLACEMENTS = ("spread", "affine")
MODES = {"stock": "false", "routed": "true"}
HAPROXY_READY_TIMEOUT = 10.0


def haproxy_config(port: int, nodes: list[Server], placement: str) -> str:
    """A minimal HTTP balancer for WebSocket-only clients (no stickiness needed: one connection each)."""
    servers = [f"    server n{i} {srv.base.removeprefix('http://')}" for i, srv in enumerate(nodes)]
    if placement == "affine":
        rules = [f"    use-server n{i} if {{ urlp_val(room),mod({len(nodes)}) -m int {i} }}" for i in range(len(nodes))]
    else:
        rules = []
    return "\n".join(
        [
            "global",
            "    maxconn 8000",  # two descriptors per proxied connection within the usual 20k limit
            "defaults",
            "    mode http",
            "    timeout connect 5s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout tunnel 1h",
            f"frontend chat\n    bind 127.0.0.1:{port}\n    default_backend nodes",
            "backend nodes",
            "    balance roundrobin",
            *rules,
            *servers,
            "",
        ]
    )


@contextlib.asynccontextmanager
async def haproxy(nodes: list[Server], placement: str, workdir: Path) -> AsyncIterator[str]:
    """HAProxy on a free port, pinned with the generator, until the block ends; yields its base URL."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise SystemExit("bench.cluster: needs haproxy (apt-get install haproxy)")
    port = free_port()
    config = workdir / f"haproxy-{port}.cfg"
    config.write_text(haproxy_config(port, nodes, placement))
    cmd = [binary, "-f", str(config)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(CLIENT_CPU), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HAPROXY_READY_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("haproxy did not start")
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def cluster(count: int, env: dict[str, str]) -> AsyncIterator[list[Server]]:
    """`count` roughcut nodes (all pinned to the server core), until the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(launch(f"node{i}", ["-m", "roughcut", "serve"], env)) for i in range(count)
        ]
        yield nodes


async def redis_cpu() -> float:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        info = await client.info("cpu")
    finally:
        await client.aclose()
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def broker_received(nodes: list[Server]) -> list[tuple[float, float]]:
    async with aiohttp.ClientSession() as http:
        return [
            (
                await read_metric(http, n.base, "roughcut_broker_received_messages_total"),
                await read_metric(http, n.base, "roughcut_broker_received_bytes_total"),
            )
            for n in nodes
        ]


async def run_one(
    count: int, mode: str, placement: str, args: argparse.Namespace, env: dict[str, str], seed: Path, tmp: Path
) -> dict[str, Any]:
    run_env = {**env, "REDIS_PREFIX": f"bench-cluster-{uuid.uuid4().hex[:8]}", "ROOM_ROUTING": MODES[mode]}
    async with cluster(count, run_env) as nodes, haproxy(nodes, placement, tmp) as base:
        received_before, cpu_before, redis_before = (
            await broker_received(nodes),
            [cpu_seconds(n.pid) for n in nodes],
            await redis_cpu(),
        )
        cmd = ["node", str(LOADER), "--seed", str(seed), "--url", base, "--server", f"{mode}-{count}"]
        cmd += ["--rate", f"{args.rate:g}", "--seconds", f"{args.seconds:g}", "--drain", f"{DRAIN_SECONDS:g}"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(CLIENT_CPU), *cmd]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), args.seconds + LOADER_OVERHEAD)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed with exit code {proc.returncode}")
        load: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        received_after, cpu_after = await broker_received(nodes), [cpu_seconds(n.pid) for n in nodes]
        redis_used = await redis_cpu() - redis_before
    delivered = max(1, int(load["delivered"]))
    node_cpu = [round(after - before, 2) for before, after in zip(cpu_before, cpu_after, strict=True)]
    received = [(int(a[0] - b[0]), int(a[1] - b[1])) for b, a in zip(received_before, received_after, strict=True)]
    return {
        "nodes": count,
        "mode": mode,
        "placement": placement,
        "sent": load["sent"],
        "delivered": load["delivered"],
        "delivered_per_s": load["delivered_per_s"],
        "lost": load.get("lost", 0),
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "node_cpu_s": node_cpu,
        "cpu_us_per_delivery": round(sum(node_cpu) / delivered * 1e6, 1),
        "redis_cpu_s": round(redis_used, 2),
        "broker_msgs_per_node": [r[0] for r in received],
        "broker_kb_per_node": [round(r[1] / 1024, 1) for r in received],
    }


def decode_shares(report: list[dict[str, Any]]) -> None:
    """Add each routed run's broker bytes per node as a share of the stock run of the same shape."""
    stock = {(r["nodes"], r["placement"]): r for r in report if r["mode"] == "stock"}
    for r in report:
        base = stock.get((r["nodes"], r["placement"]))
        if r["mode"] == "routed" and base is not None and sum(base["broker_kb_per_node"]):
            mean = sum(base["broker_kb_per_node"]) / len(base["broker_kb_per_node"])
            r["decode_share_vs_stock"] = [round(kb / mean, 2) if mean else None for kb in r["broker_kb_per_node"]]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--placement", nargs="+", default=list(PLACEMENTS), choices=PLACEMENTS)
    parser.add_argument("--rooms", type=int, default=30)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rate", type=float, default=300.0, help="messages/s sent in all rooms")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    ensure_node_modules()
    db_url = await fresh_database(DB_NAME)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "CHAT_SEND_BURST": CHAT_BUDGET,
        "CHAT_SEND_RATE": CHAT_BUDGET,
        "SOCKET_EVENT_BURST": CHAT_BUDGET,
        "SOCKET_EVENT_RATE": CHAT_BUDGET,
    }
    env.update(LOG_LEVEL="WARNING", DEMO_USER="false")
    report: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            data_dir = Path(tmp)
            env["DATA_DIR"] = str(data_dir)
            seed = seed_rooms(db_url, data_dir, args.rooms, args.members)
            for placement in args.placement:
                for count in args.nodes:
                    for mode in MODES:  # side by side: stock then routed for each shape
                        if count == 1 and mode == "routed" and placement == "affine":
                            continue  # one node: placement changes nothing
                        result = await run_one(count, mode, placement, args, env, seed, data_dir)
                        report.append(result)
                        print(json.dumps(result), flush=True)
    finally:
        if not args.keep_db:
            await drop_database(DB_NAME)
    decode_shares(report)
    summary = {"summary": "cluster", "rooms": args.rooms, "members": args.members, "rate": args.rate}
    summary.update(machine=f"{platform.machine()} {platform.python_version()}", runs=report)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
