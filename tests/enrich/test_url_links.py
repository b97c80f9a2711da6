"""Only web addresses (and, in email columns, email addresses) become links in the grid; a
``javascript:`` or ``data:`` value, however it got into a URL column, is shown as text."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from enrich.columns import column_change_kind
from enrich.csv_import import import_set_mapping, import_start, import_upload
from enrich.kinds import kind_for
from enrich.models import ColumnKind
from tests.enrich.conftest import csv_text, csv_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "https://ok.example/\njavascript:alert(1)",
]


def links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)" target="_blank"', html)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_is_never_a_link(value: str) -> None:
    assert kind_for(ColumnKind.URL).link(value) == ""
    assert kind_for(ColumnKind.EMAIL).link(value) == ""
    assert not kind_for(ColumnKind.URL).fits(value)


def test_web_and_email_addresses_are_links() -> None:
    assert (
        kind_for(ColumnKind.URL).link("https://acme.example/a?b=1") == "https://acme.example/a?b=1"
    )
    assert kind_for(ColumnKind.URL).link("http://acme.example") == "http://acme.example"
    assert kind_for(ColumnKind.EMAIL).link("ada@acme.example") == "mailto:ada@acme.example"
    assert kind_for(ColumnKind.TEXT).link("https://acme.example") == ""


def test_hostile_values_imported_or_retyped_into_a_url_column_show_as_text(
    client, workspace, make_table
) -> None:
    table = make_table(
        workspace, columns=[("Site", ColumnKind.URL), "Note"], rows=[{"site": "https://ok.example"}]
    )
    rows = [["Site", "Note"], *[[value, value] for value in HOSTILE]]
    job = import_upload(
        workspace=workspace, upload=csv_upload(csv_text(rows)), created_by=None, table=table
    )
    import_set_mapping(job=job, mapping=["site", "note"])
    assert import_start(job=job, background=False).problem_count == len(HOSTILE)
    column_change_kind(column=table.columns.get(key="note"), kind=ColumnKind.URL)

    page = client.get(reverse("table_detail", args=[table.pk])).content.decode()

    assert links(page) == ["https://ok.example"]
    assert "javascript:alert" in page.replace("&#x27;", "'")  # shown, as text
    assert page.count("cell--mismatch") >= 2 * len(HOSTILE)
