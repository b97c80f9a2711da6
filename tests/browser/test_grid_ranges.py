"""Working the grid as a spreadsheet, in a real browser: a click selects and Enter edits,
Shift extends a range, the range copies as tab-separated text and pastes elsewhere, a paste
from a spreadsheet writes (and adds rows), Delete clears, Ctrl+D fills down, and Ctrl+Z and
Ctrl+Y undo and redo each of them, from the server."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def grid(page, make_user, make_workspace):
    from enrich.columns import column_add
    from enrich.rows import rows_insert
    from enrich.tables import table_create

    user = make_user("ada", password=PASSWORD)
    workspace = make_workspace("Growth", owner=user)
    table = table_create(workspace=workspace, name="Leads", created_by=None)
    for label in ("A", "B", "C", "D", "E"):
        column_add(table=table, label=label, kind="text")
    rows_insert(
        table=table,
        rows=[{key: f"{key}{n}" for key in "abcde"} for n in range(6)],
        start_position=0,
    )
    sign_in(page)
    page.goto(f"/tables/{table.pk}/")
    return page, table


def cell(page, row: int, column: int):
    return page.locator("#grid tbody tr[data-row]").nth(row).locator("td[data-column]").nth(column)


def texts(page, rows: range, columns: range) -> list[list[str]]:
    return [[cell(page, r, c).inner_text() for c in columns] for r in rows]


def copy(page) -> str:
    """What Ctrl+C puts on the clipboard (the grid's copy handler, read back)."""
    return page.evaluate(
        """() => {
          const data = new DataTransfer();
          const options = { clipboardData: data, bubbles: true, cancelable: true };
          document.activeElement.dispatchEvent(new ClipboardEvent("copy", options));
          return data.getData("text/plain");
        }"""
    )


def paste(page, text: str) -> None:
    """Ctrl+V with ``text`` on the clipboard, as a spreadsheet puts it there."""
    page.evaluate(
        """(text) => {
          const data = new DataTransfer();
          data.setData("text/plain", text);
          document.activeElement.dispatchEvent(
            new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        text,
    )


def test_select_copy_paste_clear_fill_undo_and_redo(grid) -> None:
    page, table = grid
    status = page.locator("#grid-status")

    # A click selects without editing; Shift+click makes a 3 x 4 range.
    cell(page, 0, 0).click()
    expect(page.locator("#grid textarea.cell__editor")).to_have_count(0)
    cell(page, 2, 3).click(modifiers=["Shift"])
    expect(page.locator("#grid td.is-selected")).to_have_count(12)
    copied = copy(page)
    assert copied.split("\n") == ["a0\tb0\tc0\td0", "a1\tb1\tc1\td1", "a2\tb2\tc2\td2"]

    # Pasted three rows lower: the same 3 x 4 block, written in one change.
    cell(page, 3, 0).click()
    paste(page, copied)
    expect(status).to_contain_text("Pasted 12 cells")
    expect(cell(page, 5, 3)).to_have_text("d2")
    assert texts(page, range(3, 6), range(4)) == texts(page, range(0, 3), range(4))

    # Ctrl+Z undoes the paste; Ctrl+Y does it again.
    page.keyboard.press("Control+z")
    expect(status).to_contain_text("Undid the paste")
    expect(cell(page, 5, 3)).to_have_text("d5")
    page.keyboard.press("Control+y")
    expect(status).to_contain_text("Redid the paste")
    expect(cell(page, 5, 3)).to_have_text("d2")

    # Shift+arrows select; Delete clears the range; Ctrl+Z brings it back.
    cell(page, 1, 1).click()
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#grid td.is-selected")).to_have_count(4)
    page.keyboard.press("Delete")
    expect(status).to_contain_text("Cleared 4 cells")
    expect(cell(page, 2, 2)).to_have_text("")
    page.keyboard.press("Control+z")
    expect(cell(page, 2, 2)).to_have_text("c2")

    # Ctrl+D fills the top of the range down.
    cell(page, 0, 4).click()
    cell(page, 3, 4).click(modifiers=["Shift"])
    page.keyboard.press("Control+d")
    expect(status).to_contain_text("Filled 3 cells")
    expect(cell(page, 3, 4)).to_have_text("e0")

    # A paste from a spreadsheet past the last row adds rows, and is undone with them.
    cell(page, 5, 0).click()
    paste(page, "x\ty\nlast\tone\n")
    expect(status).to_contain_text("added 1 row at the end")
    expect(page.locator("#grid tbody tr[data-row]").last.locator("td").first).to_have_text("last")
    page.keyboard.press("Control+z")
    expect(status).to_contain_text("Undid the paste")
    from enrich.models import Row

    assert Row.objects.filter(table=table).count() == 6
    # A reload keeps what can be undone: it lives on the server.
    page.reload()
    cell(page, 0, 0).click()
    page.keyboard.press("Control+z")
    expect(page.locator("#grid-status")).to_contain_text("Undid the fill down")
