"""``manage.py import_csv --workspace W --table T FILE``: the web import, from a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from enrich import csv_import
from enrich.exceptions import TableError
from enrich.management.lookup import table_named, workspace_named
from enrich.models import ImportJob


class Command(BaseCommand):
    help = (
        "Import a CSV file into a table: creates the table when missing, else appends by "
        "header (unknown headers become new text columns). Prints per-line problems."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace id or name.")
        parser.add_argument("--table", required=True, help="Table id or name.")
        parser.add_argument("file", type=Path, help="The CSV file.")

    def handle(self, *args: Any, workspace: str, table: str, file: Path, **options: Any) -> None:
        target_workspace = workspace_named(workspace)
        target = table_named(target_workspace, table)
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        try:
            with file.open("rb") as stream:
                job = csv_import.import_upload(
                    workspace=target_workspace,
                    upload=File(stream, name=file.name),
                    created_by=None,
                    table=target,
                    table_name=table,
                )
            if job.status == ImportJob.Status.MAPPING:
                # Same auto-mapping the web offers: same header → same column, else a new one.
                csv_import.import_set_mapping(job=job, mapping=job.mapping)
            job = csv_import.import_start(job=job, background=False)
        except TableError as error:
            raise CommandError(str(error)) from None
        for problem in job.problems:
            self.stderr.write(f"line {problem['line']}: {problem['message']}")
        if job.problem_count > len(job.problems):
            self.stderr.write(f"… {job.problem_count:,} problems in all.")
        if job.status != ImportJob.Status.DONE:
            raise CommandError(job.error or "The import did not complete.")
        self.stdout.write(
            f"Imported {job.rows_imported:,} rows into “{job.table.name}” (table {job.table_id})."
        )
