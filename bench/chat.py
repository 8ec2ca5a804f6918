"""Chat-room benchmark: roughcut `/chat` (PostgreSQL + Redis, every message stored) against two bare baselines.

    python -m bench.chat [--rooms 50] [--members 20] [--seconds 10] [--rate 1000 2000 ...]
    python -m bench.chat --ramp [--ramp-start 500] [--ramp-factor 1.25] [--step-seconds 8] [--repeats 6]
    python -m bench.chat --servers relay roughcut ...
    python -m bench.chat --servers roughcut --rate 300 --env CHAT_SEND_RATE=20 ...   (roughcut settings for A/B runs)

Seeds R rooms of M members in a fresh PostgreSQL database (`roughcut loadtest-seed`), then runs the Node load
generator (bench/chat_load.mjs, pinned to core 1) against each chosen server pinned to core 0: the bare
python-socketio relay (bench/relay.py), `roughcut serve`, and Node socket.io (bench/node_server.mjs). Each repeat
measures every server back to back in that order (relay, roughcut, node, relay, roughcut, node, ...), so the ratios
within a repeat share the box's load of the moment. Fixed mode measures each `--rate`; ramp mode raises the rate
until p99 > 100 ms or any loss, refines between the last held and the first failed rate, then runs roughcut at half
the relay's saturation rate of the same repeat. After every roughcut run PostgreSQL must hold each sent message
exactly once with gap-free seqs (the baselines store nothing). Each run also records the server's CPU (over
the run and in its busiest second), PostgreSQL's and Redis's CPU beside it, the hypervisor's steal, and roughcut's
sends per group-commit batch. Prints one JSON line per measurement, one per
repeat in ramp mode (saturations and the ratios roughcut/relay and roughcut/node), and a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.common import (
    BENCH_DIR,
    CLIENT_CPU,
    PG_HOST,
    REDIS_URL,
    Server,
    cpu_seconds,
    drop_database,
    ensure_node_modules,
    fresh_database,
    metric,
    node_server,
    pin_to,
    pinned,
    relay,
    seed_rooms,
    server,
    services_cpu_seconds,
    services_cpu_since,
    steal_seconds,
)

DB_NAME = "roughcut_bench_chat"
# Measured in this order within a repeat: roughcut's half-relay run needs the relay's rate of the same repeat.
SERVERS = ("relay", "roughcut", "node")
LOADER = BENCH_DIR / "chat_load.mjs"
P99_LIMIT_MS = 100.0  # a rate is held while p99 stays under this, with nothing lost
RAMP_START = 500.0  # messages/s sent, all rooms together
RAMP_FACTOR = 1.25
RAMP_MAX = 200_000.0
RAMP_STEP_SECONDS = 8.0
REFINE_STEPS = 2  # geometric bisections between the last held and the first failed rate
GENERATOR_SLACK = 0.95  # a step counts only if the generator really sent this share of the rate
# Issue 12's goals: roughcut's saturation against each baseline's (medians of the per-repeat ratios), and its
# p99 at half the relay's saturation rate.
GOAL_OVER_RELAY = 1.0
GOAL_OVER_NODE = 0.5
GOAL_HALF_P99_MS = 50.0
DRAIN_SECONDS = 5.0
CPU_SAMPLE = 0.25  # seconds between two samples of the server's and the services' CPU time
PEAK_WINDOW = 4  # samples a second
LOADER_OVERHEAD = 180.0  # seconds for connecting, draining and exiting on top of the send time
SETTLE_POLL = 0.3  # seconds between two counts of the stored messages
SETTLE_TIMEOUT = 10.0
# The per-socket send budget at the highest values Settings accepts: the bench measures the relay, not limits.
CHAT_BUDGET = "10000"


async def generate(srv: Server, name: str, seed_file: Path, rate: float, seconds: float) -> dict[str, Any]:
    """One generator run; its JSON line plus the server's CPU use over the run."""
    cmd = ["node", str(LOADER), "--seed", str(seed_file), "--url", srv.base, "--server", name]
    cmd += ["--rate", f"{rate:g}", "--seconds", f"{seconds:g}", "--drain", f"{DRAIN_SECONDS:g}"]
    batches = await _batches(srv) if name == "roughcut" else None
    cpu, services, stolen = cpu_seconds(srv.pid), services_cpu_seconds(), steal_seconds()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*pinned(CLIENT_CPU, cmd), stdout=asyncio.subprocess.PIPE)
    samples: list[tuple[float, float, float]] = []
    sampler = asyncio.create_task(_sample(srv.pid, samples))
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds + LOADER_OVERHEAD)
    finally:
        sampler.cancel()
    elapsed = time.monotonic() - started
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    # Averaged over the whole run, connecting and draining included: a floor of the busy share.
    result["server_cpu_seconds"] = round(cpu_seconds(srv.pid) - cpu, 2)  # connecting and draining included
    result["server_cpu_util"] = round(result["server_cpu_seconds"] / elapsed, 2)
    # The busiest second of the run (sending happens in the middle): a full core here is saturation.
    result["server_cpu_peak"], result["services_cpu_at_peak"] = _peak(samples)
    # PostgreSQL and Redis float over both cores: what they use beside roughcut is taken from the generator's.
    result["services_cpu_util"] = round(services_cpu_since(services) / elapsed, 2)
    # The share of the box's CPU time its hypervisor took meanwhile: a failed step with a high share says the
    # box was slow, not the server (2026-12-03: 50 % for minutes, and the relay failed half its earlier rate).
    result["box_steal"] = round((steal_seconds() - stolen) / elapsed / (os.cpu_count() or 1), 2)
    if batches is not None:
        done, sends = (now - before for now, before in zip(await _batches(srv), batches, strict=True))
        result["sends_per_batch"] = round(sends / done, 2) if done else None  # the group commit's batching
    return result


