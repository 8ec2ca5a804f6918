"""`roughcut import-legacy --from URL_OR_SQLITE_PATH [--dry-run]`: run the import and print its report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy import inspect

from roughcut.config import Settings
from roughcut.legacy.progress import progress_for
from roughcut.legacy.report import Report
from roughcut.legacy.run import Importer
from roughcut.legacy.source import Source
from roughcut.storage import migrate
from roughcut.storage.db import make_engine

USAGE_EXIT = 2


class NotMigrated(Exception):
    """A dry run writes nothing, not even the migrations."""


async def run_import(settings: Settings, source: str, *, dry: bool, batch_size: int) -> Report:
    """Import from `source` into the configured database (migrated first unless dry) and answer the report."""
    if settings.sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    progress = progress_for(sys.stderr)
    src = await Source.open(source)
    try:
        if dry:
            async with engine.connect() as conn:
                if not await conn.run_sync(lambda c: inspect(c).has_table("legacy_map")):
                    raise NotMigrated("roughcut's database is not migrated: run `roughcut migrate` first")
        else:
            await migrate.upgrade(engine)
        return await Importer(src, engine, dry=dry, batch_size=batch_size, progress=progress).run()
    finally:
        progress.close()
        await src.close()
        await engine.dispose()


def import_command(settings: Settings, source: str, *, dry: bool, batch_size: int, json_out: str | None) -> None:
    """Print the report (and write it as JSON to `json_out`)."""
    if batch_size < 1:
        print("roughcut: --batch-size must be at least 1", file=sys.stderr)
        raise SystemExit(USAGE_EXIT)
    try:
        report = asyncio.run(run_import(settings, source, dry=dry, batch_size=batch_size))
    except (NotMigrated, FileNotFoundError) as exc:
        print(f"roughcut: {exc}", file=sys.stderr)
        raise SystemExit(USAGE_EXIT) from None
    print(report.render(), flush=True)
    if json_out:
        body = {"dry_run": report.dry_run, "tables": [t.as_dict() for t in report.tables]}
        Path(json_out).write_text(json.dumps(body, ensure_ascii=False, indent=2))
