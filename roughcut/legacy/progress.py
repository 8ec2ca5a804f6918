"""Progress of an import: a rich progress bar on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class PlainProgress:
    """One line per batch: `table: done/total`."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._table = ""
        self._total = 0

    def start(self, table: str, total: int) -> None:
        self._table, self._total = table, total
        print(f"{table}: 0/{total}", file=self._out, flush=True)

    def advance(self, done: int) -> None:
        print(f"{self._table}: {done}/{self._total}", file=self._out, flush=True)

    def close(self) -> None:
        return None


class BarProgress:
    """A rich progress bar per table."""

    def __init__(self, out: TextIO) -> None:
        self._progress = Progress(
            TextColumn("{task.description:32}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self._progress.console.file = out
        self._progress.start()
        self._task: TaskID | None = None

    def start(self, table: str, total: int) -> None:
        self._task = self._progress.add_task(table, total=total)

    def advance(self, done: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done)

    def close(self) -> None:
        self._progress.stop()


def progress_for(out: TextIO = sys.stderr) -> PlainProgress | BarProgress:
    """A bar when `out` is a terminal."""
    return BarProgress(out) if out.isatty() else PlainProgress(out)
