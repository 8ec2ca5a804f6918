"""Idle memory per Socket.IO connection: roughcut against the bare relay and Node socket.io, in one run.

    python -m bench.idle_memory [--connections 10000] [--servers relay roughcut node]

Seeds rooms of 20 users in a fresh PostgreSQL database (`roughcut loadtest-seed`). For each server in turn
(bench/relay.py, `roughcut serve` on PostgreSQL + Redis as bench.chat runs it, bench/node_server.mjs), pinned to
core 0: read its memory once it is steady, open N idle `/chat` websockets from the Node load generator
(bench/chat_load.mjs --idle, core 1), each authenticated with its seeded token and joined to its room (roughcut
checks both; the baselines ignore the token), wait for every join's ack, let the memory settle and read it again.
The first tenth of the sockets is opened, settled and read on its own (see `measure`). Then every client goes
at once: how long the server takes to let go of all their sockets, and the CPU it spends doing so. Node gets a
full garbage collection (SIGUSR2 under --expose-gc) before each reading; the Python servers expose none, so they
are read as they are. Reports bytes per connection for RSS, PSS and USS (/proc/PID/smaps_rollup): one JSON line
per server and a summary line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from yarl import URL

from bench.chat import LOADER, SERVERS, start
from bench.common import (
    CLIENT_CPU,
    REDIS_URL,
    Server,
    cpu_seconds,
    drop_database,
    ensure_node_modules,
    fresh_database,
    memory,
    pin_to,
    pinned,
    seed_rooms,
)

DB_NAME = "roughcut_bench_idle"
MEMBERS = 20  # users per seeded room (one chat room each)
SETTLE_INTERVAL = 1.0  # seconds between two memory readings
SETTLE_TOLERANCE = 0.005  # two readings this close (share of RSS) count as settled
SETTLE_MAX = 30.0  # seconds; read anyway after this, marked unsettled
WARMUP_SHARE = 0.1  # of the connections, opened and settled first (see `measure`)
CONNECT_TIMEOUT = 900.0  # seconds for every socket to connect and join (10k on one core takes minutes)
LOADER_EXIT_TIMEOUT = 30.0
FD_MARGIN = 256  # descriptors a process needs besides its sockets
GOAL_BYTES = 20_000  # issue 12: roughcut's idle bytes per connection at 10,000 connections
KINDS = ("rss", "pss", "uss")
CLOSE_TIMEOUT = 300.0  # seconds for the server to close every socket after its clients left
CLOSE_POLL = 0.2
ERRORS = {"error", "exit_error"}


def raise_fd_limit(connections: int) -> None:
    """Lift the soft descriptor limit to the hard one; servers and the generator inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + FD_MARGIN
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise SystemExit(f"bench.idle_memory: {connections} connections need {wanted} descriptors, hard limit {hard}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def settled(pid: int, collect: bool) -> dict[str, Any]:
    """The process's memory once two readings SETTLE_INTERVAL apart agree (bounded by SETTLE_MAX)."""
    deadline = time.monotonic() + SETTLE_MAX
    if collect:
        os.kill(pid, signal.SIGUSR2)
    last = memory(pid)
    while True:
        await asyncio.sleep(SETTLE_INTERVAL)
        now = memory(pid)
        steady = abs(now["rss"] - last["rss"]) <= SETTLE_TOLERANCE * last["rss"]
        if steady or time.monotonic() > deadline:
            return {**now, "settled": steady}
        if collect:
            os.kill(pid, signal.SIGUSR2)
        last = now


@contextlib.asynccontextmanager
async def idle_sockets(srv: Server, name: str, seed_file: Path, offset: int, count: int) -> AsyncIterator[int]:
    """`count` seeded members from `offset` on, connected and joined, held open until the block ends."""
    cmd = ["node", str(LOADER), "--seed", str(seed_file), "--url", srv.base, "--server", name]
    cmd += ["--idle", "--offset", str(offset), "--connections", str(count)]
    proc = await asyncio.create_subprocess_exec(
        *pinned(CLIENT_CPU, cmd), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), CONNECT_TIMEOUT)
        if not line:
            raise RuntimeError(f"load generator exited with code {await proc.wait()} before every join was acked")
        connected: int = json.loads(line)["connected"]
        yield connected
    finally:
        proc.stdin.close()  # the generator closes its sockets and exits
        try:
            await asyncio.wait_for(proc.wait(), LOADER_EXIT_TIMEOUT)
        except TimeoutError:
            proc.kill()


HELD_STATES = {"01", "08"}  # ESTABLISHED, CLOSE_WAIT (the peer is gone, the server has not closed yet)


