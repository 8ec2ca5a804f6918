"""`roughcut worker` (the job worker without an HTTP listener), `roughcut dead-jobs` and `roughcut replay-jobs`."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from aiohttp import web

from roughcut.app import create_app
from roughcut.config import Settings
from roughcut.logging import setup_logging
from roughcut.storage.db import make_engine
from roughcut.storage.jobs import SqlJobStore

DEAD_FIELDS = ("id", "kind", "key", "payload", "attempts", "finished_at", "last_error")


def worker_command(settings: Settings) -> None:
    """The app's services without an HTTP listener, running the job worker until SIGTERM or SIGINT."""
    setup_logging(settings.log_level, settings.log_json)

    async def run() -> None:
        # The whole app starts (engine, Redis, publisher): events handlers record reach every node.
        runner = web.AppRunner(create_app(replace(settings, job_worker=True)), handle_signals=False)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("roughcut worker running", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()  # running jobs get their grace, then go back to the queue

    asyncio.run(run())


def dead_jobs_command(settings: Settings, limit: int, kind: str | None = None) -> None:
    """Print the jobs (of `kind`) that failed their last attempt, newest first, one JSON object a line."""

    async def run() -> None:
        engine = make_engine(settings.db_url)
        try:
            dead = await SqlJobStore(engine).dead(limit, kind)
        finally:
            await engine.dispose()
        for job in dead:
            print(orjson.dumps({k: getattr(job, k) for k in DEAD_FIELDS}, option=orjson.OPT_UTC_Z).decode())

    asyncio.run(run())


def replay_jobs_command(settings: Settings, ids: list[int]) -> None:
    """Run dead jobs again as if new (a webhook delivery keeps its webhook-id); exit 1 if one was not dead."""

    async def run() -> list[int]:
        engine = make_engine(settings.db_url)
        try:
            store = SqlJobStore(engine)
            return [job_id for job_id in ids if not await store.revive(job_id, None, datetime.now(UTC))]
        finally:
            await engine.dispose()

    missed = asyncio.run(run())
    print(f"replayed {len(ids) - len(missed)} job(s)")
    if missed:
        print(f"roughcut: not dead jobs (or a twin is pending): {', '.join(map(str, missed))}")
        raise SystemExit(1)
