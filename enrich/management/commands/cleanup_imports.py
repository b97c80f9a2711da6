"""``manage.py cleanup_imports [--hours 24]``: remove what abandoned CSV uploads leave behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from enrich import csv_import


class Command(BaseCommand):
    help = (
        "Delete uploads whose column mapping was never chosen, fail imports no worker finished "
        "(removing their rows), delete the tables failed imports made, and delete uploaded "
        "files no waiting import needs, once they "
        "are older than --hours. Workers also run this after each background import."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        default = int(csv_import.ABANDONED_AFTER.total_seconds() // 3600)
        parser.add_argument(
            "--hours",
            type=float,
            default=default,
            help=f"Age after which an upload or import counts as abandoned (default {default}).",
        )

    def handle(self, *args: Any, hours: float, **options: Any) -> None:
        report = csv_import.imports_cleanup(older_than=timedelta(hours=hours))
        self.stdout.write(
            f"Removed {report.abandoned} upload(s) never mapped, failed {report.interrupted} "
            f"interrupted import(s), removed {report.tables} table(s) of failed imports, "
            f"deleted {report.files} other file(s)."
        )
