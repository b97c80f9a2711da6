"""``manage.py add_column``: add a computed column (an HTTP API call, a formula, a waterfall)
from a JSON document; see ``enrich.enrichment.column_documents`` for its keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from enrich.enrichment.column_documents import DocumentError, spec_from_document
from enrich.enrichment.columns import EnrichmentProblems, enrichment_column_create
from enrich.management.lookup import table_named, workspace_named


class Command(BaseCommand):
    help = (
        'Add a computed column. FILE is JSON: {"kind": "formula", "expression": '
        '"domain(row.email)"}, {"kind": "waterfall", "steps": [{"label": …, "account": …, '
        '"request": {…}, "valid_if": …}, …]}, or {"kind": "http_api", "request": {…}, '
        '"account": …}; every kind takes "only_run_if" and "auto_update".'
    )
    #: The kind a document without "kind" describes.
    default_kind = "http_api"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace id or name.")
        parser.add_argument("--table", required=True, help="Table id or name.")
        parser.add_argument("--name", required=True, help="The column's label.")
        parser.add_argument("--file", required=True, help="The column as JSON; - for stdin.")

    def handle(
        self, *args: Any, workspace: str, table: str, name: str, file: str, **_: Any
    ) -> None:
        target_workspace = workspace_named(workspace)
        target = table_named(target_workspace, table)
        if target is None:
            raise CommandError(f"No table with the id or name “{table}” in that workspace.")
        document = read_document(file)
        document.setdefault("kind", self.default_kind)
        try:
            spec = spec_from_document(workspace=target_workspace, document=document)
            enrichment = enrichment_column_create(table=target, label=name, spec=spec)
        except (DocumentError, EnrichmentProblems) as problem:
            raise CommandError(str(problem)) from None
        self.stdout.write(
            f"Added “{enrichment.column.label}” (key {enrichment.column.key}, "
            f"{enrichment.kind}) to “{target.name}”."
        )


def read_document(file: str) -> dict[str, Any]:
    """The JSON object in ``file`` (``-``: standard input)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        document = json.loads(text)
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
    except ValueError as exc:
        raise CommandError(f"{file} is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise CommandError(f"{file} must hold a JSON object.")
    return document