async def _sample(pid: int, into: list[tuple[float, float, float]]) -> None:
    """Every CPU_SAMPLE seconds: the time, the server's CPU seconds and PostgreSQL's and Redis's."""
    services = services_cpu_seconds()
    while True:
        into.append((time.monotonic(), cpu_seconds(pid), services_cpu_since(services)))
        await asyncio.sleep(CPU_SAMPLE)


def _peak(samples: list[tuple[float, float, float]]) -> tuple[float | None, float | None]:
    """The server's highest CPU share over any second of the samples, and the services' share in that second."""
    best: tuple[float | None, float | None] = (None, None)
    for (t0, cpu0, svc0), (t1, cpu1, svc1) in zip(samples, samples[PEAK_WINDOW:], strict=False):
        share = (cpu1 - cpu0) / (t1 - t0)
        if best[0] is None or share > best[0]:
            best = (round(share, 2), round((svc1 - svc0) / (t1 - t0), 2))
    return best


async def _batches(srv: Server) -> tuple[float, float]:
    """roughcut's group-commit transactions so far, and the sends they held."""
    async with aiohttp.ClientSession() as http:
        return (
            await metric(http, srv.base, "roughcut_chat_batches_total"),
            await metric(http, srv.base, "roughcut_chat_batched_sends_total"),
        )


async def verify(stored_before: int, sent: int) -> dict[str, Any]:
    """This run's messages stored once each, seqs gap-free per room, each thread's counter at its last seq."""
    conn = await asyncpg.connect(f"postgresql://{PG_HOST}/{DB_NAME}")
    try:
        stored = await conn.fetchval("SELECT count(*) FROM messages")
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:  # sends whose acks the generator gave up on may still land
            await asyncio.sleep(SETTLE_POLL)
            again = await conn.fetchval("SELECT count(*) FROM messages")
            if again == stored:
                break
            stored = again
        twice = await conn.fetchval(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM messages"
            " GROUP BY feedback_id, author_id, client_id HAVING count(*) > 1) AS d"
        )
        gaps = await conn.fetchval(
            "SELECT count(*) FROM (SELECT feedback_id FROM messages GROUP BY feedback_id"
            " HAVING max(seq) <> count(*) OR min(seq) <> 1) AS g"
        )
        counters = await conn.fetchval(
            "SELECT count(*) FROM feedback_threads f"
            " WHERE f.last_seq <> (SELECT count(*) FROM messages m WHERE m.feedback_id = f.id)"
        )
    finally:
        await conn.close()
    return {
        "stored": stored - stored_before,
        "stored_total": stored,
        "stored_twice": int(twice),
        "rooms_with_seq_gaps": gaps,
        "rooms_with_wrong_counter": counters,
        "db_ok": stored - stored_before == sent and not twice and not gaps and not counters,
    }


def failures(result: dict[str, Any], p99_limit: float) -> list[str]:
    """Why a run does not count as held (empty when it does)."""
    reasons = [key for key in ("lost", "duplicated", "failed_acks", "misrouted") if result.get(key)]
    if result["p99_ms"] > p99_limit:
        reasons.append("p99")
    if result["sent_per_s"] < GENERATOR_SLACK * result["rate"]:
        reasons.append("generator_behind")
    if result.get("db_ok") is False:
        reasons.append("db")
    return reasons


