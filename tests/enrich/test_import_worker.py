"""Big files import on a real Celery worker, in chunks, with progress; failures change nothing."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from enrich.grid import visible_rows
from enrich.models import ImportJob, Row
from tests.enrich.conftest import csv_upload

ROWS = 12_000  # more than two import chunks
HTMX = {"HTTP_HX_REQUEST": "true"}


def big_csv(*, broken_at: int | None = None) -> bytes:
    lines = ["name,email,score"]
    for number in range(ROWS):
        if number == broken_at:
            lines.append(f'Broken,"never closed,{number}')
        else:
            lines.append(f"Person {number},p{number}@example.com,{number}")
    return ("\n".join(lines) + "\n").encode()


def upload_in_background(client, table, data: bytes) -> ImportJob:
    client.post(reverse("import_into_table", args=[table.pk]), {"file": csv_upload(data)})
    job = ImportJob.objects.get(table=table, status=ImportJob.Status.MAPPING)
    client.post(reverse("import_detail", args=[job.pk]), {"h0": "name", "h1": "+new", "h2": "+new"})
    job.refresh_from_db()
    assert job.status in {ImportJob.Status.QUEUED, ImportJob.Status.RUNNING, ImportJob.Status.DONE}
    return job


def poll_until_finished(client, job: ImportJob, worker, *, table_rows_before: int) -> bytes:
    """Poll the progress bar as the page does; while the job runs the grid is unchanged."""
    deadline = time.monotonic() + 90
    while True:
        visible = visible_rows(table=job.table).count()
        response = client.get(reverse("import_detail", args=[job.pk]), **HTMX)
        if response.status_code == 286:  # HttpResponseStopPolling: the job finished
            return response.content
        assert response.status_code == 200
        # Read before the status: if the job is still not finished, no row can have shown up.
        assert visible == table_rows_before
        assert worker.process.poll() is None, worker.log()
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_big_file_imports_on_the_worker_with_progress(
    celery_worker, client, workspace, make_table, settings
) -> None:
    settings.ENRICH_CSV_INLINE_MAX_KB = 0
    table = make_table(workspace, columns=["Name"], rows=[{"name": "Existing"}])

    job = upload_in_background(client, table, big_csv())
    final = poll_until_finished(client, job, celery_worker, table_rows_before=1)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.error
    assert f"Imported {ROWS:,} rows".encode() in final
    assert Row.objects.filter(table=table).count() == ROWS + 1
    assert visible_rows(table=table).count() == ROWS + 1
    last = Row.objects.filter(table=table).order_by("-position").first()
    assert last.values == {
        "name": f"Person {ROWS - 1}",
        "email": f"p{ROWS - 1}@example.com",
        "score": str(ROWS - 1),
    }
    page = client.get(reverse("table_detail", args=[table.pk]))
    assert f"{ROWS + 1:,} rows".encode() in page.content


@pytest.mark.django_db(transaction=True)
def test_a_file_that_breaks_late_leaves_the_table_exactly_as_it_was(
    celery_worker, client, workspace, make_table, settings
) -> None:
    settings.ENRICH_CSV_INLINE_MAX_KB = 0
    table = make_table(workspace, columns=["Name"], rows=[{"name": "Existing"}, {"name": "Also"}])
    rows_before = list(Row.objects.filter(table=table).values_list("pk", "position", "values"))
    columns_before = list(table.columns.values_list("pk", "key", "label", "kind", "position"))

    job = upload_in_background(client, table, big_csv(broken_at=ROWS - 100))
    final = poll_until_finished(client, job, celery_worker, table_rows_before=2)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    broken_line = ROWS - 100 + 2  # header is line 1
    assert job.error.startswith(f"Line {broken_line:,}: a quoted value")
    assert b"The table is exactly as it was before this import." in final
    assert (
        list(Row.objects.filter(table=table).values_list("pk", "position", "values")) == rows_before
    )
    assert (
        list(table.columns.values_list("pk", "key", "label", "kind", "position")) == columns_before
    )
    assert not Row.objects.filter(import_job=job).exists()
