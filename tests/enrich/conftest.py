"""Fixtures of the table domain: a table with columns and many rows, made in bulk."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Workspace
from enrich.columns import column_add
from enrich.models import Column, ColumnKind, Table
from enrich.rows import rows_insert
from enrich.tables import table_create


@pytest.fixture
def workspace(owner_client) -> Workspace:
    return owner_client[1]


@pytest.fixture
def client(owner_client):
    return owner_client[0]


@pytest.fixture
def make_table() -> Callable[..., Table]:
    """A table in ``workspace`` with text columns (or ``(label, kind)`` pairs) and rows."""

    def make(
        workspace: Workspace,
        *,
        name: str = "Leads",
        columns: Sequence[str | tuple[str, str]] = ("Name", "Email"),
        rows: Sequence[dict[str, Any]] | int = (),
    ) -> Table:
        table = table_create(workspace=workspace, name=name, created_by=None)
        made: list[Column] = []
        for spec in columns:
            label, kind = (spec, ColumnKind.TEXT) if isinstance(spec, str) else spec
            made.append(column_add(table=table, label=label, kind=kind))
        if isinstance(rows, int):
            keys = [column.key for column in made]
            rows = ({key: f"{key} {number}" for key in keys} for number in range(rows))
        rows_insert(table=table, rows=rows, start_position=0)
        return table

    return make


def csv_upload(data: bytes | str, name: str = "people.csv") -> SimpleUploadedFile:
    """An uploaded file as the web import receives it."""
    if isinstance(data, str):
        data = data.encode()
    return SimpleUploadedFile(name, data, content_type="text/csv")


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    """Uploaded files of the test go to a folder of its own (not for tests with a worker,
    which reads the configured folder)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
