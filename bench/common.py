"""Shared benchmark plumbing: a bench database, a server process pinned to a core, latency stats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from roughcut.storage import migrate
from roughcut.storage.db import make_engine

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST = os.environ.get("BENCH_PG_HOST", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_CPU = 0
READY_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0
CLIENT_CPU = 1
BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def fresh_database(name: str) -> str:
    """Drop and create `name`, migrate it, return its SQLAlchemy URL."""
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = f"postgresql+asyncpg://{PG_HOST}/{name}"
    engine = make_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@contextlib.asynccontextmanager
async def fresh_redis_prefix(name: str) -> AsyncIterator[str]:
    """A Redis key prefix of this run's own, its keys deleted when the block ends.

    A fixed prefix kept the response cache of the run before: over a freshly seeded database with the same ids,
    its entries were served (stale bodies) and the next run's hit ratio depended on which run came before.
    """
    prefix = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        redis = Redis.from_url(REDIS_URL)
        try:
            async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
                await redis.delete(key)
        finally:
            await redis.aclose()


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pin_to(cpu: int) -> None:
    """Keep this process on one core (the other runs the server), where the OS allows it."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVICES = ("postgres", "redis-server")


def services_cpu_seconds() -> dict[int, float]:
    """CPU time used so far by each PostgreSQL and Redis process (they are not pinned: they share the box)."""
    used = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if (entry / "comm").read_text().strip() in SERVICES:
                used[int(entry.name)] = cpu_seconds(int(entry.name))
    return used


def services_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds PostgreSQL and Redis used since `before` (processes that exited meanwhile are not counted)."""
    now = services_cpu_seconds()
    return sum(used - before.get(pid, 0.0) for pid, used in now.items())


def steal_seconds() -> float:
    """CPU time the hypervisor took from this machine, all cores together (Linux /proc/stat, `steal`)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, int]:
    """A process's resident bytes: RSS, PSS (shared pages split among their users) and USS (its private pages)."""
    kib = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        kib[key] = int(value.split()[0])
    return {
        "rss": kib["Rss"] * 1024,
        "pss": kib["Pss"] * 1024,
        "uss": (kib["Private_Clean"] + kib["Private_Dirty"]) * 1024,
    }


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    """`cmd` under `taskset -c cpu` where taskset exists."""
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def ensure_node_modules() -> None:
    """Install the pinned Node packages (`npm ci` from bench/package-lock.json) when one is missing."""
    wanted = json.loads((BENCH_DIR / "package.json").read_text())["dependencies"]
    if all((BENCH_DIR / "node_modules" / name).exists() for name in wanted):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("bench: needs Node.js and npm for the load generator and the Node baseline")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BENCH_DIR, check=True, stdout=subprocess.DEVNULL)


def seed_rooms(db_url: str, data_dir: Path, rooms: int, members: int) -> Path:
    """Run `roughcut loadtest-seed` on a bench database; its tokens are signed with data_dir's key."""
    out = data_dir / "seed.json"
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "roughcut", "loadtest-seed", "--rooms", str(rooms), "--members", str(members)]
    subprocess.run([*cmd, "--out", str(out)], env=env, check=True, stdout=subprocess.DEVNULL)
    return out


@dataclass
class Server:
    base: str
    pid: int


@contextlib.asynccontextmanager
async def launch(
    name: str, args: list[str], env: dict[str, str] | None = None, root: Path | None = None
) -> AsyncIterator[Server]:
    """Run `python <args> --port P` pinned to SERVER_CPU until the block ends, once /readyz answers."""
    async with launch_command(name, [sys.executable, *args], env, root) as srv:
        yield srv


@contextlib.asynccontextmanager
async def launch_command(
    name: str, cmd: list[str], env: dict[str, str] | None = None, root: Path | None = None
) -> AsyncIterator[Server]:
    """Run `<cmd> --port P` in `root` (default: this checkout) pinned to SERVER_CPU until the block ends, once
    /readyz answers."""
    port = free_port()
    cmd = pinned(SERVER_CPU, [*cmd, "--port", str(port)])
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            cwd=root or BENCH_DIR.parent,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            async with aiohttp.ClientSession() as http:
                while True:
                    if proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"{name} exited: {log.read().decode(errors='replace')[-2000:]}")
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{base}/readyz") as resp:
                            if resp.status == 200:
                                break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name} did not become ready")
                    await asyncio.sleep(0.2)
            yield Server(base, proc.pid)
        finally:
            stop(name, proc)


def stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL past EXIT_TIMEOUT so no server outlives the bench; a slow exit is reported."""
    proc.terminate()
    try:
        proc.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{name} did not exit within {EXIT_TIMEOUT:g} s of SIGTERM; killed") from None


def relay() -> contextlib.AbstractAsyncContextManager[Server]:
    """Run the bare python-socketio relay (bench/relay.py) pinned to SERVER_CPU until the block ends."""
    return launch("relay", ["-m", "bench.relay"])


def node_server() -> contextlib.AbstractAsyncContextManager[Server]:
    """Run the Node socket.io baseline (bench/node_server.mjs) pinned to SERVER_CPU until the block ends.

    `--expose-gc` lets bench/idle_memory.py ask it for a full collection (SIGUSR2) before reading its RSS.
    """
    return launch_command("node", ["node", "--expose-gc", str(BENCH_DIR / "node_server.mjs")])


@contextlib.asynccontextmanager
async def server(env: dict[str, str], data_dir: Path, root: Path | None = None) -> AsyncIterator[Server]:
    """Run `roughcut serve` pinned to SERVER_CPU until the block ends; from the checkout `root` (e.g. a git
    worktree of an older revision, for an A/B run; `python -m` imports the package from there) or this one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", "DEMO_USER": "false", **env}
    async with launch("roughcut", ["-m", "roughcut", "serve"], full_env, root) as srv:
        yield srv


async def metric(http: aiohttp.ClientSession, base: str, name: str, having: str = "") -> float:
    """Sum of a Prometheus metric's samples (those whose line holds `having`, e.g. a label's `outcome="hit"`)."""
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and having in line and not line.startswith("#")
    )


def summarize(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    """Requests/s and latency percentiles in milliseconds."""
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

    return {
        "requests": len(ordered),
        "errors": errors,
        "rps": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2) if ordered else 0.0,
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
    }
