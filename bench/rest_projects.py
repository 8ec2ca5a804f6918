"""REST benchmark: 1,000 projects with 10 members each on PostgreSQL; GET /projects and GET /projects/{id}.

    python -m bench.rest_projects [--concurrency 32] [--seconds 15] [--runs 3] [--scenarios detail]
    python -m bench.rest_projects --env RESPONSE_CACHE=false ...   (roughcut settings for A/B runs)
    python -m bench.rest_projects --against /tmp/old ...   (A/B: a checkout of another revision, alternated)

Prints one JSON line per scenario and run: requests/s, p50/p99/max latency, SQL statements per request, server
CPU per request, and the share of reads the response cache answered (`cache_hit_ratio`; the CPU per request
depends on it, so compare runs at like ratios, or with the cache off). One server serves every run, so later
runs read a warmer cache. With `--against DIR`, each run starts a server from DIR and one from this checkout in
turn, each on an empty cache of its own, and sends both the same sequence of requests; the summary then gives
each checkout's median and the median of the per-run ratios this/DIR.
The server runs pinned to core 0, this load generator on core 1.
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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

from bench.common import (
    CLIENT_CPU,
    REDIS_URL,
    Server,
    cpu_seconds,
    drop_database,
    fresh_database,
    fresh_redis_prefix,
    metric,
    pin_to,
    server,
    summarize,
)
from roughcut.config import Settings
from roughcut.domain.project_model import STAGE_ORDER
from roughcut.security.tokens import JwtTokens, load_keyring
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine

DB_NAME = "roughcut_bench_rest"
PROJECTS, MEMBERS, USERS = 1000, 10, 2000
WARMUP = 3.0
SCENARIOS = ("list", "detail")
CACHE_READS = "roughcut_response_cache_reads_total"


async def seed(url: str) -> dict[int, list[int]]:
    """Users, projects with eight stages, ten members each; returns each user's project ids."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    engine = make_engine(url)
    mine: dict[int, list[int]] = {}
    async with engine.begin() as conn:
        await conn.execute(
            insert(t.users),
            [
                {
                    "id": i,
                    "email": f"u{i}@bench.test",
                    "nickname": f"User {i}",
                    "login_method": "email",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, USERS + 1)
            ],
        )
        await conn.execute(
            insert(t.projects),
            [
                {
                    "id": p,
                    "name": f"Project {p} {rng.choice(['spring', 'summer', 'brand', 'launch'])}",
                    "manager": f"Manager {p % 37}",
                    "consumer": f"Client {p % 53}",
                    "description": "",
                    "color": "",
                    "status": "in_progress",
                    "current_stage": "filming",
                    "created_at": now - timedelta(minutes=p),
                    "updated_at": now - timedelta(minutes=p),
                }
                for p in range(1, PROJECTS + 1)
            ],
        )
        await conn.execute(
            insert(t.project_stages),
            [
                {
                    "project_id": p,
                    "stage": s.value,
                    "position": i,
                    "start_at": now + timedelta(days=i),
                    "end_at": now + timedelta(days=i + 2),
                    "status": "todo",
                }
                for p in range(1, PROJECTS + 1)
                for i, s in enumerate(STAGE_ORDER)
            ],
        )
        rows = []
        for p in range(1, PROJECTS + 1):
            people = rng.sample(range(1, USERS + 1), MEMBERS)
            for n, user in enumerate(people):
                rows.append(
                    {"project_id": p, "user_id": user, "role": "owner" if n == 0 else "member", "joined_at": now}
                )
                mine.setdefault(user, []).append(p)
        await conn.execute(insert(t.project_members), rows)
        for table in ("users", "projects"):
            await conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    await engine.dispose()
    return mine


async def timed_get(
    http: aiohttp.ClientSession,
    rng: random.Random,
    tokens: dict[int, str],
    users: list[int],
    mine: dict[int, list[int]],
    scenario: str,
) -> tuple[int, float]:
    """One read as a random one of `users` (the list, or one of the user's projects): its status and seconds."""
    user = rng.choice(users)
    path = "/api/v1/projects" if scenario == "list" else f"/api/v1/projects/{rng.choice(mine[user])}"
    started = time.perf_counter()
    async with http.get(path, headers={"Authorization": f"Bearer {tokens[user]}"}) as resp:
        await resp.read()
        return resp.status, time.perf_counter() - started


