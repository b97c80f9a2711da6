"""``manage.py export_csv --workspace W --table T FILE|-``: the web export, from a shell."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from enrich.csv_export import ExportOptions, export_to_file
from enrich.management.lookup import table_named, workspace_named


class Command(BaseCommand):
    help = "Export a table as CSV (visible columns, grid order) to FILE, or to stdout with -."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace id or name.")
        parser.add_argument("--table", required=True, help="Table id or name.")
        parser.add_argument("--bom", action="store_true", help="Start with a UTF-8 BOM (Excel).")
        parser.add_argument(
            "--keep-formulas",
            action="store_true",
            help="Do not prefix text starting with = + - @ with ' (on by default).",
        )
        parser.add_argument("file", help="Output file, or - for standard output.")

    def handle(
        self,
        *args: Any,
        workspace: str,
        table: str,
        file: str,
        bom: bool,
        keep_formulas: bool,
        **options: Any,
    ) -> None:
        source = table_named(workspace_named(workspace), table)
        if source is None:
            raise CommandError(f"No table with the id or name “{table}” in that workspace.")
        export = ExportOptions(bom=bom, neutralise=not keep_formulas)
        if file == "-":
            # UTF-8 whatever the terminal's locale, and no newline translation inside values.
            stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
            export_to_file(table=source, options=export, stream=stream)
            stream.flush()
            stream.detach()
            return
        with Path(file).open("w", encoding="utf-8", newline="") as stream:
            export_to_file(table=source, options=export, stream=stream)
        self.stderr.write(f"Exported “{source.name}” to {file}.")