def held_connections(port: int) -> int:
    """Client connections to `port` the server has not closed (/proc/net/tcp and tcp6)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                local, _remote, state = row.split()[1:4]
                count += int(local.rsplit(":", 1)[1], 16) == port and state in HELD_STATES
    return count


async def let_go(port: int, pid: int) -> dict[str, Any]:
    """Seconds and server CPU seconds until the server holds none of its clients' connections after they
    all left at once."""
    started, cpu = time.monotonic(), cpu_seconds(pid)
    deadline = started + CLOSE_TIMEOUT
    while held_connections(port) and time.monotonic() < deadline:
        await asyncio.sleep(CLOSE_POLL)
    return {
        "close_s": round(time.monotonic() - started, 1),
        "close_cpu_s": round(cpu_seconds(pid) - cpu, 1),
        "closed_all": held_connections(port) == 0,
    }


def _growth(after: dict[str, Any], before: dict[str, Any], count: int) -> dict[str, int]:
    return {kind: round((after[kind] - before[kind]) / count) for kind in KINDS}


async def measure(srv: Server, name: str, seed_file: Path, connections: int) -> dict[str, Any]:
    """Memory with no sockets, after a warm-up share of them and after all; the cost of one connection.

    `per_connection` is (all - none) / N, the figure issue 12 tracks. `marginal` leaves out the warm-up
    sockets, and with them one-time costs the first connections trigger (code pages first touched, lazy
    imports, pools and caches filled), so it is closer to what each further socket adds.
    """
    collect = name == "node"
    warm = max(1, round(connections * WARMUP_SHARE))
    before = await settled(srv.pid, collect)
    started = time.monotonic()
    async with idle_sockets(srv, name, seed_file, 0, warm) as first:
        warmed = await settled(srv.pid, collect)
        async with idle_sockets(srv, name, seed_file, warm, connections - warm) as rest:
            connect_s = round(time.monotonic() - started, 1)
            after = await settled(srv.pid, collect)
    result: dict[str, Any] = {"server": name, "connections": first + rest, "warmup": first, "connect_s": connect_s}
    result.update(await let_go(URL(srv.base).port or 80, srv.pid))
    for label, reading in (("before", before), ("warmed", warmed), ("after", after)):
        result.update({f"{kind}_{label}": reading[kind] for kind in KINDS})
    result.update(per_connection=_growth(after, before, first + rest), marginal=_growth(after, warmed, rest))
    result.update(settled=before["settled"] and warmed["settled"] and after["settled"])
    return result


def _ratio(per: dict[str, int], baseline: str) -> float | None:
    if "roughcut" not in per or not per.get(baseline):
        return None
    return round(per["roughcut"] / per[baseline], 3)


async def run(args: argparse.Namespace, data_dir: Path, db_url: str) -> list[dict[str, Any]]:
    """Each chosen server in turn, its JSON line printed as it comes."""
    seed_file = seed_rooms(db_url, data_dir, math.ceil(args.connections / MEMBERS), MEMBERS)
    env = {"DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": "bench-idle"}
    results = []
    for name in args.servers:
        result: dict[str, Any] = {"server": name, "connections": args.connections}
        try:
            async with start(name, env, data_dir) as srv:
                result = await measure(srv, name, seed_file, args.connections)
        except (RuntimeError, TimeoutError) as exc:  # a server that measured but would not stop keeps its figures
            result["exit_error" if "per_connection" in result else "error"] = str(exc) or type(exc).__name__
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="run in SERVERS order")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database for inspection")
    args = parser.parse_args()
    args.servers = [name for name in SERVERS if name in args.servers]
    raise_fd_limit(args.connections)
    pin_to(CLIENT_CPU)
    ensure_node_modules()
    db_url = await fresh_database(DB_NAME)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
            results = await run(args, Path(tmp), db_url)
    finally:
        if not args.keep_db:
            await drop_database(DB_NAME)
    done = [r for r in results if "error" not in r]
    per = {r["server"]: r["per_connection"]["rss"] for r in done}
    summary: dict[str, Any] = {"summary": "idle_memory", "connections": args.connections}
    summary.update(machine=f"{platform.machine()} {platform.python_version()}", rss_per_connection=per)
    summary.update(marginal_rss_per_connection={r["server"]: r["marginal"]["rss"] for r in done})
    summary.update(uss_per_connection={r["server"]: r["per_connection"]["uss"] for r in done})
    summary.update(
        close_s={r["server"]: r["close_s"] for r in done}, close_cpu_s={r["server"]: r["close_cpu_s"] for r in done}
    )
    summary.update(roughcut_over_relay=_ratio(per, "relay"), roughcut_over_node=_ratio(per, "node"))
    summary.update(errors={r["server"]: r.get("error") or r["exit_error"] for r in results if r.keys() & ERRORS})
    summary["goals"] = {"roughcut_at_most_20000_bytes": "roughcut" in per and per["roughcut"] <= GOAL_BYTES}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
