"""A formula and a two-step waterfall, built and run in the browser.

The user adds "Domain" (a formula over the email, previewed as it is typed), then "Company", a
waterfall asking provider A and then provider B by domain, runs it on a real worker, and adds
a formula on its result. The grid shows every value, the header the share each provider
answered, and a cell's panel the chain; an edit flows through the chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.conftest import PASSWORD, sign_in
from tests.servers import LocalServer, RecordedRequest, Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

A_KNOWS = {"analytical.example": "Analytical Engines"}
B_KNOWS = {"navy.example": "US Navy"}


@pytest.fixture
def providers() -> Iterator[LocalServer]:
    def lookup(known):
        def answer(request: RecordedRequest) -> Reply:
            return Reply.json({"name": known.get(request.query.get("domain", [""])[-1])})

        return answer

    with LocalServer() as server:
        server.route("/a", lookup(A_KNOWS))
        server.route("/b", lookup(B_KNOWS))
        yield server


@pytest.fixture
def leads(page, make_user, make_workspace):
    from enrich.columns import column_add
    from enrich.rows import rows_insert
    from enrich.tables import table_create

    user = make_user("ada", password=PASSWORD)
    workspace = make_workspace("Growth", owner=user)
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    column_add(table=table, label="Name", kind="text")
    column_add(table=table, label="Email", kind="email")
    rows_insert(
        table=table,
        rows=[
            {"name": "Ada", "email": "ada@www.Analytical.example"},
            {"name": "Grace", "email": "grace@navy.example"},
            {"name": "Nobody", "email": ""},
        ],
        start_position=0,
    )
    sign_in(page)
    return table


def cells(page, key: str):
    column_id = page.locator(f"#grid th[data-key='{key}']").get_attribute("data-column")
    return page.locator(f"#grid tbody tr[data-row] > td[data-column='{column_id}']")


def fill_step(page, index: int, label: str, endpoint: str) -> None:
    step = page.locator("[data-step]").nth(index)
    step.locator("input[name$='-label']").fill(label)
    step.locator("input[name$='-endpoint']").fill(endpoint)
    step.locator("textarea[name$='-query']").fill("domain: {{ row.domain }}")
    step.locator("input[name$='-field_paths']").fill("name")


def test_a_formula_and_a_waterfall_are_built_run_and_chained(
    page, leads, providers, celery_worker
) -> None:
    table_url = f"/tables/{leads.pk}/"
    page.goto(table_url)

    # + Column → Formula: the preview shows the values while typing.
    page.locator("summary", has_text="+ Column").click()
    page.get_by_role("link", name="Formula…").click()
    page.fill("#id_label", "Domain")
    page.fill("#id_expression", "domian(row.email)")
    expect(page.locator("#formula-preview")).to_contain_text("did you mean domain()?")
    page.fill("#id_expression", "domain(row.email)")
    expect(page.locator("#formula-preview")).to_contain_text("analytical.example")
    expect(page.locator("#formula-preview")).to_contain_text("(blank)")
    page.get_by_role("button", name="Add column").click()
    page.wait_for_url(re.compile(r"/tables/\d+/$"))
    expect(cells(page, "domain")).to_have_text(["analytical.example", "navy.example", ""])

    # + Enrichment → Waterfall: two providers, asked in order.
    page.locator("summary", has_text="+ Enrichment").click()
    page.get_by_role("link", name="Waterfall…").click()
    page.fill("#id_label", "Company")
    fill_step(page, 0, "Provider A", providers.url("/a"))
    page.get_by_role("button", name="+ Add a step").click()
    fill_step(page, 1, "Provider B", providers.url("/b"))
    page.fill("#id_only_run_if", "row.domain")
    page.check("#id_auto_update")
    page.get_by_role("button", name="Add column").click()
    expect(page.get_by_role("status")).to_contain_text("Waterfall “Company” saved.")

    # Test it on Grace's row: the chain shows A without a match, then B.
    page.locator("#test-row-search").fill("Grace")
    expect(page.locator("#test-row option")).to_have_count(1)
    page.get_by_role("button", name="Send the requests").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("No valid value")
    expect(result).to_contain_text("US Navy")
    assert providers.count() == 2

    # Run it from the grid.
    page.goto(table_url)
    page.get_by_label("Column Company menu").click()
    page.get_by_role("link", name="Run rows whose inputs changed").click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile(r"^Run \d+ rows?$")).click()
    company = cells(page, "company")
    expect(company).to_have_text(["Analytical Engines", "US Navy", "Skipped"], timeout=30_000)
    expect(page.locator("#grid th[data-key='company']")).to_contain_text(
        "Answered by Provider A 50%, Provider B 50%, none 0%"
    )
    assert providers.count() == 2 + 3  # Ada: A only; Grace: A then B; Nobody: skipped

    # A formula on the waterfall's result.
    page.locator("summary", has_text="+ Column").click()
    page.get_by_role("link", name="Formula…").click()
    page.fill("#id_label", "Shout")
    page.fill("#id_expression", "upper(row.company)")
    page.get_by_role("button", name="Add column").click()
    page.wait_for_url(re.compile(r"/tables/\d+/$"))
    expect(cells(page, "shout")).to_have_text(["ANALYTICAL ENGINES", "US NAVY", ""])

    # The chain's panel for Grace's cell.
    company.nth(1).click()
    panel = page.locator("#cell-panel .cell-panel")
    expect(panel).to_contain_text("Provider A")
    expect(panel).to_contain_text("No valid value")
    expect(panel).to_contain_text("Answered")
    page.keyboard.press("Escape")

    # An edit flows through: Nobody gets an email → domain → waterfall → shout.
    cells(page, "email").nth(2).click()
    page.keyboard.press("Enter")
    page.locator("#grid textarea.cell__editor").fill("someone@navy.example")
    page.keyboard.press("Enter")
    # The edit's answer brings the row's computed cells: the domain is there at once.
    expect(cells(page, "domain").nth(2)).to_have_text("navy.example")
    page.reload()
    expect(cells(page, "company").nth(2)).to_have_text("US Navy", timeout=30_000)
    expect(cells(page, "shout").nth(2)).to_have_text("US NAVY")
