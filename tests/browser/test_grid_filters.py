"""Filtering the grid in a real browser: conditions built in the Filter menu, joined by all
or any, kept while more rows load and in the export of the current view, and an enrichment
column filtered to its errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.browser.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def leads(page, make_user, make_workspace, settings):
    from enrich.columns import column_add
    from enrich.rows import rows_insert
    from enrich.tables import table_create

    settings.ENRICH_GRID_PAGE_SIZE = 10
    workspace = make_workspace("Growth", owner=make_user("ada", password=PASSWORD))
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    column_add(table=table, label="Name", kind="text")
    column_add(table=table, label="Employees", kind="number")
    column_add(table=table, label="Country", kind="text")
    rows_insert(
        table=table,
        rows=[
            {"name": f"Lead {n}", "employees": n * 10, "country": "UK" if n % 2 else "US"}
            for n in range(40)
        ],
        start_position=0,
    )
    sign_in(page)
    page.goto(f"/tables/{table.pk}/")
    return table


def names(page) -> list[str]:
    return page.locator("#grid tbody tr[data-row] > td:nth-of-type(1)").all_inner_texts()


def test_conditions_filter_the_grid_load_more_and_export(page, leads) -> None:
    page.locator("summary", has_text="Filter").click()
    builder = page.locator("#filter-form")
    first = builder.locator("[data-condition]").first
    first.locator("select[name=column]").select_option("country")
    first.locator("select[name=operator]").select_option("equals")
    first.locator("input[name=value]").fill("UK")
    builder.get_by_role("button", name="+ Add a condition").click()
    second = builder.locator("[data-condition]").nth(1)
    second.locator("select[name=column]").select_option("employees")
    second.locator("select[name=operator]").select_option("greater_than")
    second.locator("input[name=value]").fill("200")
    builder.get_by_role("button", name="Apply").click()

    expect(page.locator(".grid-count")).to_have_text("10 rows found")
    expect(page.locator("summary", has_text="Filter (2)")).to_be_visible()
    # 10 rows, a page of 10; with "any" instead, 3 pages load and each is filtered.
    assert names(page)[:2] == ["Lead 21", "Lead 23"]
    page.locator("summary", has_text="Filter").click()
    page.locator("#filter-op").select_option("or")
    page.locator("#filter-form").get_by_role("button", name="Apply").click()
    expect(page.locator(".grid-count")).to_have_text("29 rows found")
    rows = page.locator("#grid tbody tr[data-row]")
    for loaded in (20, 29):  # each scroll to the end loads the next filtered page
        page.locator(".grid-scroll").evaluate("box => box.scrollTo(0, box.scrollHeight)")
        expect(rows).to_have_count(loaded)
    expect(page.locator("#grid .grid__more")).to_have_count(0)

    # Export the current view: the filter goes with it.
    page.locator("summary", has_text="Export").click()
    export = page.locator("#export-form")
    export.get_by_label("Only the rows in view").check()
    with page.expect_download() as download:
        export.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert len(lines) == 1 + 29

    # Clear: every row again.
    page.locator("summary", has_text="Filter").click()
    page.locator("#filter-form").get_by_role("button", name="Clear").click()
    expect(page.locator(".grid-count")).to_have_text("40 rows")
