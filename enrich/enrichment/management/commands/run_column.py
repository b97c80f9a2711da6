"""``manage.py run_column``: run an enrichment column, optionally waiting with progress."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from enrich.enrichment.broker import broker_reachable
from enrich.enrichment.models import EnrichmentColumn, Run
from enrich.enrichment.runs import run_progress, run_queue
from enrich.management.lookup import table_named, workspace_named

#: How often ``--wait`` checks that the queue answers.
BROKER_PROBE_S = 2.0
UNREACHABLE = "The queue is unreachable, retrying…"


class Command(BaseCommand):
    help = (
        "Run an enrichment column over every row (or --rows), skipping rows whose inputs did "
        "not change unless --force. With --wait: a progress line until done, then counts by "
        "status; exit status 1 if any cell ended in error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace id or name.")
        parser.add_argument("--table", required=True, help="Table id or name.")
        parser.add_argument("--column", required=True, help="The column's key or label.")
        parser.add_argument("--rows", default="", help="Comma-separated row ids (default: all).")
        parser.add_argument(
            "--unfinished", action="store_true", help="Only rows not yet run or in error."
        )
        parser.add_argument(
            "--force", action="store_true", help="Run rows whose inputs did not change."
        )
        parser.add_argument("--wait", action="store_true", help="Wait and show progress.")
        parser.add_argument("--timeout", type=float, default=0, help="Give up waiting after N s.")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        table = table_named(workspace, options["table"])
        if table is None:
            raise CommandError(f"No table with the id or name “{options['table']}”.")
        enrichment = (
            EnrichmentColumn.objects.select_related("column")
            .filter(column__table=table)
            .filter(column__key=options["column"])
            .first()
        ) or EnrichmentColumn.objects.filter(
            column__table=table, column__label=options["column"]
        ).first()
        if enrichment is None:
            raise CommandError(f"No enrichment column “{options['column']}” in “{table.name}”.")
        try:
            row_ids = [int(part) for part in options["rows"].split(",") if part.strip()]
        except ValueError:
            raise CommandError("--rows takes comma-separated row ids, e.g. 12,13,40.") from None
        scope = (
            Run.Scope.ROWS
            if row_ids
            else (Run.Scope.UNFINISHED if options["unfinished"] else Run.Scope.ALL)
        )
        with transaction.atomic():
            run = run_queue(
                enrichment=enrichment, scope=scope, row_ids=row_ids, force=options["force"]
            )
        self.stdout.write(f"Queued run {run.pk} of “{enrichment.column.label}”.")
        if options["wait"]:
            self._wait(run, timeout=options["timeout"])
        elif not broker_reachable():
            self.stdout.write(UNREACHABLE + " The run starts once it answers.")

    def _wait(self, run: Run, *, timeout: float) -> None:
        """Show progress until the run ends. The workers drive the run; this only reads the
        database, and says so when the queue stops answering (the run resumes after)."""
        started = time.monotonic()
        tty = sys.stdout.isatty()
        next_probe, reachable = started, True
        while True:
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + BROKER_PROBE_S
                if broker_reachable() != reachable:
                    reachable = not reachable
                    news = "The queue answers again." if reachable else UNREACHABLE
                    self.stdout.write(("\n" if tty else "") + news)
            run.refresh_from_db()
            progress = run_progress(run=run)
            eta = f", about {progress.eta_s} s left" if progress.eta_s is not None else ""
            line = (
                f"{run.get_status_display()}: {progress.finished:,}/{run.total:,} "
                f"({progress.percent}%), {progress.rate_per_s:.1f}/s{eta}"
            )
            self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
            self.stdout.flush()
            if not run.is_active:
                break
            if timeout and time.monotonic() - started > timeout:
                raise CommandError(f"Gave up waiting after {timeout:g} s; the run goes on.")
            time.sleep(0.5)
        if tty:
            self.stdout.write("")
        self.stdout.write(
            f"done {progress.done:,} · error {progress.error:,} · skipped {progress.skipped:,}"
            f" · cancelled {progress.cancelled:,}"
        )
        if progress.error:
            raise CommandError(f"{progress.error:,} cells ended in error.")
