"""Wide files and failed imports: the column limit, columns made in bulk, the mapping page
of a wide file, and no empty table left by an import that failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from enrich.columns import column_add
from enrich.csv_import import (
    NEW_COLUMN,
    import_run,
    import_set_mapping,
    import_start,
    import_upload,
    imports_cleanup,
)
from enrich.csv_read import unique_headers
from enrich.exceptions import ImportNotAllowed, TooManyColumns
from enrich.models import Column, ImportJob, Row, Table
from enrich.tables import tables_for_workspace
from tests.enrich.conftest import csv_upload
from tests.enrich.csv_corpus import wide
from tests.enrich.enrichment.test_views import panel_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_a_wide_file_makes_its_columns_in_one_insert(workspace) -> None:
    job = import_upload(workspace=workspace, upload=csv_upload(wide(300)()), created_by=None)
    with CaptureQueriesContext(connection) as queries:
        job = import_start(job=job, background=False)

    assert job.status == ImportJob.Status.DONE, job.error
    assert Column.objects.filter(table=job.table).count() == 300
    column_inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "enrich_column"')]
    assert len(column_inserts) <= 3, "one bulk insert (SQLite splits it in batches)"
    assert len(queries) < 40, "the number of queries does not grow with the columns"


def test_the_limit_is_a_setting_and_the_refusal_names_it(workspace, settings) -> None:
    settings.ENRICH_MAX_COLUMNS = 3
    from enrich.exceptions import CsvError

    refusal = r"has 4 columns; a table holds at most 3 \(ENRICH_MAX_COLUMNS\)"
    with pytest.raises(CsvError, match=refusal):
        import_upload(workspace=workspace, upload=csv_upload("a,b,c,d\n1,2,3,4\n"), created_by=None)
    assert not Table.objects.exists()


def test_a_web_upload_of_10000_columns_is_refused_in_the_form(client, workspace) -> None:
    page = client.post(reverse("import_new_table"), {"file": csv_upload(wide(10_000)())})

    assert page.status_code == 200
    assert b"The file has 10,000 columns; a table holds at most 500" in page.content
    assert not Table.objects.exists()


def test_headers_repeating_one_name_are_made_unique_in_linear_time() -> None:
    names = unique_headers(["a"] * 20_000 + ["a (2)", ""])
    assert names[:3] == ["a", "a (2)", "a (3)"]
    assert len(set(map(str.lower, names))) == len(names) == 20_002
    assert names[-2] == "a (2) (2)" and names[-1] == "Column 20002"


def test_mapping_more_new_columns_than_fit_is_refused_naming_the_limit(
    workspace, make_table, settings
) -> None:
    settings.ENRICH_MAX_COLUMNS = 3
    table = make_table(workspace, columns=["Name", "Email"])
    job = import_upload(
        workspace=workspace, upload=csv_upload("name,x,y\na,1,2\n"), created_by=None, table=table
    )
    assert job.mapping == ["name", NEW_COLUMN, NEW_COLUMN]

    with pytest.raises(ImportNotAllowed, match="at most 3 columns"):
        import_set_mapping(job=job, mapping=job.mapping)
    import_set_mapping(job=job, mapping=["name", NEW_COLUMN, ""])  # one new column fits
    assert import_start(job=job, background=False).status == ImportJob.Status.DONE


def test_a_full_table_refuses_another_column_from_every_door(
    client, workspace, make_table, settings
) -> None:
    settings.ENRICH_MAX_COLUMNS = 2
    table = make_table(workspace, columns=["Name", "Email"])
    with pytest.raises(TooManyColumns, match="at most 2 columns"):
        column_add(table=table, label="Third")

    page = client.post(
        reverse("column_add", args=[table.pk]), {"label": "Third", "kind": "text"}, follow=True
    )
    assert page.status_code == 200 and b"at most 2 columns" in page.content
    page = client.post(
        reverse("enrichment_create", args=[table.pk]),
        panel_data("http://127.0.0.1:9/{{ row.email }}"),
    )
    assert page.status_code == 200
    assert "at most 2 columns" in str(page.context["form"].errors)
    assert Column.objects.filter(table=table).count() == 2


def test_a_wide_mapping_page_marks_each_choice_and_posts_back(
    client, workspace, make_table
) -> None:
    table = make_table(workspace, columns=[f"c{n}" for n in range(200)])
    client.post(reverse("import_into_table", args=[table.pk]), {"file": csv_upload(wide(200)())})
    job = ImportJob.objects.get(table=table)

    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("import_detail", args=[job.pk]))

    assert page.status_code == 200 and len(queries) < 20
    html = page.content.decode()
    assert html.count("<select") == 200 and html.count(" selected>") == 200
    assert '<select name="h7" id="id_h7"><option value="+new">' in html
    assert '<option value="c7" selected>' in html
    done = client.post(
        reverse("import_detail", args=[job.pk]), {f"h{n}": f"c{n}" for n in range(200)}
    )
    assert done.status_code == 302
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE


BROKEN = 'name,email\nAda,a@x.io\nGrace,"never closed\n'


def test_a_failed_import_into_a_new_table_leaves_no_table_behind(client, workspace) -> None:
    page = client.post(
        reverse("import_new_table"), {"file": csv_upload(BROKEN, "leads.csv")}, follow=True
    )

    assert page.redirect_chain[-1][0] == reverse("import_new_table")
    assert "“leads.csv”: Line 3: a quoted value".encode() in page.content
    assert b"Nothing was imported" in page.content
    assert not Table.objects.exists() and not Row.objects.exists()
    assert not ImportJob.objects.exists()


def test_a_new_table_whose_background_import_failed_is_unlisted_then_removed(
    client, workspace
) -> None:
    job = import_upload(workspace=workspace, upload=csv_upload(BROKEN), created_by=None)
    job = import_run(job_id=job.pk)  # what the worker runs

    assert job.status == ImportJob.Status.FAILED
    assert list(tables_for_workspace(workspace=workspace)) == []
    assert b"No tables yet" in client.get(reverse("home")).content
    # Whoever watched the import can still read why it failed, on the table's page.
    page = client.get(reverse("import_detail", args=[job.pk]))
    assert b"Line 3" in page.content and b"Nothing was imported" in page.content

    assert imports_cleanup().tables == 0  # not yet: the page may still be open
    assert imports_cleanup(older_than=timedelta(0)).tables == 1
    assert not Table.objects.exists() and not ImportJob.objects.exists()


def test_a_failed_new_table_someone_added_to_stays_and_is_listed(workspace) -> None:
    job = import_upload(workspace=workspace, upload=csv_upload(BROKEN), created_by=None)
    column_add(table=job.table, label="Mine")
    job = import_run(job_id=job.pk)

    assert imports_cleanup(older_than=timedelta(0)).tables == 0
    assert list(tables_for_workspace(workspace=workspace)) == [job.table]
    assert list(job.table.columns.values_list("label", flat=True)) == ["Mine"]
