"""Columns: stable keys, type changes that never lose data, order, hiding, deletion."""

from __future__ import annotations

import pytest

from enrich.columns import (
    column_add,
    column_change_kind,
    column_delete,
    column_key_for,
    column_move,
    column_rename,
    columns_for_table,
    columns_reorder,
)
from enrich.exceptions import ColumnLabelRequired
from enrich.models import ColumnKind, Row
from enrich.rows import row_add

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("label", "taken", "key"),
    [
        ("Company Domain", set(), "company_domain"),
        ("  E-mail (work) ", set(), "e_mail_work"),
        ("Société Générale", set(), "societe_generale"),
        ("2024 revenue", set(), "c_2024_revenue"),
        ("🎉", set(), "column"),
        ("Email", {"email", "email_2"}, "email_3"),
        ("x" * 80, set(), "x" * 48),
    ],
)
def test_a_key_is_a_template_friendly_unique_slug(label: str, taken: set[str], key: str) -> None:
    assert column_key_for(label=label, taken=taken) == key


def test_renaming_a_column_keeps_its_key(make_table, workspace) -> None:
    table = make_table(workspace, columns=["Email"])
    column = table.columns.get()

    column_rename(column=column, label="Work email")

    column.refresh_from_db()
    assert (column.label, column.key) == ("Work email", "email")
    assert column_add(table=table, label="Email").key == "email_2"


def test_an_empty_label_is_refused(make_table, workspace) -> None:
    table = make_table(workspace, columns=[])
    with pytest.raises(ColumnLabelRequired):
        column_add(table=table, label="   ")


def test_changing_the_type_converts_what_it_can_and_keeps_the_rest(make_table, workspace) -> None:
    table = make_table(workspace, columns=["Score"])
    score = table.columns.get()
    raws = ["42", "00123", "-5", "1.5", "n/a", "", "twelve"]
    rows = [row_add(table=table, values={score.key: raw} if raw else {}) for raw in raws]

    change = column_change_kind(column=score, kind=ColumnKind.NUMBER)

    assert (change.converted, change.kept) == (4, 2)
    assert "“n/a”" in change.message and "“twelve”" in change.message
    values = [Row.objects.get(pk=row.pk).values.get(score.key) for row in rows]
    assert values == [42, 123, -5, 1.5, "n/a", None, "twelve"]

    back = column_change_kind(column=score, kind=ColumnKind.TEXT)
    assert back.kept == 0
    values = [Row.objects.get(pk=row.pk).values.get(score.key) for row in rows]
    assert values == ["42", "123", "-5", "1.5", "n/a", None, "twelve"]


def test_changing_to_boolean_and_date_and_json(make_table, workspace) -> None:
    table = make_table(workspace, columns=["Flag", "Day", "Blob"])
    flag, day, blob = table.columns.order_by("position")
    row = row_add(
        table=table, values={flag.key: "yes", day.key: "2025-02-30", blob.key: '{"a": 1}'}
    )

    assert column_change_kind(column=flag, kind=ColumnKind.BOOLEAN).converted == 1
    assert column_change_kind(column=day, kind=ColumnKind.DATE).kept == 1
    assert column_change_kind(column=blob, kind=ColumnKind.JSON).converted == 1

    row.refresh_from_db()
    assert row.values == {flag.key: True, day.key: "2025-02-30", blob.key: {"a": 1}}


def test_columns_move_by_menu_and_by_drag(make_table, workspace) -> None:
    table = make_table(workspace, columns=["A", "B", "C", "D"])
    a = table.columns.get(key="a")

    column_move(column=a, offset=2)
    assert [c.key for c in columns_for_table(table=table)] == ["b", "c", "a", "d"]
    column_move(column=a, offset=-10)
    assert [c.key for c in columns_for_table(table=table)] == ["a", "b", "c", "d"]

    # A stale page that doesn't know column "d" can't drop it.
    columns_reorder(table=table, keys=["c", "a", "nope", "b"])
    assert [c.key for c in columns_for_table(table=table)] == ["c", "a", "b", "d"]


def test_deleting_a_column_removes_its_values_so_a_new_namesake_starts_empty(
    make_table, workspace
) -> None:
    table = make_table(workspace, columns=["Name", "Email"])
    name, email = table.columns.order_by("position")
    row = row_add(table=table, values={name.key: "Ada", email.key: "ada@example.com"})

    column_delete(column=email)
    again = column_add(table=table, label="Email")

    assert again.key == "email"
    assert Row.objects.get(pk=row.pk).values == {name.key: "Ada"}
