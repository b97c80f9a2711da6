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

from tests.browser.conftest import PASSWORD, sign_in
from tests.servers import LocalServer, RecordedRequest, Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect

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
    # A run over the whole column first says what it will send, and waits for a yes.
    page.get_by_label("Column Profile menu").click()
    page.get_by_role("link", name="Run rows whose inputs changed").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This queues 3 rows and sends 3 requests")
    expect(page.locator("#grid .grid__menu[open]")).to_have_count(0)  # the menu closed
    expect(dialog.get_by_role("button", name="Run 3 rows")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
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

    # On the account's page, re-running its columns first says what that would send.
    from enrich.enrichment.models import Run

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="People API").first.click()
    page.get_by_role("link", name="Re-run every column that uses it").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Profile in Leads: 3 rows")
    expect(dialog).to_contain_text("This queues 3 rows and sends 3 requests")
    expect(dialog.get_by_role("button", name="Run 3 rows")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Run.objects.count() == 1  # only the run above
    assert_no_secret(page)


def test_an_account_added_in_another_tab_joins_the_panel_without_losing_it(
    page, make_user, make_workspace
) -> None:
    from enrich.columns import column_add
    from enrich.tables import table_create

    workspace = make_workspace("Growth", owner=make_user("ada", password=PASSWORD))
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    column_add(table=table, label="Email")
    sign_in(page)

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


#: 25 leads, every fifth without an email: the data real users import.
BLANK_EVERY = 5
NAMES = [f"Lead {n:02d}" for n in range(1, 26)]
EMAILS = ["" if n % BLANK_EVERY == 0 else f"lead{n:02d}@example.test" for n in range(1, 26)]
BLANKS_CSV = (
    "Name,Email\r\n" + "".join(f"{n},{e}\r\n" for n, e in zip(NAMES, EMAILS, strict=True))
).encode()


def signed_in_workspace(page, make_user, make_workspace):
    workspace = make_workspace("Growth", owner=make_user("ada", password=PASSWORD))
    sign_in(page)
    return workspace


def test_blank_emails_are_skipped_a_nested_field_becomes_a_column_and_a_new_row_is_ready(
    page, celery_worker, make_user, make_workspace
) -> None:
    from enrich.tables import table_create
    from tests.servers import echo

    workspace = signed_in_workspace(page, make_user, make_workspace)
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    table_url = f"/tables/{table.pk}/"
    with LocalServer() as api:
        api.route("/people", echo())

        # Import 25 leads, five of them without an email.
        page.goto(f"{table_url}import/")
        page.set_input_files(
            "#id_file", {"name": "leads.csv", "mimeType": "text/csv", "buffer": BLANKS_CSV}
        )
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_role("status")).to_contain_text("Imported 25 rows")
        expect(page.locator(".grid-count")).to_have_text("25 rows")

        # An enrichment that only runs where there is an email, keeping two nested fields.
        page.get_by_text("+ Enrichment").click()
        page.get_by_role("link", name="HTTP API…").click()
        page.fill("#id_label", "Echo")
        page.fill("#id_endpoint", api.url("/people"))
        page.fill("#id_query", "email: {{ row.email }}")
        page.fill("#id_field_paths", "query.email, headers")
        page.fill("#id_only_run_if", "row.emial")
        page.get_by_role("button", name="Add column").click()
        # A mistake in the condition is shown under the condition, not under the endpoint.
        condition = page.locator(".field[data-field='only_run_if']")
        expect(condition.locator(".field__error")).to_contain_text("row.emial")
        expect(page.locator(".field[data-field='endpoint'] .field__error")).to_have_count(0)
        page.fill("#id_only_run_if", "row.email")
        page.get_by_role("button", name="Add column").click()
        expect(page.get_by_role("status")).to_contain_text("Column “Echo” added.")

        # The endpoint's input takes its field's width: the whole URL is in view.
        endpoint = page.locator("#id_endpoint")
        expect(endpoint).to_have_value(api.url("/people"))
        field_width = page.locator(".field[data-field='endpoint']").bounding_box()["width"]
        assert endpoint.bounding_box()["width"] >= field_width - 2
        assert endpoint.evaluate("input => input.scrollWidth <= input.clientWidth")

        # Test on a row: any row can be found by any column; nothing is written.
        page.fill("#test-row-search", "Lead 24")
        expect(page.locator("#test-row option")).to_have_text(["Lead 24 · lead24@example.test"])
        page.get_by_role("button", name="Send the request").click()
        result = page.locator("#test-result")
        expect(result).to_contain_text("Value the cell would get")
        expect(result.locator(".json-tree")).to_contain_text("lead24@example.test")

        # Run every row: the dialog says what it will send; the blank emails are skipped.
        page.get_by_role("link", name="Back to the table").click()
        header = page.locator("#grid th[data-key='echo']")
        width_before = header.bounding_box()["width"]
        page.get_by_label("Column Echo menu").click()
        page.get_by_role("link", name="Run rows whose inputs changed").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("This queues 25 rows and sends at most 25 requests")
        page.keyboard.press("Escape")  # not yet: nothing is sent, the focus is back on the menu
        expect(dialog).to_be_hidden()
        expect(page.get_by_label("Column Echo menu")).to_be_focused()
        assert api.count("/people") == 1
        page.get_by_label("Column Echo menu").click()
        page.get_by_role("link", name="Run rows whose inputs changed").click()
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Run 25 rows").click()
        # The user scrolls down while it runs; the grid reloads at the end and stays there.
        scroll_box = page.locator("#grid .grid-scroll")
        scroll_box.evaluate("box => { box.scrollTop = box.scrollHeight; }")
        page.locator("#grid").evaluate("grid => { grid.dataset.before = '1'; }")
        last_row = page.locator("#grid tbody tr[data-row]").last
        expect(page.locator("#grid tbody tr[data-row]").first).not_to_be_in_viewport()
        expect(last_row).to_be_in_viewport()
        echoes = column_cells(page, "echo")
        expect(page.locator("#grid:not([data-before])")).to_have_count(1, timeout=30_000)
        expect(echoes.locator(".status-icon--done")).to_have_count(20)
        expect(page.locator("#grid .run-progress__bar")).to_have_count(0)
        expect(last_row).to_be_in_viewport()
        expect(echoes.locator(".status-icon--skipped")).to_have_count(5)
        expect(echoes.locator(".status-icon--error")).to_have_count(0)
        for n, email in enumerate(EMAILS):
            if not email:
                expect(echoes.nth(n)).to_have_text("Skipped")
        # The column kept its width while the answers came in.
        assert abs(header.bounding_box()["width"] - width_before) < 1
        summary = page.locator("#grid th[data-key='echo'] .run-summary")
        expect(summary).to_contain_text("20 done")
        expect(summary).to_contain_text("0 errors")
        expect(summary).to_contain_text("5 skipped")
        expect(summary).to_contain_text("20 requests")
        assert api.count("/people") == 21  # the test on a row, and one per email

        # The cell panel names its row, keeps its cell in sight and shows the kept shape.
        echoes.nth(1).click()
        panel = page.locator("#cell-panel .cell-panel")
        expect(panel.locator(".cell-panel__row")).to_have_text("Row 2 · Lead 02")
        assert echoes.nth(1).bounding_box()["x"] + echoes.nth(1).bounding_box()["width"] <= (
            panel.bounding_box()["x"] + 1
        )
        expect(panel.locator(".json-tree")).to_contain_text("lead02@example.test")
        panel.get_by_title("Add query.email as a column").click()
        expect(page.get_by_role("status")).to_contain_text("Column “Echo · query.email” added.")
        kept = column_cells(page, "echo_query_email")
        expect(kept).to_have_text([email if email else "Skipped" for email in EMAILS])

        # The export has the field's values, and nothing for the skipped rows.
        page.locator("summary", has_text="Export").click()
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download CSV").click()
        with open(download_info.value.path(), encoding="utf-8") as exported:
            lines = list(csv.DictReader(exported))
        assert [line["Echo · query.email"] for line in lines] == EMAILS
        assert [line["Name"] for line in lines] == NAMES

        # "+ Row": 26 rows, and the new row's first cell has the focus, in view, for typing.
        page.get_by_role("button", name="+ Row").click()
        expect(page.locator(".grid-count")).to_have_text("26 rows")
        rows = page.locator("#grid tbody tr[data-row]")
        expect(rows).to_have_count(26)
        new_name = rows.last.locator("td[data-column]").first
        expect(new_name).to_be_focused()
        expect(new_name).to_be_in_viewport()
        page.keyboard.type("Lead 26")
        page.keyboard.press("Enter")
        expect(new_name).to_have_text("Lead 26")
