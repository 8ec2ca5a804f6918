"""The import's progress: a rich bar on a terminal, plain lines otherwise; the report's text."""

from __future__ import annotations

import io

from roughcut.legacy.progress import BarProgress, PlainProgress, progress_for
from roughcut.legacy.report import Report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = progress_for(out)
    assert isinstance(progress, PlainProgress)
    progress.start("users_user", 3)
    progress.advance(3)
    progress.close()
    assert out.getvalue().splitlines() == ["users_user: 0/3", "users_user: 3/3"]


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    progress = progress_for(out)
    assert isinstance(progress, BarProgress)
    progress.start("projects_project", 10)
    progress.advance(10)
    progress.close()
    assert "projects_project" in out.getvalue()
    assert "10/10" in out.getvalue()


def test_the_report_names_skipped_rows_and_reproduces_its_checksum() -> None:
    def run() -> Report:
        report = Report(dry_run=False)
        table = report.table("feedbacks_feedbackcomment")
        table.ok(1, "d1", changed=True)
        table.skip(2, "d2", "author gone")
        table.ok(3, "d3", changed=False)
        return report

    first, second = run(), run()
    text = first.render()
    assert "skipped feedbacks_feedbackcomment id 2: author gone" in text
    (line,) = [x for x in text.splitlines() if x.startswith("feedbacks_feedbackcomment")]
    assert line.split()[1:5] == ["3", "1", "1", "1"]
    assert first.tables[0].checksum == second.tables[0].checksum
    changed = Report(dry_run=True)
    changed.table("feedbacks_feedbackcomment").ok(1, "other", changed=True)
    assert changed.tables[0].checksum != first.tables[0].checksum
    assert changed.render().startswith("dry run")
