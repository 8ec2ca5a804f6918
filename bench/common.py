"""Shared benchmark plumbing: a bench database, a server process pinned to a core, latency stats."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from roughcut.storage import migrate
from roughcut.storage.db import make_engine

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST = os.environ.get("BENCH_PG_HOST", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_CPU = 0
READY_TIMEOUT = 60.0
CLIENT_CPU = 1


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


@dataclass
class Server:
    base: str
    pid: int


@contextlib.asynccontextmanager
async def launch(name: str, args: list[str], env: dict[str, str] | None = None) -> AsyncIterator[Server]:
    """Run `python <args> --port P` pinned to SERVER_CPU until the block ends, once /readyz answers."""
    port = free_port()
    cmd = [sys.executable, *args, "--port", str(port)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            cwd=Path(__file__).parent.parent,
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
            proc.terminate()
            proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def server(env: dict[str, str], data_dir: Path) -> AsyncIterator[Server]:
    """Run `roughcut serve` pinned to SERVER_CPU until the block ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", "DEMO_USER": "false", **env}
    async with launch("roughcut", ["-m", "roughcut", "serve"], full_env) as srv:
        yield srv


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float:
    """Sum of a Prometheus metric's samples."""
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
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
