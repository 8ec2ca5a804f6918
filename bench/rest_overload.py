"""REST under overload: 200 concurrent keep-alive clients on GET /projects and GET /projects/{id} (PostgreSQL).

    python -m bench.rest_overload [--concurrency 200] [--seconds 20]

The data set and the server are bench.rest_projects' (1,000 projects x 10 members, server pinned to core 0,
this load generator on core 1). Prints one JSON line per scenario: requests/s, p50/p99/max of the served
requests, how many took over 1 s (served or refused), how many were refused with 503, server CPU per request,
and the most (and mean) PostgreSQL connections `idle in transaction` seen while sampling pg_stat_activity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    CLIENT_CPU,
    PG_ADMIN,
    Server,
    cpu_seconds,
    drop_database,
    fresh_database,
    fresh_redis_prefix,
    pin_to,
    server,
    summarize,
)
from bench.rest_projects import WARMUP, access_tokens, bench_env, seed, timed_get

DB_NAME = "roughcut_bench_overload"
SLOW = 1.0  # seconds: the goal is no request slower than this
SAMPLE_EVERY = 0.1  # seconds between pg_stat_activity samples
IDLE_IN_TRANSACTION = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'"


async def sample_idle_in_transaction(until: float) -> list[int]:
    """Count the bench database's connections idle inside a transaction, every SAMPLE_EVERY seconds."""
    conn = await asyncpg.connect(PG_ADMIN)
    samples: list[int] = []
    try:
        while time.perf_counter() < until:
            samples.append(await conn.fetchval(IDLE_IN_TRANSACTION, DB_NAME))
            await asyncio.sleep(SAMPLE_EVERY)
    finally:
        await conn.close()
    return samples


async def load(
    srv: Server, tokens: dict[int, str], mine: dict[int, list[int]], scenario: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    """`concurrency` keep-alive clients, each sending its next request as soon as the last one is answered."""
    rng = random.Random(1)
    users = list(mine)
    served: list[float] = []
    refused = slow = errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(srv.base, connector=connector) as http:

        async def client(until: float, record: bool) -> None:
            nonlocal refused, slow, errors
            while time.perf_counter() < until:
                status, took = await timed_get(http, rng, tokens, users, mine, scenario)
                if not record:
                    continue
                slow += took > SLOW
                if status == 200:
                    served.append(took)
                elif status == 503:
                    refused += 1
                else:
                    errors += 1

        await asyncio.gather(*(client(time.perf_counter() + WARMUP, False) for _ in range(concurrency)))
        cpu = cpu_seconds(srv.pid)
        started = time.perf_counter()
        sampler = asyncio.create_task(sample_idle_in_transaction(started + seconds))
        await asyncio.gather(*(client(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(srv.pid) - cpu
        idle = await sampler
    answered = len(served) + refused + errors
    result = summarize(served, elapsed, errors)
    result["rps"] = round(answered / elapsed, 1)  # every answer, refusals included
    result["over_1s"] = slow
    result["refused_503"] = refused
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(1, answered), 3)
    result["server_cpu_util"] = round(cpu / elapsed, 2)
    result["idle_in_transaction_max"] = max(idle, default=0)
    result["idle_in_transaction_mean"] = round(statistics.fmean(idle), 2) if idle else 0.0
    return {"scenario": scenario, "concurrency": concurrency, **result}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    pin_to(CLIENT_CPU)
    url = await fresh_database(DB_NAME)
    mine = await seed(url)
    try:
        async with fresh_redis_prefix("overload") as prefix:
            await measure(args, url, mine, prefix)
    finally:
        await drop_database(DB_NAME)


async def measure(args: argparse.Namespace, url: str, mine: dict[int, list[int]], prefix: str) -> None:
    """Both scenarios against one server: one JSON line each."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        tokens = access_tokens(data_dir, mine)
        async with server(bench_env(url, prefix), data_dir) as srv:
            for scenario in ("list", "detail"):
                r = await load(srv, tokens, mine, scenario, args.concurrency, args.seconds)
                r["machine"] = f"{platform.machine()} {platform.python_version()}"
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
