"""Pastes, clears and fill downs: one call, one transaction, every value checked, rows added
past the end, computed columns left alone, and each change undone and redone by its user
without overwriting a later edit."""

from __future__ import annotations

import pytest

from enrich.cell_writes import (
    CellWrite,
    action_redo,
    action_undo,
    cell_edit_record,
    cells_write,
    parse_tsv,
)
from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
from enrich.exceptions import TableError
from enrich.models import GridAction, Row
from enrich.rows import row_set_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(owner_client):
    _, workspace = owner_client
    return workspace.memberships.get().user


@pytest.fixture
def people(workspace, make_table):
    return make_table(
        workspace,
        columns=("Name", "Email", ("Employees", "number")),
        rows=[
            {"name": "Ada", "email": "ada@analytical.example", "employees": 12},
            {"name": "Grace", "email": "grace@navy.example", "employees": 3},
        ],
    )


def values(table):
    return [row.values for row in Row.objects.filter(table=table).order_by("position")]


def ids(table):
    return list(Row.objects.filter(table=table).order_by("position").values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("a\tb\nc\td\n", [["a", "b"], ["c", "d"]]),
        ("a\tb\r\nc\td", [["a", "b"], ["c", "d"]]),
        ('"two\nlines"\t"tab\there"\t"say ""hi"""', [["two\nlines", "tab\there", 'say "hi"']]),
        ("one", [["one"]]),
        ("\t\n", [["", ""]]),
        ("", []),
        ("名前\tÜ", [["名前", "Ü"]]),
    ],
)
def test_tsv_from_a_spreadsheet_is_read_as_excel_writes_it(text, rows) -> None:
    assert parse_tsv(text) == rows


def test_a_paste_writes_checks_and_appends_in_one_change(people, owner) -> None:
    ada, grace = ids(people)
    outcome = cells_write(
        table=people,
        user=owner,
        writes=[
            CellWrite(ada, "name", "Ada L."),
            CellWrite(ada, "employees", "not a number"),
            CellWrite(grace, "employees", "40"),
            CellWrite(grace, "email", ""),
        ],
        new_rows=[{"name": "Lin", "employees": "7"}, {"name": "  "}],
    )
    assert outcome.written == 3
    assert outcome.refused == [
        (ada, "employees", "“not a number” is not a number (use digits and a dot: 1234.5).")
    ]
    assert values(people) == [
        {"name": "Ada L.", "email": "ada@analytical.example", "employees": 12},
        {"name": "Grace", "employees": 40},
        {"name": "Lin", "employees": 7},
        {},
    ]
    assert outcome.action.kind == "paste" and len(outcome.rows_added) == 2


def test_computed_columns_are_skipped_with_a_notice(people, owner) -> None:
    spec = EnrichmentSpec(kind="formula", config={"expression": "upper(row.name)"})
    enrichment_column_create(table=people, label="Shout", spec=spec)
    ada, _ = ids(people)
    outcome = cells_write(
        table=people,
        user=owner,
        writes=[CellWrite(ada, "name", "ada"), CellWrite(ada, "shout", "typed over")],
    )
    assert outcome.skipped == ["Shout"]
    # The paste is one change for what reads it too: the formula follows the new name.
    assert values(people)[0]["shout"] == "ADA"


def test_a_paste_too_big_is_refused_naming_the_limit(people, owner, settings) -> None:
    settings.ENRICH_MAX_PASTE_CELLS = 3
    ada, grace = ids(people)
    writes = [CellWrite(row, key, "x") for row in (ada, grace) for key in ("name", "email")]
    with pytest.raises(TableError, match="at most 3 can be written at once"):
        cells_write(table=people, user=owner, writes=writes)
    assert not GridAction.objects.exists()


def test_undo_and_redo_a_paste_with_its_new_rows(people, owner) -> None:
    ada, grace = ids(people)
    before = values(people)
    cells_write(
        table=people,
        user=owner,
        writes=[CellWrite(ada, "name", "X"), CellWrite(grace, "name", "Y")],
        new_rows=[{"name": "Z"}],
    )
    after = values(people)

    undone = action_undo(table=people, user=owner)
    assert (undone.written, undone.conflicts) == (2, 0)
    assert values(people) == before

    redone = action_redo(table=people, user=owner)
    assert (redone.written, len(redone.rows_added)) == (2, 1)
    assert values(people) == after
    assert action_redo(table=people, user=owner) is None