class Bench:
    """Runs measurements, keeping roughcut's stored-message tally for the checks and the repeat under way."""

    def __init__(self, seed_file: Path, p99_limit: float = P99_LIMIT_MS, ramp_max: float = RAMP_MAX) -> None:
        self.seed_file = seed_file
        self.p99_limit = p99_limit
        self.ramp_max = ramp_max
        self.report: list[dict[str, Any]] = []
        self.stored_total = 0  # messages in PostgreSQL before the next roughcut run
        self.repeat = 1

    async def measure(self, srv: Server, name: str, rate: float, seconds: float, phase: str) -> dict[str, Any]:
        """One run, checked, printed and kept."""
        result = await generate(srv, name, self.seed_file, rate, seconds)
        if name == "roughcut":
            result.update(await verify(self.stored_total, result["sent"]))
            self.stored_total = result["stored_total"]
        reasons = failures(result, self.p99_limit)
        result.update(repeat=self.repeat, phase=phase, held=not reasons, failed_on=reasons)
        print(json.dumps(result), flush=True)
        self.report.append(result)
        return result

    async def ramp(self, srv: Server, name: str, start: float, factor: float, seconds: float) -> dict[str, Any] | None:
        """The best run held: raise the rate by `factor` until a step fails, then bisect between the two."""
        best: dict[str, Any] | None = None
        rate, failed = start, 0.0
        while rate <= self.ramp_max:
            result = await self.measure(srv, name, round(rate), seconds, "ramp")
            if not result["held"]:
                failed = rate
                break
            best, rate = result, rate * factor
        for _ in range(REFINE_STEPS):
            if best is None or not failed:
                break
            mid = round(math.sqrt(best["rate"] * failed))
            if mid in (best["rate"], round(failed)):
                break
            result = await self.measure(srv, name, mid, seconds, "refine")
            if result["held"]:
                best = result
            else:
                failed = mid
        return best


