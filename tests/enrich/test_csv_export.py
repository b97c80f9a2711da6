"""CSV export: streamed, the table as seen, formulas neutralised unless asked otherwise."""

from __future__ import annotations

import pytest
from django.urls import reverse

from enrich.csv_export import neutralised
from enrich.models import ColumnKind

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-5", "-5"),
        ("+3.25", "+3.25"),
        ("-1e5", "-1e5"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_like_text_is_neutralised_and_numbers_are_not(text: str, safe: str) -> None:
    assert neutralised(text) == safe


def test_the_export_streams_visible_columns_in_grid_order(client, workspace, make_table) -> None:
    table = make_table(
        workspace,
        name="Q3 leads / EU",
        columns=["Name", "Secret", ("Score", ColumnKind.NUMBER), "Formula"],
        rows=[
            {"name": "Ada", "secret": "s", "score": -5, "formula": "=cmd()"},
            {"name": "Grace", "score": 1.5},
        ],
    )
    client.post(reverse("column_hide", args=[table.columns.get(key="secret").pk]), {"hidden": "1"})
    client.post(reverse("columns_reorder", args=[table.pk]), {"keys": "score,name"})

    response = client.get(reverse("table_export", args=[table.pk]))

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Q3 leads _ EU.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body == "Score,Name,Formula\r\n-5,Ada,'=cmd()\r\n1.5,Grace,\r\n"


def test_export_options_bom_keep_formulas_and_current_view(client, workspace, make_table) -> None:
    table = make_table(
        workspace, columns=["Name"], rows=[{"name": "=b"}, {"name": "a"}, {"name": "c"}]
    )
    url = reverse("table_export", args=[table.pk])

    body = b"".join(client.get(url, {"bom": "1", "keep_formulas": "1"}).streaming_content)
    assert body == "\ufeffName\r\n=b\r\na\r\nc\r\n".encode()

    view = b"".join(client.get(url, {"view": "1", "sort": "-name", "q": "a"}).streaming_content)
    assert view == b"Name\r\na\r\n"
