"""A new user enriches a CSV end to end in the browser.

They sign up, import leads from a CSV, store an API key as a workspace connection, add an
HTTP API enrichment column that uses it, run the column on a real worker while the grid
updates, turn one field of the answers into a column from a cell's details, and download
the enriched table as CSV. The API key stays on the server the whole time: no page shows it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import pytest

from tests.servers import LocalServer, RecordedRequest, Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

PASSWORD = "a long pass phrase"
API_KEY = "sk_live_7Hq2mZ9vXw4Lp8Rt"
LEADS_CSV = (
    b"Name,Email\r\nAda,ada@example.test\r\nGrace,grace@example.test\r\nAlan,alan@example.test\r\n"
)
#: The API takes this long over the last lead, so the grid is seen filling in while the run goes.
SLOW_LEAD, SLOW_S = "alan@example.test", 3.0
PEOPLE = {
    "ada@example.test": {"name": "Ada Lovelace", "company": "Analytical Engines"},
    "grace@example.test": {"name": "Grace Hopper", "company": "Navy"},
    "alan@example.test": {"name": "Alan Turing", "company": "Bletchley Park"},
}


@pytest.fixture
def people_api() -> Iterator[LocalServer]:
    """A people API on loopback that answers only requests carrying the right API key."""

    def find_person(request: RecordedRequest) -> Reply:
        if request.header("X-API-Key") != API_KEY:
            return Reply.json({"error": "unauthorized"}, status=401)
        email = request.query.get("email", [""])[-1]
        if email not in PEOPLE:
            return Reply.json({"error": "not found"}, status=404)
        reply = Reply.json({"person": PEOPLE[email]})
        reply.delay_s = SLOW_S if email == SLOW_LEAD else 0.0
        return reply

    with LocalServer() as server:
        server.route("/people", find_person)
        yield server


def assert_no_secret(page) -> None:
    assert API_KEY not in page.content(), f"the API key is in the page at {page.url}"


def grid_rows(page):
    return page.locator("#grid tbody tr[data-row]")


def column_cells(page, key: str):
    """The loaded cells of the column with ``key``."""
    column_id = page.locator(f"#grid th[data-key='{key}']").get_attribute("data-column")
    return page.locator(f"#grid tbody tr[data-row] > td[data-column='{column_id}']")


def wait_for_live_cells(page, key: str) -> None:
    """Wait until the running column's progress poll has filled some of its cells in place
    while others still wait: the grid has not been reloaded, the run is still going."""
    page.wait_for_function(
        """(key) => {
          const grid = document.getElementById("grid");
          const column = grid.querySelector(`th[data-key="${key}"]`).dataset.column;
          const cells = [...grid.querySelectorAll(`tbody td[data-column="${column}"]`)];
          const done = cells.filter((td) => td.classList.contains("cell--done"));
          return grid.querySelector(".run-progress.is-active") !== null
            && done.length > 0 && done.length < cells.length;
        }""",
        arg=key,
    )


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_csv_is_enriched_through_an_api_with_a_stored_key_and_exported(
    page, celery_worker, people_api
) -> None:
    # Sign up on a fresh server and create a table.
    page.goto("/")
    page.fill("#id_username", "ada")
    page.fill("#id_email", "ada@example.test")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.fill("#id_workspace_name", "Growth")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Create your first table").click()
    page.fill("#id_name", "Leads")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/tables/\d+/$"))
    table_url = page.url

    # Import the leads: upload, keep the suggested mapping (a new column per header), import.
    page.locator(".page-head").get_by_role("link", name="Import CSV").click()
    page.set_input_files(
        "#id_file", {"name": "leads.csv", "mimeType": "text/csv", "buffer": LEADS_CSV}
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Import “leads.csv”")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(table_url)
    expect(page.get_by_role("status")).to_contain_text("Imported 3 rows")
    expect(grid_rows(page)).to_have_count(3)
    expect(column_cells(page, "email")).to_have_text(list(PEOPLE))

    # Settings → Connections: an API key sent in the X-API-Key header.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="Add your first account").click()
    page.get_by_role("link", name=re.compile(r"^API key")).click()
    page.fill("#id_name", "People API")
    page.fill("#id_key", "X-API-Key")
    page.fill("#id_value", API_KEY)
    expect(page.locator("#id_in")).to_have_value("header")
    page.get_by_role("button", name="Add account").click()
    expect(page.locator("h1")).to_have_text("People API")
    expect(page.get_by_role("status")).to_contain_text("Account “People API” saved.")
    expect(page.locator(".secret-state--set")).to_have_text("Set")
    assert_no_secret(page)

    # "+ Enrichment" → "HTTP API…": look each lead up by email, signed in with the account.
    page.goto(table_url)
    page.get_by_text("+ Enrichment").click()
    page.get_by_role("link", name="HTTP API…").click()
    page.fill("#id_label", "Profile")
    page.select_option("#id_account", label="People API")
    page.fill("#id_endpoint", people_api.url("/people"))
    page.fill("#id_query", "email: ")
    page.locator("button[data-insert='{{ row.email }}']").click()  # the column picker
    expect(page.locator("#id_query")).to_have_value("email: {{ row.email }}")
    page.get_by_role("button", name="Add column").click()
    expect(page.get_by_role("status")).to_contain_text("Column “Profile” added.")
    assert_no_secret(page)
    page.get_by_role("link", name="Back to the table").click()
    page.wait_for_url(table_url)
    profiles = column_cells(page, "profile")
    expect(profiles).to_have_text(["", "", ""])

    # Run it from the column's menu: the progress bar shows, the cells fill in as answers
    # arrive, and once the run is over the grid refreshes without a progress bar.
    page.get_by_label("Column Profile menu").click()
    page.get_by_role("button", name="Run rows whose inputs changed").click()
    expect(page.locator("#grid .run-progress.is-active .run-progress__bar")).to_be_visible()
    wait_for_live_cells(page, "profile")
    expect(profiles.locator(".status-icon--done")).to_have_count(3, timeout=30_000)
    expect(page.locator("#grid .run-progress__bar")).to_have_count(0)
    expect(page.locator("#grid td.cell--done")).to_have_count(3)
    expect(profiles).to_have_text([compact({"person": person}) for person in PEOPLE.values()])
    calls = people_api.requests_to("/people")
    assert sorted(request.query["email"][-1] for request in calls) == sorted(PEOPLE)
    assert {request.header("X-API-Key") for request in calls} == {API_KEY}
    assert_no_secret(page)

    # A cell's details show the answer as a tree; one of its fields becomes a column.
    profiles.first.click()
    panel = page.locator("#cell-panel .cell-panel")
    expect(panel.locator("h2")).to_have_text("Profile")
    expect(panel.locator(".json-tree")).to_contain_text("Ada Lovelace")
    assert_no_secret(page)
    panel.get_by_title("Add person.name as a column").click()
    expect(page.get_by_role("status")).to_contain_text("Column “Profile · person.name” added.")
    header = page.locator("#grid th[data-key='profile_person_name']")
    expect(header).to_contain_text("Profile · person.name")
    names = column_cells(page, "profile_person_name")
    expect(names).to_have_text([person["name"] for person in PEOPLE.values()])

    # The field's cells open their source's details too; Escape closes the panel.
    names.nth(1).click()
    expect(panel.locator(".json-tree")).to_contain_text("Grace Hopper")
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    assert_no_secret(page)

    # Export: the enrichment as compact JSON, the field as plain names.
    page.locator("summary", has_text="Export").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "Leads.csv"
    with open(download.path(), encoding="utf-8") as exported:
        text = exported.read()
    assert API_KEY not in text
    assert list(csv.reader(io.StringIO(text))) == [
        ["Name", "Email", "Profile", "Profile · person.name"],
        *(
            [name, email, compact({"person": person}), person["name"]]
            for name, (email, person) in zip(["Ada", "Grace", "Alan"], PEOPLE.items(), strict=True)
        ),
    ]


def test_an_account_added_in_another_tab_joins_the_panel_without_losing_it(
    page, make_user, make_workspace
) -> None:
    from enrich.columns import column_add
    from enrich.tables import table_create

    workspace = make_workspace("Growth", owner=make_user("ada", password=PASSWORD))
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    column_add(table=table, label="Email")
    page.goto("/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")

    page.goto(f"/tables/{table.pk}/enrichment/new/")
    page.fill("#id_label", "Profile")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="+ add an account").click()
    tab = opened.value
    tab.get_by_role("link", name=re.compile(r"^API key")).click()
    tab.fill("#id_name", "People API")
    tab.fill("#id_key", "X-API-Key")
    tab.fill("#id_value", API_KEY)
    tab.get_by_role("button", name="Add account").click()
    expect(tab.locator("h1")).to_have_text("People API")
    tab.close()

    page.bring_to_front()
    page.get_by_role("button", name="refresh the list").click()
    expect(page.locator("#id_account option:checked")).to_have_text("People API")
    expect(page.locator("#id_label")).to_have_value("Profile")  # nothing typed was lost
    assert_no_secret(page)