def test_undo_leaves_a_cell_someone_changed_since_and_says_so(people, owner, make_user) -> None:
    ada, grace = ids(people)
    cells_write(
        table=people,
        user=owner,
        writes=[CellWrite(ada, "name", "X"), CellWrite(grace, "name", "Y")],
    )
    other = make_user()
    cells_write(table=people, user=other, writes=[CellWrite(grace, "name", "Grace H.")])

    undone = action_undo(table=people, user=owner)

    assert (undone.written, undone.conflicts) == (1, 1)
    assert [row["name"] for row in values(people)] == ["Ada", "Grace H."]
    # The other user's own change is theirs to undo.
    assert action_undo(table=people, user=other).written == 1
    assert [row["name"] for row in values(people)] == ["Ada", "Y"]


def test_a_new_change_forgets_what_was_undone(people, owner) -> None:
    ada, _ = ids(people)
    cells_write(table=people, user=owner, writes=[CellWrite(ada, "name", "X")])
    action_undo(table=people, user=owner)
    row = Row.objects.get(pk=ada)
    old = row.values.get("email")
    new = row_set_value(row=row, column=people.columns.get(key="email"), raw="new@x.example")
    cell_edit_record(table=people, user=owner, row_id=ada, key="email", before=old, after=new)
    assert action_redo(table=people, user=owner) is None
    assert action_undo(table=people, user=owner).written == 1
    assert values(people)[0]["email"] == "ada@analytical.example"


# --- the grid's endpoints ------------------------------------------------------------------


def post(client, name, table, **data):
    from django.urls import reverse

    return client.post(reverse(name, args=[table.pk]), data, HTTP_HX_REQUEST="true")


def test_paste_clear_fill_undo_and_redo_through_the_grid(client, people) -> None:
    ada, grace = ids(people)
    rows = f"{ada},{grace}"

    pasted = post(
        client, "cells_paste", people, rows=rows, columns="name,employees",
        text="Ada L.\t13\nGrace H.\tmany\n",
    )  # fmt: skip
    page = pasted.content.decode()
    assert pasted.status_code == 200
    assert "Pasted 3 cells" in page and "kept 1 that did not fit their column" in page
    assert f'id="row-{ada}"' in page and 'hx-swap-oob="true"' in page
    assert [(r["name"], r["employees"]) for r in values(people)] == [
        ("Ada L.", 13),
        ("Grace H.", 3),
    ]

    post(client, "cells_fill", people, rows=rows, columns="name")
    assert [r["name"] for r in values(people)] == ["Ada L.", "Ada L."]

    cleared = post(client, "cells_clear", people, rows=str(grace), columns="email,employees")
    assert "Cleared 2 cells" in cleared.content.decode()
    assert values(people)[1] == {"name": "Ada L."}

    for expected in (
        {"name": "Ada L.", "email": "grace@navy.example", "employees": 3},
        {"name": "Grace H.", "email": "grace@navy.example", "employees": 3},
    ):
        undone = post(client, "action_undo", people)
        assert "Undid the" in undone.content.decode()
        assert values(people)[1] == expected
    redone = post(client, "action_redo", people)
    assert "Redid the fill down: 1 cell." in redone.content.decode()
    assert values(people)[1]["name"] == "Ada L."


def test_a_paste_past_the_end_asks_first_above_the_threshold(client, people, settings) -> None:
    settings.ENRICH_PASTE_CONFIRM_ROWS = 1
    ada, grace = ids(people)
    text = "A\nB\nC\nD\n"
    asked = post(
        client, "cells_paste", people, rows=f"{ada},{grace}", columns="name", text=text, end="1"
    )
    assert asked["HX-Retarget"] == "#confirm-dialog"
    assert "Add 2 rows" in asked.content.decode()
    assert len(values(people)) == 2

    done = post(
        client, "cells_paste", people, rows=f"{ada},{grace}", columns="name", text=text,
        end="1", confirm="1",
    )  # fmt: skip
    assert done["HX-Trigger"] == "grid-show-end"
    assert [r["name"] for r in values(people)] == ["A", "B", "C", "D"]

    # Without "end" (more rows below, not loaded), the extra lines are not pasted: it says so.
    partial = post(client, "cells_paste", people, rows=str(ada), columns="name", text="X\nY\n")
    assert "1 line past the loaded rows were not pasted" in partial.content.decode()


def test_range_endpoints_refuse_another_workspaces_rows(
    client, people, make_workspace, make_table
) -> None:
    other = make_table(make_workspace(), columns=("Name",), rows=[{"name": "theirs"}])
    theirs = ids(other)[0]
    post(client, "cells_paste", people, rows=str(theirs), columns="name", text="mine")
    assert values(other) == [{"name": "theirs"}]
    assert post(client, "cells_clear", other, rows=str(theirs), columns="name").status_code == 404
