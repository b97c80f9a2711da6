"""Rows: one cell is written atomically, so concurrent edits of one row never lose data."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from enrich.exceptions import InvalidValue
from enrich.models import ColumnKind, ImportJob, Row
from enrich.rows import row_add, row_set_value, rows_delete, rows_insert

ROUNDS = 25


@pytest.mark.django_db(transaction=True)
def test_two_users_editing_different_cells_of_one_row_both_keep_their_values(
    make_table, workspace
) -> None:
    table = make_table(workspace, columns=["Name", "Email"], rows=[{"name": "Ada"}])
    name, email = table.columns.order_by("position")
    # Each "user" holds the row as it was when their page loaded: a whole-dict save would
    # put back the other cell's old value.
    stale_for_alice = Row.objects.get(table=table)
    stale_for_bob = Row.objects.get(table=table)
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    connections: set[int] = set()

    def edit(row: Row, column, prefix: str) -> None:
        try:
            start.wait(timeout=10)
            connections.add(id(connection.connection) if connection.connection else 0)
            for number in range(ROUNDS):
                row_set_value(row=row, column=column, raw=f"{prefix} {number}")
                connections.add(id(connection.connection))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=edit, args=(stale_for_alice, name, "alice")),
        threading.Thread(target=edit, args=(stale_for_bob, email, "bob")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(connections - {0}) == 2, "each user wrote through their own connection"
    values = Row.objects.get(table=table).values
    assert values == {name.key: f"alice {ROUNDS - 1}", email.key: f"bob {ROUNDS - 1}"}


@pytest.mark.django_db
def test_a_cell_write_changes_only_its_key(make_table, workspace) -> None:
    table = make_table(workspace, columns=["Name", ("Score", ColumnKind.NUMBER)])
    name, score = table.columns.order_by("position")
    row = row_add(table=table, values={name.key: "Ada", "kept": {"deep": [1]}})
    stale = Row.objects.get(pk=row.pk)
    Row.objects.filter(pk=row.pk).update(values={name.key: "Grace", "kept": {"deep": [1]}})

    assert row_set_value(row=stale, column=score, raw="42") == 42

    assert Row.objects.get(pk=row.pk).values == {
        name.key: "Grace",
        "kept": {"deep": [1]},
        score.key: 42,
    }


@pytest.mark.django_db
def test_an_invalid_value_is_refused_and_the_old_value_kept(make_table, workspace) -> None:
    table = make_table(workspace, columns=[("Score", ColumnKind.NUMBER)])
    score = table.columns.get()
    row = row_add(table=table, values={score.key: 7})

    with pytest.raises(InvalidValue, match="is not a number"):
        row_set_value(row=row, column=score, raw="seven")

    assert Row.objects.get(pk=row.pk).values == {score.key: 7}


@pytest.mark.django_db
def test_values_with_quotes_and_unicode_are_stored_as_typed(make_table, workspace) -> None:
    table = make_table(workspace, columns=["Note", ("Data", ColumnKind.JSON)])
    note, data = table.columns.order_by("position")
    row = row_add(table=table)
    awkward = "He said \"hi\"\n\\ and 'bye' — ünïcødé 🎉 $.x"

    row_set_value(row=row, column=note, raw=awkward)
    row_set_value(row=row, column=data, raw='{"a": [1, 2.5, true, null]}')

    assert Row.objects.get(pk=row.pk).values == {
        note.key: awkward,
        data.key: {"a": [1, 2.5, True, None]},
    }


@pytest.mark.django_db
def test_rows_are_added_at_the_end_and_deleted_only_within_their_table(
    make_table, workspace
) -> None:
    table = make_table(workspace, rows=2)
    other = make_table(workspace, name="Other", rows=1)
    added = row_add(table=table)
    assert added.position == 2

    other_row = Row.objects.get(table=other)
    deleted = rows_delete(table=table, row_ids=[added.pk, other_row.pk])

    assert deleted == 1
    assert Row.objects.filter(pk=other_row.pk).exists()


AWKWARD = [
    "back\\slash",
    "\\N",
    "\\.",
    "tab\there",
    "line\nbreak and\r\nCRLF",
    'quote " and \\" escaped',
    "ünïcødé 🎉 \u2028",
    "",
]


@pytest.mark.django_db
def test_bulk_inserted_values_come_back_exactly_as_given(make_table, workspace) -> None:
    # PostgreSQL gets these through COPY's text format, where a backslash is an escape.
    table = make_table(workspace, columns=["Note"])
    job = ImportJob.objects.create(table=table, original_name="a.csv", status="done")
    rows = [{"note": text} for text in AWKWARD] + [{"data": {"a\\b": [1, "\\N", None]}}, {}]

    rows_insert(table=table, rows=rows[:5], start_position=0)
    rows_insert(table=table, rows=rows[5:], start_position=5, import_job=job)

    stored = list(Row.objects.filter(table=table).order_by("position"))
    # A blank cell ("") is stored as no key; everything else comes back to the byte.
    assert [row.values for row in stored] == [*rows[:7], {}, *rows[8:]]
    assert [row.import_job_id for row in stored] == [None] * 5 + [job.pk] * (len(rows) - 5)
