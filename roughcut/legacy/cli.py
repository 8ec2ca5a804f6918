"""`roughcut import-legacy --from URL_OR_SQLITE [--dry-run] [--copy-files FROM]`: run the import, print the report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from sqlalchemy import inspect

from roughcut.config import Settings
from roughcut.legacy.files import copy_files, open_source
from roughcut.legacy.progress import progress_for
from roughcut.legacy.report import Report
from roughcut.legacy.run import Importer
from roughcut.legacy.source import Source
from roughcut.services import blob_stores
from roughcut.storage import migrate
from roughcut.storage.db import make_engine

USAGE_EXIT = 2


class NotMigrated(Exception):
    """A dry run writes nothing, not even the migrations."""


async def run_import(
    settings: Settings, source: str, *, dry: bool, batch_size: int, files_from: str | None = None
) -> Report:
    """Import from `source` into the configured database (migrated first unless dry) and answer the report;
    with `files_from` (`s3://bucket` or a folder), then copy the old objects into roughcut's blob store."""
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
        report = await Importer(src, engine, dry=dry, batch_size=batch_size, progress=progress).run()
        if files_from is not None and not dry:
            await copy_files(engine, blob_stores(settings)[0], open_source(settings, files_from), report)
        return report
    finally:
        progress.close()
        await src.close()
        await engine.dispose()


def import_command(
    settings: Settings, source: str, *, dry: bool, batch_size: int, json_out: str | None, files_from: str | None
) -> None:
    """Print the report (and write it as JSON to `json_out`)."""
    if batch_size < 1:
        print("roughcut: --batch-size must be at least 1", file=sys.stderr)
        raise SystemExit(USAGE_EXIT)
    try:
        report = asyncio.run(run_import(settings, source, dry=dry, batch_size=batch_size, files_from=files_from))
    except (NotMigrated, FileNotFoundError) as exc:
        print(f"roughcut: {exc}", file=sys.stderr)
        raise SystemExit(USAGE_EXIT) from None
    print(report.render(), flush=True)
    if json_out:
        body = {"dry_run": report.dry_run, "tables": [t.as_dict() for t in report.tables]}
        Path(json_out).write_text(json.dumps(body, ensure_ascii=False, indent=2))