def start(name: str, env: dict[str, str], data_dir: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    """Run one of SERVERS pinned to SERVER_CPU until the block ends."""
    if name == "roughcut":
        return server(env, data_dir)
    return relay() if name == "relay" else node_server()


def _saturation(best: dict[str, Any] | None) -> dict[str, Any]:
    """The highest rate held and what it delivered."""
    if best is None:
        return {"rate": 0, "delivered_per_s": 0.0, "p99_ms": None}
    return {"rate": best["rate"], "delivered_per_s": best["delivered_per_s"], "p99_ms": best["p99_ms"]}


def _ratio(sat: dict[str, dict[str, Any]], baseline: str) -> float | None:
    """Roughcut's saturation rate over a baseline's, when both were measured and the baseline held a rate."""
    if "roughcut" not in sat or not sat.get(baseline, {}).get("rate"):
        return None
    ratio: float = sat["roughcut"]["rate"] / sat[baseline]["rate"]
    return round(ratio, 3)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def _totals(report: list[dict[str, Any]]) -> dict[str, Any]:
    """Loss and storage faults over every run, failed ramp steps included."""
    roughcut = [r for r in report if r["server"] == "roughcut"]
    return {
        "lost_all_runs": sum(r["lost"] for r in report),
        "duplicated_all_runs": sum(r["duplicated"] for r in report),
        "failed_acks_all_runs": sum(r["failed_acks"] for r in report),
        "stored_twice": max((r["stored_twice"] for r in roughcut), default=0),
        "db_ok_all_runs": all(r["db_ok"] for r in roughcut),
    }


async def ramp_repeat(bench: Bench, args: argparse.Namespace, env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """One repeat: each server's saturation, back to back, and roughcut at half the relay's saturation rate."""
    sat: dict[str, dict[str, Any]] = {}
    at_half: dict[str, Any] | None = None
    for name in args.servers:
        async with start(name, env, data_dir) as srv:
            best = await bench.ramp(srv, name, args.ramp_start, args.ramp_factor, args.step_seconds)
            sat[name] = _saturation(best)
            half = round(sat.get("relay", {}).get("rate", 0) / 2)
            if name == "roughcut" and half:
                at_half = await bench.measure(srv, name, half, args.seconds, "half_relay")
    line = {"repeat": bench.repeat, **sat}
    line.update(roughcut_over_relay=_ratio(sat, "relay"), roughcut_over_node=_ratio(sat, "node"))
    line.update(half_relay_rate=at_half["rate"] if at_half else None)
    line.update(half_relay_p99_ms=at_half["p99_ms"] if at_half else None, half_relay_lost=at_half and at_half["lost"])
    print(json.dumps(line), flush=True)
    return line


async def ramp_mode(bench: Bench, args: argparse.Namespace, env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """`--repeats` interleaved ramps; the per-repeat ratios and their medians against issue 12's goals."""
    repeats = []
    for bench.repeat in range(1, args.repeats + 1):
        repeats.append(await ramp_repeat(bench, args, env, data_dir))
    over_relay = _median([r["roughcut_over_relay"] for r in repeats])
    over_node = _median([r["roughcut_over_node"] for r in repeats])
    half_p99 = _median([r["half_relay_p99_ms"] for r in repeats])
    totals = _totals(bench.report)
    return {
        "per_repeat": [{k: v for k, v in r.items() if k != "repeat"} for r in repeats],
        "roughcut_over_relay": [r["roughcut_over_relay"] for r in repeats],
        "roughcut_over_node": [r["roughcut_over_node"] for r in repeats],
        "roughcut_over_relay_median": over_relay,
        "roughcut_over_node_median": over_node,
        "half_relay_p99_ms_median": half_p99,
        **totals,
        "goals": {
            "over_relay_median_at_least_1_0": over_relay is not None and over_relay >= GOAL_OVER_RELAY,
            "over_node_median_at_least_0_5": over_node is not None and over_node >= GOAL_OVER_NODE,
            "half_relay_p99_median_under_50ms": half_p99 is not None and half_p99 < GOAL_HALF_P99_MS,
            # held ramp steps lose nothing by definition; the half-relay runs must not either
            "zero_lost_at_half": all(r["half_relay_lost"] == 0 for r in repeats if r["half_relay_rate"]),
            "zero_stored_twice": totals["stored_twice"] == 0,
        },
    }


async def fixed_mode(bench: Bench, args: argparse.Namespace, env: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """Each server at each `--rate`, servers back to back within each of `--repeats` repeats."""
    for bench.repeat in range(1, args.repeats + 1):
        for name in args.servers:
            async with start(name, env, data_dir) as srv:
                for rate in args.rate:
                    await bench.measure(srv, name, rate, args.seconds, "fixed")
    keys = ("repeat", "rate", "delivered_per_s", "p99_ms", "lost", "duplicated", "held")
    runs = {name: [{k: r[k] for k in keys} for r in bench.report if r["server"] == name] for name in args.servers}
    return {"runs": runs, **_totals(bench.report), "all_held": all(r["held"] for r in bench.report)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each fixed-rate run")
    parser.add_argument("--rate", type=float, nargs="+", default=[1000.0], help="messages/s sent in all rooms")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="run in SERVERS order")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every server, back to back")
    parser.add_argument("--ramp", action="store_true", help="find each server's highest rate held")
    parser.add_argument("--ramp-start", type=float, default=RAMP_START)
    parser.add_argument("--ramp-factor", type=float, default=RAMP_FACTOR)
    parser.add_argument("--step-seconds", type=float, default=RAMP_STEP_SECONDS)
    parser.add_argument("--ramp-max", type=float, default=RAMP_MAX, help="stop raising the rate past this")
    parser.add_argument("--p99-limit", type=float, default=P99_LIMIT_MS, help="ms; a step above it is not held")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="roughcut settings to add")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database for inspection")
    args = parser.parse_args()
    args.servers = [name for name in SERVERS if name in args.servers]
    pin_to(CLIENT_CPU)
    ensure_node_modules()
    db_url = await fresh_database(DB_NAME)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": "bench-chat",
        "CHAT_SEND_BURST": CHAT_BUDGET,
        "CHAT_SEND_RATE": CHAT_BUDGET,
        "SOCKET_EVENT_BURST": CHAT_BUDGET,
        "SOCKET_EVENT_RATE": CHAT_BUDGET,
        **dict(item.split("=", 1) for item in args.env),
    }
    summary: dict[str, Any] = {"summary": "ramp" if args.ramp else "fixed"}
    summary.update(rooms=args.rooms, members=args.members, machine=f"{platform.machine()} {platform.python_version()}")
    summary.update(servers=args.servers, repeats=args.repeats)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
            data_dir = Path(tmp)
            seed_file = seed_rooms(db_url, data_dir, args.rooms, args.members)
            bench = Bench(seed_file, args.p99_limit, args.ramp_max)
            mode = ramp_mode if args.ramp else fixed_mode
            summary.update(await mode(bench, args, env, data_dir))
    finally:
        if not args.keep_db:
            await drop_database(DB_NAME)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
