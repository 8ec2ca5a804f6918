"""The `roughcut` command: serve, worker, dead-jobs, replay-jobs, migrate, rotate-keys, loadtest-seed, admin,
import-legacy."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from typing import TYPE_CHECKING

from roughcut.config import ConfigError, Settings

if TYPE_CHECKING:
    from aiohttp.web import Application

_LOCAL_HOSTS = {"0.0.0.0", "127.0.0.1", "::"}  # noqa: S104 - only to print a clickable URL


def _serve(settings: Settings, host: str, port: int) -> None:
    from aiohttp import web

    from roughcut.app import create_app
    from roughcut.logging import setup_logging
    from roughcut.storage.seed import DEMO_EMAIL, DEMO_PASSWORD

    setup_logging(settings.log_level, settings.log_json)
    if settings.sentry_dsn:
        from roughcut import sentry

        sentry.init(settings.sentry_dsn.value)
    loop: asyncio.AbstractEventLoop | None = None
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        pass
    app = create_app(settings)
    app.on_startup.append(_tune_gc)
    app.on_startup.append(_drain_before_exit)
    base = f"http://{'localhost' if host in _LOCAL_HOSTS else host}:{port}"
    lines = [
        f"roughcut on {base}  ({'SQLite in ' + str(settings.data_dir) if settings.sqlite else 'PostgreSQL'}"
        f"{', Redis' if settings.redis_url else ''})",
        f"API docs: {base}/api/docs",
    ]
    if settings.demo_user:
        lines.append(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
    web.run_app(
        app,
        host=host,
        port=port,
        print=lambda _msg: print("\n".join(lines), flush=True),
        access_log=None,
        shutdown_timeout=20,
        loop=loop,
    )


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _drain_before_exit(app: Application) -> None:
    """Take over SIGTERM and SIGINT (Ctrl-C): drain while connections still work, then let aiohttp shut down.

    aiohttp's own handler marks every open connection as closing before on_shutdown runs, and from then
    on ignores what clients send on them (their WebSocket close answers too), so each client would wait
    for its close timeout before reconnecting elsewhere.
    """
    from aiohttp.web import GracefulExit

    from roughcut.app import drain

    loop = asyncio.get_running_loop()

    def exit_now() -> None:
        raise GracefulExit()  # raised in a loop callback, it ends run_app as aiohttp's handler does

    def on_term() -> None:
        for sig in STOP_SIGNALS:  # a second Ctrl-C interrupts at once
            loop.remove_signal_handler(sig)
        loop.create_task(drain(app)).add_done_callback(lambda _task: loop.call_soon(exit_now))

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_term)


# Young-generation collections every 700 allocations stall a busy event loop; objects made at start-up
# (modules, schemas, the app) are moved out of the collector's reach with gc.freeze().
GC_THRESHOLDS = (50_000, 20, 100)


async def _tune_gc(_app: object) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _migrate(settings: Settings) -> None:
    from roughcut.storage import migrate
    from roughcut.storage.db import make_engine

    async def run() -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print("database is up to date")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="roughcut", description="Video-production collaboration backend.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP and Socket.IO server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    sub.add_parser("migrate", help="apply the database migrations")
    sub.add_parser("worker", help="run background jobs (no HTTP listener), on any number of machines")
    dead = sub.add_parser("dead-jobs", help="jobs that failed their last attempt, newest first (JSON lines)")
    dead.add_argument("--limit", type=int, default=100)
    dead.add_argument("--kind", help="only jobs of this kind, e.g. webhook.deliver")
    replay = sub.add_parser("replay-jobs", help="run dead jobs again (webhook deliveries keep their webhook-id)")
    replay.add_argument("ids", type=int, nargs="+", metavar="ID")
    sub.add_parser("rotate-keys", help="new JWT signing key in DATA_DIR/keys; the old one stays published")
    seed = sub.add_parser("loadtest-seed", help="chat rooms of members and their access tokens, for bench/chat.py")
    seed.add_argument("--rooms", type=int, required=True)
    seed.add_argument("--members", type=int, required=True)
    seed.add_argument("--out", required=True, help="JSON file for the tokens (mode 0600)")
    seed.add_argument("--ttl", type=int, default=3600, help="access token lifetime in seconds (60 to 3600)")
    seed.add_argument("--force", action="store_true", help="seed even though the database already has users")
    admin = sub.add_parser("admin", help="grant or revoke the admin flag of an account")
    admin.add_argument("action", choices=("grant", "revoke"))
    admin.add_argument("email")
    legacy = sub.add_parser("import-legacy", help="import the old Vlanet database (run again to bring changes)")
    legacy.add_argument("--from", dest="source", required=True, help="postgresql://... URL or SQLite file, read only")
    legacy.add_argument("--dry-run", action="store_true", help="print the report without writing anything")
    legacy.add_argument("--batch-size", type=int, default=500, help="old rows per transaction (default 500)")
    legacy.add_argument("--report", help="also write the report as JSON to this file")
    legacy.add_argument(
        "--copy-files",
        dest="files_from",
        metavar="FROM",
        help="copy the old objects (s3://OLD_BUCKET on roughcut's S3 service, or a folder) into roughcut's store",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            _serve(settings, args.host, args.port)
        elif args.command == "migrate":
            _migrate(settings)
        elif args.command == "worker":
            from roughcut.worker_cli import worker_command

            worker_command(settings)
        elif args.command == "dead-jobs":
            from roughcut.worker_cli import dead_jobs_command

            dead_jobs_command(settings, args.limit, args.kind)
        elif args.command == "replay-jobs":
            from roughcut.worker_cli import replay_jobs_command

            replay_jobs_command(settings, args.ids)
        elif args.command == "rotate-keys":
            from roughcut.security.tokens import rotate_local_keys

            print(f"new signing key {rotate_local_keys(settings)}; restart the nodes to use it")
        elif args.command == "loadtest-seed":
            from pathlib import Path

            from roughcut.loadtest import seed_command

            seed_command(settings, args.rooms, args.members, Path(args.out), args.ttl, args.force)
        elif args.command == "admin":
            from roughcut.admin_cli import admin_command

            admin_command(settings, args.action, args.email)
        elif args.command == "import-legacy":
            from roughcut.legacy.cli import import_command

            import_command(
                settings,
                args.source,
                dry=args.dry_run,
                batch_size=args.batch_size,
                json_out=args.report,
                files_from=args.files_from,
            )
    except ConfigError as exc:
        print(f"roughcut: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
