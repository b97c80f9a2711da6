"""The grid in a real browser: editing from the keyboard, moving around, columns, sort, search
and paging as the user scrolls."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.browser.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def signed_in(page, make_user, make_workspace):
    """The page, signed in through the login form as the owner of a fresh workspace."""
    user = make_user("ada", password=PASSWORD)
    workspace = make_workspace("Growth", owner=user)
    sign_in(page)
    return page, workspace


def make_table(workspace, *, columns, rows):
    from enrich.columns import column_add
    from enrich.rows import rows_insert
    from enrich.tables import table_create

    table = table_create(workspace=workspace, name="Leads", created_by=None)
    for label, kind in columns:
        column_add(table=table, label=label, kind=kind)
    rows_insert(table=table, rows=rows, start_position=0)
    return table


def cell(page, row: int, column: int):
    """The cell at 0-based (row, column) of the loaded rows."""
    return page.locator("#grid tbody tr[data-row]").nth(row).locator("td[data-column]").nth(column)


def expect_focus(page, row: int, column: int) -> None:
    """Wait until the cell at 0-based (row, column) has the keyboard focus."""
    page.wait_for_function(
        """([row, column]) => {
          const td = document.activeElement && document.activeElement.closest("td[data-column]");
          if (!td) return false;
          const tr = td.closest("tr");
          const rows = [...document.querySelectorAll("#grid tbody tr[data-row]")];
          const cells = [...tr.querySelectorAll("td[data-column]")];
          return rows.indexOf(tr) === row && cells.indexOf(td) === column;
        }""",
        arg=[row, column],
    )


def headers(page) -> list[str]:
    return page.locator("#grid th[data-key]").evaluate_all("ths => ths.map(th => th.dataset.key)")


def column(page, index: int):
    """The loaded cells of the 0-based column ``index``."""
    return page.locator(f"#grid tbody tr[data-row] > td:nth-of-type({index + 1})")


def test_cells_are_edited_and_navigated_from_the_keyboard(signed_in) -> None:
    page, workspace = signed_in
    table = make_table(
        workspace,
        columns=[("Name", "text"), ("Score", "number"), ("City", "text")],
        rows=[
            {"name": "Ada", "score": 1, "city": "London"},
            {"name": "Grace", "score": 2, "city": "Arlington"},
        ],
    )
    page.goto(f"/tables/{table.pk}/")
    assert page.locator("h1").inner_text() == "Leads"

    # A click selects; Enter edits (no editor until then); Enter saves and moves down.
    cell(page, 0, 0).click()
    editor = page.locator("#grid textarea.cell__editor")
    expect(editor).to_have_count(0)
    expect_focus(page, 0, 0)
    page.keyboard.press("Enter")
    expect(editor).to_have_value("Ada")
    editor.fill("Ada Lovelace")
    page.keyboard.press("Enter")
    expect(cell(page, 0, 0)).to_have_text("Ada Lovelace")
    expect_focus(page, 1, 0)

    # Arrow keys and Tab move the focus without editing.
    page.keyboard.press("ArrowRight")
    expect_focus(page, 1, 1)
    page.keyboard.press("ArrowUp")
    expect_focus(page, 0, 1)
    page.keyboard.press("Tab")
    expect_focus(page, 0, 2)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("ArrowLeft")
    expect_focus(page, 0, 0)
    page.keyboard.press("ArrowDown")

    # Enter edits the focused cell; Esc cancels and keeps the value.
    page.keyboard.press("Enter")
    editor.fill("Nobody")
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(cell(page, 1, 0)).to_have_text("Grace")
    expect_focus(page, 1, 0)

    # Typing on a focused cell replaces its value; Tab saves and moves right.
    page.keyboard.type("Grace Hopper")
    page.keyboard.press("Tab")
    expect(cell(page, 1, 0)).to_have_text("Grace Hopper")
    expect_focus(page, 1, 1)

    # A value the column refuses stays in the cell with the reason, the old value kept.
    page.keyboard.press("Enter")
    editor.fill("lots")
    page.keyboard.press("Enter")
    refused = cell(page, 1, 1)
    expect(refused.locator(".cell__error")).to_contain_text("is not a number")
    expect(refused).to_have_class(re.compile(r"\bcell--error\b"))
    expect_focus(page, 1, 1)

    page.reload()
    expect(cell(page, 0, 0)).to_have_text("Ada Lovelace")
    expect(cell(page, 1, 0)).to_have_text("Grace Hopper")
    expect(cell(page, 1, 1)).to_have_text("2")


def test_columns_move_by_menu_and_by_drag_and_rows_sort_and_search(signed_in) -> None:
    page, workspace = signed_in
    table = make_table(
        workspace,
        columns=[("Name", "text"), ("Score", "number"), ("City", "text")],
        rows=[
            {"name": "Ada", "score": 3, "city": "London"},
            {"name": "Grace", "score": 10, "city": "Arlington"},
            {"name": "Alan", "score": 2, "city": "Wilmslow"},
        ],
    )
    page.goto(f"/tables/{table.pk}/")

    page.get_by_label("Column Name menu").click()
    page.get_by_role("button", name="Move right →").click()
    expect(page.locator("#grid th[data-key]").first).to_have_attribute("data-key", "score")
    assert headers(page) == ["score", "name", "city"]

    page.locator('#grid th[data-key="city"]').drag_to(page.locator('#grid th[data-key="score"]'))
    expect(page.locator("#grid th[data-key]").first).to_have_attribute("data-key", "city")
    assert headers(page) == ["city", "score", "name"]

    # Sorting by a number column is numeric; a second click reverses it.
    page.get_by_role("link", name="Score").click()
    page.wait_for_url(re.compile(r"sort=score"))
    expect(column(page, 1)).to_have_text(["2", "3", "10"])
    page.get_by_role("link", name="Score ▲").click()
    page.wait_for_url(re.compile(r"sort=-score"))
    expect(column(page, 1)).to_have_text(["10", "3", "2"])

    page.get_by_label("Search rows").fill("LOND")
    expect(page.locator(".grid-count")).to_have_text("1 row found")
    expect(column(page, 2)).to_have_text(["Ada"])

    page.reload()  # the search and sort are in the address, so they survive a reload
    expect(page.get_by_label("Search rows")).to_have_value("LOND")
    expect(column(page, 2)).to_have_text(["Ada"])


def test_scrolling_loads_the_next_pages_of_a_long_table(signed_in, settings) -> None:
    settings.ENRICH_GRID_PAGE_SIZE = 100
    page, workspace = signed_in
    table = make_table(
        workspace,
        columns=[("Number", "number"), ("Name", "text")],
        rows=[{"number": n, "name": f"Person {n}"} for n in range(250)],
    )
    page.goto(f"/tables/{table.pk}/")
    rows = page.locator("#grid tbody tr[data-row]")
    expect(rows).to_have_count(100)
    expect(page.locator(".grid-count")).to_have_text("250 rows")

    for loaded in (200, 250):
        # Scroll the grid's own scroll box to its end, as a user does with the wheel.
        page.locator(".grid-scroll").evaluate("box => box.scrollTo(0, box.scrollHeight)")
        expect(rows).to_have_count(loaded)
    expect(page.locator("#grid .grid__more")).to_have_count(0)
    expect(column(page, 0)).to_have_text([str(n) for n in range(250)])

    # Keyboard navigation carries on across the loaded pages.
    cell(page, 99, 0).click()
    page.keyboard.press("ArrowDown")
    expect_focus(page, 100, 0)


def inside_the_window(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


@pytest.mark.parametrize("width", [1280, 560])
def test_menus_stay_inside_the_window_and_close_once_an_action_is_chosen(signed_in, width) -> None:
    page, workspace = signed_in
    table = make_table(
        workspace,
        columns=[("Name", "text"), ("City", "text"), ("Country", "text"), ("Notes", "text")],
        rows=[{"name": "Ada", "city": "London", "country": "UK", "notes": ""}],
    )
    page.set_viewport_size({"width": width, "height": 600})
    page.goto(f"/tables/{table.pk}/")

    page.locator("summary", has_text="+ Enrichment").click()
    enrichment_menu = page.locator(".grid-toolbar details[open] > .menu__panel")
    expect(enrichment_menu).to_be_visible()
    assert inside_the_window(page, enrichment_menu)
    page.keyboard.press("Escape")
    expect(enrichment_menu).to_have_count(0)

    # Scrolled to first, as a user does: a menu open while the grid scrolls closes.
    page.get_by_label("Column Notes menu").scroll_into_view_if_needed()
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50)))")
    page.get_by_label("Column Notes menu").click()
    column_menu = page.locator("#grid .grid__menu[open] > .menu__panel")
    expect(column_menu).to_be_visible()
    assert inside_the_window(page, column_menu)
    column_menu.get_by_role("button", name="Hide").click()
    expect(page.locator("#grid th[data-key='notes']")).to_have_count(0)
    expect(page.locator("details.menu[open]")).to_have_count(0)


def test_the_time_left_counts_down_ignores_jitter_and_believes_a_slower_run(signed_in) -> None:
    page, _ = signed_in
    page.clock.set_fixed_time(datetime.datetime(2026, 1, 1, 12, 0, 0))
    page.goto("/")

    def poll(seconds: int) -> str:
        """What the bar says after a poll whose server estimate is ``seconds``."""
        return page.evaluate(
            """(seconds) => {
              document.querySelector(".run-progress__eta")?.remove();
              const eta = document.createElement("span");
              eta.className = "run-progress__eta";
              eta.dataset.run = "7";
              eta.dataset.etaS = String(seconds);
              document.body.append(eta);
              document.dispatchEvent(new Event("htmx:afterSettle"));
              return eta.textContent;
            }""",
            seconds,
        )

    assert poll(90) == "about 1 min 30 s left"
    assert poll(93) == "about 1 min 30 s left"  # a little more: jitter, not believed
    assert poll(40) == "about 40 s left"
    page.clock.set_fixed_time(datetime.datetime(2026, 1, 1, 12, 0, 30))
    assert poll(12) == "about 10 s left"  # 30 s went by: the countdown is lower still
    assert poll(180) == "about 3 min left"  # the run slowed down: the time left says so
    page.clock.set_fixed_time(datetime.datetime(2026, 1, 1, 12, 10, 0))
    assert poll(5) == "about 5 s left"  # past the countdown: the new estimate stands
