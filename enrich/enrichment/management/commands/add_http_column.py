"""``manage.py add_http_column``: the "Add enrichment → HTTP API" panel, from a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from enrich.enrichment.columns import EnrichmentProblems, EnrichmentSpec, enrichment_column_create
from enrich.management.lookup import table_named, workspace_named

FILE_KEYS = {"request", "account", "token_location", "token_type", "auth_header_name",
             "only_run_if", "auto_update"}  # fmt: skip


class Command(BaseCommand):
    help = (
        'Add an HTTP API enrichment column. FILE is JSON: {"request": {...request config...}, '
        '"account": "name", "token_location": …, "token_type": …, "auth_header_name": …, '
        '"only_run_if": "row.email", "auto_update": false}.'
    )

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
        document = _read(file)
        unknown = sorted(set(document) - FILE_KEYS)
        if unknown:
            raise CommandError(f"Unknown keys in {file}: {', '.join(unknown)}.")
        account = None
        if document.get("account"):
            account = Account.objects.filter(
                workspace=target_workspace, name=document["account"]
            ).first()
            if account is None:
                raise CommandError(f"No account named “{document['account']}” in that workspace.")
        spec = EnrichmentSpec(
            request=document.get("request") or {},
            account=account,
            token_fields={
                key: document[key]
                for key in ("token_location", "token_type", "auth_header_name")
                if key in document
            },
            only_run_if=str(document.get("only_run_if") or ""),
            auto_update=bool(document.get("auto_update", False)),
        )
        try:
            enrichment = enrichment_column_create(table=target, label=name, spec=spec)
        except EnrichmentProblems as problems:
            raise CommandError(str(problems)) from None
        self.stdout.write(
            f"Added “{enrichment.column.label}” (key {enrichment.column.key}) to “{target.name}”."
        )


def _read(file: str) -> dict[str, Any]:
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
