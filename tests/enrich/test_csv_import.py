"""CSV import: the hostile corpus, limits, mapping, typing, and all-or-nothing failures."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from enrich.csv_export import ExportOptions, csv_export_chunks
from enrich.csv_import import (
    NEW_COLUMN,
    SKIP,
    import_run,
    import_set_mapping,
    import_start,
    import_upload,
)
from enrich.grid import visible_rows
from enrich.models import ColumnKind, ImportJob, Row, Table
from enrich.rows import rows_delete, rows_insert
from tests.enrich.conftest import csv_text, csv_upload
from tests.enrich.csv_corpus import CASES, Case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def exported(table: Table, **options) -> list[list[str]]:
    text = "".join(
        csv_export_chunks(table=table, options=ExportOptions(neutralise=False, **options))
    )
    return list(csv.reader(io.StringIO(text, newline="")))


def import_new(workspace, data: bytes | str, name: str = "people.csv") -> ImportJob:
    job = import_upload(workspace=workspace, upload=csv_upload(data, name), created_by=None)
    return import_start(job=job, background=False)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_hostile_corpus_imports_as_expected(workspace, case: Case) -> None:
    from enrich.exceptions import CsvError

    try:
        job = import_new(workspace, case.data())
    except CsvError as error:  # refused at upload: nothing was created
        assert case.error and case.error in str(error), str(error)
        assert not Table.objects.filter(workspace=workspace).exists()
        return
    if case.error:
        assert job.status == ImportJob.Status.FAILED, job.problems
        assert case.error in job.error
        # "Nothing was imported": the table made for the file went with it.
        assert not Table.objects.filter(workspace=workspace).exists()
        assert not Row.objects.exists()
        return
    assert job.status == ImportJob.Status.DONE, job.error
    if case.encoding:
        assert job.encoding == case.encoding
    assert job.delimiter == case.delimiter
    header, *rows = exported(job.table)
    assert header == case.headers
    assert rows == case.rows
    assert [problem["line"] for problem in job.problems] == case.problem_lines, job.problems
    assert job.rows_imported == len(case.rows)


def test_import_export_import_is_lossless(workspace) -> None:
    awkward = [
        ["id", "text", "zip", "json-ish", "empty"],
        ["1", 'multi\nline "quoted", with comma', "00123", '{"a": 1}', ""],
        ["2", "=SUM(A1:A2)", "-5", "[1, 2]", ""],
        ["3", "  spaces  ", "NA", "null", ""],
        ["4", "ünïcødé 🎉 \t tab", "1e5", "", ""],
        ["5", "'already quoted", "+33 1 23", "@handle", ""],
    ]
    first = import_new(workspace, csv_text(awkward))
    export_one = exported(first.table)
    assert export_one == awkward

    text = "".join(csv_export_chunks(table=first.table, options=ExportOptions(neutralise=False)))
    second = import_new(workspace, text.encode())
    assert exported(second.table) == export_one
    assert [c.key for c in second.table.columns.all()] == [c.key for c in first.table.columns.all()]


def test_typed_columns_survive_the_round_trip(workspace, make_table) -> None:
    table = make_table(
        workspace,
        columns=[
            ("Score", ColumnKind.NUMBER),
            ("Active", ColumnKind.BOOLEAN),
            ("Day", ColumnKind.DATE),
            ("Data", ColumnKind.JSON),
            ("Site", ColumnKind.URL),
        ],
        rows=[
            {
                "score": -5,
                "active": True,
                "day": "2025-01-31",
                "data": {"a": [1, "x"]},
                "site": "https://a.example",
            },
            {"score": 0.1, "active": False, "data": "just a string"},
            {"score": 12345678901234567890},
        ],
    )
    text = "".join(csv_export_chunks(table=table, options=ExportOptions()))
    copy = make_table(workspace, name="Copy", columns=[])
    for column in table.columns.all():
        copy.columns.create(
            key=column.key, label=column.label, kind=column.kind, position=column.position
        )

    job = import_upload(workspace=workspace, upload=csv_upload(text), created_by=None, table=copy)
    assert job.mapping == ["score", "active", "day", "data", "site"]
    import_set_mapping(job=job, mapping=job.mapping)
    job = import_start(job=job, background=False)

    assert job.status == ImportJob.Status.DONE and not job.problems
    original = list(
        Row.objects.filter(table=table).order_by("position").values_list("values", flat=True)
    )
    copied = list(
        Row.objects.filter(table=copy).order_by("position").values_list("values", flat=True)
    )
    assert copied == original


def test_appending_maps_headers_types_values_and_reports_what_did_not_fit(
    client, workspace, make_table
) -> None:
    table = make_table(
        workspace, columns=["Name", ("Score", ColumnKind.NUMBER)], rows=[{"name": "Old"}]
    )
    upload = csv_upload("NAME,score,Notes,Ignored\nAda,42,n1,x\nGrace,lots,n2,y\n")

    page = client.post(reverse("import_into_table", args=[table.pk]), {"file": upload})
    job = ImportJob.objects.get(table=table)
    assert page.status_code == 302 and page["Location"] == reverse("import_detail", args=[job.pk])
    mapping_page = client.get(reverse("import_detail", args=[job.pk]))
    assert b"Which column does each header fill?" in mapping_page.content
    assert job.mapping == ["name", "score", NEW_COLUMN, NEW_COLUMN]

    done = client.post(
        reverse("import_detail", args=[job.pk]),
        {"h0": "name", "h1": "score", "h2": NEW_COLUMN, "h3": SKIP},
    )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert done.status_code == 302 and done["Location"] == reverse("import_detail", args=[job.pk])
    assert [p["line"] for p in job.problems] == [3]
    assert "score: “lots” is not a number" in job.problems[0]["message"]
    values = list(
        Row.objects.filter(table=table).order_by("position").values_list("values", flat=True)
    )
    assert values == [
        {"name": "Old"},
        {"name": "Ada", "score": 42, "notes": "n1"},
        {"name": "Grace", "score": "lots", "notes": "n2"},
    ]
    report = client.get(reverse("import_detail", args=[job.pk]))
    assert b"Imported 2 rows" in report.content and b"Line 3: score:" in report.content


def test_a_mapping_that_fills_one_column_twice_is_refused(client, workspace, make_table) -> None:
    table = make_table(workspace, columns=["Name"])
    client.post(reverse("import_into_table", args=[table.pk]), {"file": csv_upload("a,b\n1,2\n")})
    job = ImportJob.objects.get(table=table)

    page = client.post(reverse("import_detail", args=[job.pk]), {"h0": "name", "h1": "name"})

    assert page.status_code == 200 and b"Two headers fill the same column" in page.content
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.MAPPING


def test_too_many_rows_fails_naming_the_line_and_leaves_the_table_as_it_was(
    workspace, make_table, settings
) -> None:
    settings.ENRICH_CSV_MAX_ROWS = 3
    table = make_table(workspace, columns=["Name"], rows=[{"name": "kept"}])
    before = list(Row.objects.filter(table=table).values_list("pk", "values"))
    job = import_upload(
        workspace=workspace,
        upload=csv_upload("name,new\na,1\nb,2\nc,3\nd,4\n"),
        created_by=None,
        table=table,
    )
    import_set_mapping(job=job, mapping=job.mapping)

    job = import_start(job=job, background=False)

    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("Line 5: the file has more than 3 rows")
    assert list(Row.objects.filter(table=table).values_list("pk", "values")) == before
    assert list(table.columns.values_list("key", flat=True)) == ["name"]  # "new" is gone


def test_a_file_over_the_size_limit_is_refused_in_the_form(client, workspace, settings) -> None:
    settings.ENRICH_CSV_MAX_FILE_MB = 1
    upload = csv_upload(b"a\n" + b"x\n" * 600_000)

    page = client.post(reverse("import_new_table"), {"file": upload, "name": "Big"})

    assert page.status_code == 200
    assert b"the limit is 1 MB (ENRICH_CSV_MAX_FILE_MB)" in page.content
    assert not Table.objects.filter(workspace=workspace).exists()


def test_garbage_uploads_are_messages_never_errors(client, workspace) -> None:
    for data in [b"", b"\x00\x01\x02" * 10, b'a,b\n"x', bytes(range(256)) * 4]:
        page = client.post(reverse("import_new_table"), {"file": csv_upload(data)}, follow=True)
        assert page.status_code == 200, data[:20]


def test_a_new_table_import_from_the_web_runs_inline_for_small_files(client, workspace) -> None:
    page = client.post(
        reverse("import_new_table"),
        {"file": csv_upload("Name,Email\nAda,a@x.io\n", "leads.csv")},
        follow=True,
    )
    table = Table.objects.get(workspace=workspace)
    assert table.name == "leads"
    assert page.redirect_chain[-1][0] == reverse("table_detail", args=[table.pk])
    assert "Imported 1 rows from “leads.csv”".encode() in page.content


def test_running_an_import_twice_imports_it_once(workspace) -> None:
    job = import_new(workspace, "a\n1\n2\n")
    assert import_run(job_id=job.pk).status == ImportJob.Status.DONE
    assert Row.objects.filter(table=job.table).count() == 2


def test_the_commands_create_append_and_export(workspace, tmp_path, capsys) -> None:
    source = tmp_path / "leads.csv"
    source.write_text("Name,Email\nAda,ada@example.com\n", encoding="utf-8")
    call_command("import_csv", "--workspace", workspace.name, "--table", "Leads", str(source))
    assert "Imported 1 rows into “Leads”" in capsys.readouterr().out

    source.write_text("email,name,extra\ngrace@example.com,Grace,=1+1\nbad\n", encoding="utf-8")
    call_command("import_csv", "--workspace", str(workspace.pk), "--table", "Leads", str(source))
    captured = capsys.readouterr()
    assert "line 3: 1 values for 3 columns" in captured.err

    target = tmp_path / "out.csv"
    call_command("export_csv", "--workspace", workspace.name, "--table", "Leads", str(target))
    assert target.read_text(encoding="utf-8").splitlines() == [
        "Name,Email,extra",
        "Ada,ada@example.com,",
        "Grace,grace@example.com,'=1+1",
        ",bad,",
    ]
    call_command(
        "export_csv",
        "--workspace",
        workspace.name,
        "--table",
        "Leads",
        "--bom",
        "--keep-formulas",
        "-",
    )
    assert capsys.readouterr().out.startswith("\ufeffName,Email,extra\r\nAda")

    with pytest.raises(CommandError, match="No table"):
        call_command("export_csv", "--workspace", workspace.name, "--table", "Nope", "-")
    with pytest.raises(CommandError, match="No workspace"):
        call_command("import_csv", "--workspace", "Nope", "--table", "Leads", str(source))


def test_an_import_in_small_chunks_keeps_order_types_and_per_line_problems(
    workspace, make_table, monkeypatch
) -> None:
    monkeypatch.setattr("enrich.csv_import.CHUNK_ROWS", 2)
    table = make_table(workspace, columns=["Name", ("Score", ColumnKind.NUMBER)], rows=1)
    data = "name,score,note\n" + "".join(f"p{n},{n},\n" for n in range(6)) + "late,lots,x\x00y\n"
    job = import_upload(workspace=workspace, upload=csv_upload(data), created_by=None, table=table)
    import_set_mapping(job=job, mapping=["name", "score", NEW_COLUMN])

    job = import_start(job=job, background=False)

    assert job.status == ImportJob.Status.DONE, job.error
    assert job.rows_imported == 7
    rows = list(Row.objects.filter(table=table).order_by("position"))
    assert [row.position for row in rows] == list(range(8))
    assert [row.values for row in rows[1:]] == [
        *({"name": f"p{n}", "score": n} for n in range(6)),
        {"name": "late", "score": "lots", "note": "xy"},
    ]
    messages = sorted((problem["line"], problem["message"][:6]) for problem in job.problems)
    assert messages == [(8, "note: "), (8, "score:")]


def test_an_import_shows_its_rows_all_at_once_when_its_job_is_done(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=["Name"], rows=[{"name": "kept"}])
    job = ImportJob.objects.create(table=table, original_name="a.csv", status="running")
    rows_insert(table=table, rows=[{"name": "staged"}] * 3, start_position=1, import_job=job)
    staged = Row.objects.filter(import_job=job).first()
    column = table.columns.get()

    page = client.get(reverse("table_detail", args=[table.pk]))
    export = b"".join(client.get(reverse("table_export", args=[table.pk])).streaming_content)
    edit = client.post(reverse("cell_update", args=[staged.pk, column.pk]), {"value": "x"})
    assert b"1 row" in page.content and b"staged" not in page.content
    assert export.count(b"\r\n") == 2  # header and "kept"
    assert edit.status_code == 404
    assert rows_delete(table=table, row_ids=[staged.pk]) == 0

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE)

    page = client.get(reverse("table_detail", args=[table.pk]))
    assert b"4 rows" in page.content and page.content.count(b"staged") == 3


def test_completing_an_import_updates_its_job_and_not_its_rows(workspace) -> None:
    job = import_upload(workspace=workspace, upload=csv_upload("a,b\n1,2\n3,4\n"), created_by=None)
    with CaptureQueriesContext(connection) as queries:
        job = import_start(job=job, background=False)

    assert job.status == ImportJob.Status.DONE
    row_table = Row._meta.db_table
    assert not [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{row_table}"')]
    assert visible_rows(table=job.table).count() == 2
