"""Response cache benchmark: the bench/rest_projects.py data set (1,000 projects with 10 members each on
PostgreSQL, the cache in Redis), read with the cache and without (RESPONSE_CACHE=false).

    python -m bench.rest_cache [--concurrency 200] [--seconds 15] [--runs 3] [--write-share 0.05] [--warmup 10]

Scenarios: `list` (GET /projects), `detail` (GET /projects/{id}), and `mixed`: reads of a random member's
detail, list and metadata, with `--write-share` of the requests a PATCH of a project by its owner (which
drops the cached reads of its ten members). Prints one JSON line per scenario, cache mode and run
(requests/s, p50/p99/max, the hit ratio from /metrics), then the medians. The server runs pinned to core 0,
this load generator on core 1.
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
from sqlalchemy import select

from bench.common import (
    CLIENT_CPU,
    Server,
    drop_database,
    fresh_database,
    fresh_redis_prefix,
    pin_to,
    server,
    summarize,
)
from bench.rest_projects import access_tokens, bench_env, seed
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine

DB_NAME = "roughcut_bench_cache"
SCENARIOS = ("list", "detail", "mixed")
COUNTER = "roughcut_response_cache_reads_total"


async def owners(url: str) -> dict[int, int]:
    """Each project's owner."""
    engine = make_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.project_members.c.project_id, t.project_members.c.user_id).where(
                t.project_members.c.role == "owner"
            )
        )
        found = {int(p): int(u) for p, u in rows}
    await engine.dispose()
    return found


async def cache_counts(http: aiohttp.ClientSession, base: str) -> tuple[float, float]:
    """Hits and misses of every resource so far."""
    async with http.get(f"{base}/metrics") as resp:
        text = await resp.text()
    totals = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith(COUNTER + "{"):
            for outcome in totals:
                if f'outcome="{outcome}"' in line:
                    totals[outcome] += float(line.rsplit(" ", 1)[1])
    return totals["hit"], totals["miss"]


class Workload:
    """What one request of a scenario is: (method, path, token, body)."""

    def __init__(self, tokens: dict[int, str], mine: dict[int, list[int]], owner_of: dict[int, int], share: float):
        self._rng = random.Random(1)
        self._tokens, self._mine, self._owner_of, self._share = tokens, mine, owner_of, share
        self._users = list(mine)
        self._projects = list(owner_of)
        self._n = 0

    def next(self, scenario: str) -> tuple[str, str, str, dict[str, Any] | None]:
        rng = self._rng
        if scenario == "mixed" and rng.random() < self._share:
            pid = rng.choice(self._projects)
            self._n += 1
            return "PATCH", f"/api/v1/projects/{pid}", self._tokens[self._owner_of[pid]], {"description": f"r{self._n}"}
        user = rng.choice(self._users)
        kind = rng.choice(("list", "detail", "metadata")) if scenario == "mixed" else scenario
        if kind == "list":
            return "GET", "/api/v1/projects", self._tokens[user], None
        pid = rng.choice(self._mine[user])
        suffix = "/metadata" if kind == "metadata" else ""
        return "GET", f"/api/v1/projects/{pid}{suffix}", self._tokens[user], None


async def load(
    srv: Server, work: Workload, scenario: str, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """Run one scenario from `concurrency` workers for `seconds` after `warmup` seconds (which fill the cache)."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(srv.base, connector=connector) as http:

        async def worker(until: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                method, path, token, body = work.next(scenario)
                started = time.perf_counter()
                async with http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
                    await r.read()
                    ok = r.status == 200
                if record:
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker(time.perf_counter() + warmup, False) for _ in range(concurrency)))
        hits, misses = await cache_counts(http, srv.base)
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        hits_after, misses_after = await cache_counts(http, srv.base)
        hits, misses = hits_after - hits, misses_after - misses
    result = summarize(latencies, elapsed, errors)
    result["hit_ratio"] = round(hits / (hits + misses), 3) if hits + misses else None
    return {"scenario": scenario, "concurrency": concurrency, **result}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-share", type=float, default=0.05)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    pin_to(CLIENT_CPU)
    url = await fresh_database(DB_NAME)
    mine = await seed(url)
    owner_of = await owners(url)
    results = []
    async with fresh_redis_prefix("cache") as prefix:
        results = await measure(args, url, mine, owner_of, prefix)
    await drop_database(DB_NAME)
    summarize_runs(args, results)


async def measure(
    args: argparse.Namespace, url: str, mine: dict[int, list[int]], owner_of: dict[int, int], prefix: str
) -> list[dict[str, Any]]:
    """Every run of every scenario, with the cache on and off: one JSON line each."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        tokens = access_tokens(data_dir, mine)
        for cache in ("on", "off"):
            env = bench_env(url, f"{prefix}-{cache}", {"RESPONSE_CACHE": "true" if cache == "on" else "false"})
            async with server(env, data_dir) as srv:
                for run in range(args.runs):
                    for scenario in SCENARIOS:
                        work = Workload(tokens, mine, owner_of, args.write_share)
                        r = await load(srv, work, scenario, args.concurrency, args.seconds, args.warmup)
                        r.update(cache=cache, run=run + 1)
                        results.append(r)
                        print(json.dumps(r), flush=True)
    return results


def summarize_runs(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    for scenario in SCENARIOS:
        for cache in ("on", "off"):
            runs = [r for r in results if r["scenario"] == scenario and r["cache"] == cache]
            ratios = [r["hit_ratio"] for r in runs if r["hit_ratio"] is not None]
            summary = {
                "scenario": scenario,
                "cache": cache,
                "summary": "median of runs",
                "machine": f"{platform.machine()} {platform.python_version()}",
                "concurrency": args.concurrency,
                "rps": statistics.median(r["rps"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "hit_ratio": statistics.median(ratios) if ratios else None,
                "errors": sum(r["errors"] for r in runs),
            }
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