async def load(
    srv: Server,
    tokens: dict[int, str],
    mine: dict[int, list[int]],
    scenario: str,
    concurrency: int,
    seconds: float,
    warmup: float = WARMUP,
) -> dict[str, Any]:
    """Hit one endpoint from `concurrency` workers for `seconds` after a warm-up."""
    rng = random.Random(1)
    users = list(mine)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    base = srv.base
    async with aiohttp.ClientSession(base, connector=connector) as http:

        async def worker(until: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                status, took = await timed_get(http, rng, tokens, users, mine, scenario)
                if record:
                    if status == 200:
                        latencies.append(took)
                    else:
                        errors += 1

        await asyncio.gather(*(worker(time.perf_counter() + warmup, False) for _ in range(concurrency)))
        statements = await metric(http, base, "roughcut_db_statements_total")
        connects = await metric(http, base, "roughcut_db_connections_opened_total")
        hits = await metric(http, base, CACHE_READS, 'outcome="hit"')
        misses = await metric(http, base, CACHE_READS, 'outcome="miss"')
        cpu = cpu_seconds(srv.pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(srv.pid) - cpu
        statements = await metric(http, base, "roughcut_db_statements_total") - statements
        connects = await metric(http, base, "roughcut_db_connections_opened_total") - connects
        hits = await metric(http, base, CACHE_READS, 'outcome="hit"') - hits
        misses = await metric(http, base, CACHE_READS, 'outcome="miss"') - misses
    result = summarize(latencies, elapsed, errors)
    result["sql_per_request"] = round(statements / max(1, result["requests"] + errors), 2)
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(1, result["requests"] + errors), 3)
    result["server_cpu_util"] = round(cpu / elapsed, 2)
    result["db_connects_per_s"] = round(connects / elapsed, 1)
    result["cache_hit_ratio"] = round(hits / (hits + misses), 2) if hits + misses else None
    return {"scenario": scenario, "concurrency": concurrency, **result}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="roughcut settings to add")
    parser.add_argument("--warmup", type=float, default=WARMUP, help="seconds of load before each measurement")
    parser.add_argument("--against", type=Path, help="a checkout of another revision to alternate with (A/B)")
    args = parser.parse_args()
    pin_to(CLIENT_CPU)
    url = await fresh_database(DB_NAME)
    mine = await seed(url)
    async with fresh_redis_prefix("rest") as prefix:
        with tempfile.TemporaryDirectory() as tmp:
            results = await measure(args, url, mine, prefix, Path(tmp))
    await drop_database(DB_NAME)
    summarize_runs(args.scenarios, results)


def access_tokens(data_dir: Path, users: Iterable[int]) -> dict[int, str]:
    """A valid access token per user, signed with the keyring the server will load from `data_dir`."""
    issuer = JwtTokens(load_keyring(Settings(data_dir=data_dir)), "roughcut", "roughcut", 3600)
    return {u: issuer.issue_access(u, 1, 0)[0] for u in users}


def bench_env(url: str, prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's settings for a REST bench: PostgreSQL, Redis under `prefix`, API-wide limits out of the way
    (one load generator is one client address: the limits would measure themselves)."""
    return {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        "RATE_API": "1000000/60",
        "RATE_API_IP": "1000000/60",
        **(extra or {}),
    }


async def measure(
    args: argparse.Namespace, url: str, mine: dict[int, list[int]], prefix: str, data_dir: Path
) -> list[dict[str, Any]]:
    """Every run of every scenario (against each checkout): one JSON line each."""
    tokens = access_tokens(data_dir, mine)
    env = bench_env(url, prefix, dict(item.split("=", 1) for item in args.env))
    results = []

    async def run_on(srv: Server, run: int, code: str) -> None:
        for scenario in args.scenarios:
            r = await load(srv, tokens, mine, scenario, args.concurrency, args.seconds, args.warmup)
            r.update(run=run + 1, code=code)
            results.append(r)
            print(json.dumps(r), flush=True)

    if args.against is None:
        async with server(env, data_dir) as srv:
            for run in range(args.runs):
                await run_on(srv, run, "this")
        return results
    for run in range(args.runs):
        for code, root in (("against", args.against), ("this", None)):
            async with fresh_redis_prefix("rest") as own, server({**env, "REDIS_PREFIX": own}, data_dir, root) as srv:
                await run_on(srv, run, code)
    return results


def summarize_runs(scenarios: list[str], results: list[dict[str, Any]]) -> None:
    for scenario in scenarios:
        for code in sorted({r["code"] for r in results}):
            runs = [r for r in results if r["scenario"] == scenario and r["code"] == code]
            print(json.dumps({"scenario": scenario, "code": code, **_medians(runs)}), flush=True)
        pairs = _pairs([r for r in results if r["scenario"] == scenario])
        if pairs:
            cpu = [this["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"] for base, this in pairs]
            rps = [this["rps"] / base["rps"] for base, this in pairs]
            print(
                json.dumps(
                    {
                        "scenario": scenario,
                        "summary": "this/against, median of per-run ratios",
                        "cpu_per_request": [round(x, 3) for x in cpu],
                        "cpu_per_request_median": round(statistics.median(cpu), 3),
                        "rps_median": round(statistics.median(rps), 3),
                    }
                ),
                flush=True,
            )


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "summary": "median of runs",
        "machine": f"{platform.machine()} {platform.python_version()}",
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "sql_per_request": statistics.median(r["sql_per_request"] for r in runs),
        "server_cpu_ms_per_request": statistics.median(r["server_cpu_ms_per_request"] for r in runs),
        "server_cpu_util": statistics.median(r["server_cpu_util"] for r in runs),
        "cache_hit_ratios": [r["cache_hit_ratio"] for r in runs],
    }


def _pairs(results: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(against, this) of each run, when the run measured both."""
    by_run: dict[int, dict[str, dict[str, Any]]] = {}
    for r in results:
        by_run.setdefault(r["run"], {})[r["code"]] = r
    return [(codes["against"], codes["this"]) for codes in by_run.values() if {"against", "this"} <= set(codes)]


if __name__ == "__main__":
    asyncio.run(main())
