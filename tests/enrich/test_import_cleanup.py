"""What abandoned uploads leave behind is removed once it is old enough, and nothing else."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from enrich.csv_import import (
    ABANDONED_AFTER,
    import_run,
    import_start,
    import_upload,
    imports_cleanup,
)
from enrich.grid import visible_rows
from enrich.models import ImportJob, Row
from enrich.rows import rows_insert
from tests.enrich.conftest import csv_upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]
LONG_AGO = timezone.now() - ABANDONED_AFTER - timedelta(hours=1)


def age(job: ImportJob) -> ImportJob:
    """Make ``job`` and its file older than the cleanup's threshold."""
    ImportJob.objects.filter(pk=job.pk).update(created_at=LONG_AGO)
    if job.file:
        os.utime(default_storage.path(job.file), (LONG_AGO.timestamp(), LONG_AGO.timestamp()))
    job.refresh_from_db()
    return job


def upload_for_mapping(workspace, make_table) -> ImportJob:
    table = make_table(workspace, columns=["Name"], rows=[{"name": "kept"}])
    return import_upload(
        workspace=workspace, upload=csv_upload("name\nAda\n"), created_by=None, table=table
    )


def test_an_upload_never_mapped_is_removed_with_its_file_after_a_day(
    workspace, make_table, capsys
) -> None:
    old = age(upload_for_mapping(workspace, make_table))
    recent = upload_for_mapping(workspace, make_table)
    assert default_storage.exists(old.file)

    call_command("cleanup_imports")

    assert "Removed 1 upload(s) never mapped" in capsys.readouterr().out
    assert not ImportJob.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.file)
    assert ImportJob.objects.get(pk=recent.pk).status == ImportJob.Status.MAPPING
    assert default_storage.exists(recent.file)
    assert visible_rows(table=old.table).count() == 1  # the table itself is untouched


def test_files_no_import_needs_are_deleted_and_finished_imports_keep_their_report(
    workspace, django_capture_on_commit_callbacks
) -> None:
    upload = import_upload(workspace=workspace, upload=csv_upload("a\n1\n"), created_by=None)
    with django_capture_on_commit_callbacks(execute=True):
        finished = import_start(job=upload, background=False)
    finished.refresh_from_db()
    assert finished.status == ImportJob.Status.DONE and not finished.file
    assert not default_storage.exists(upload.file)  # an import deletes its file once done
    # A file a finished import failed to delete, and one whose upload never became a job.
    left_over = default_storage.save("imports/left-over.csv", ContentFile(b"a\n1\n"))
    ImportJob.objects.filter(pk=finished.pk).update(file=left_over)
    orphan = default_storage.save("imports/orphan.csv", ContentFile(b"a\n1\n"))
    fresh_orphan = default_storage.save("imports/fresh.csv", ContentFile(b"a\n1\n"))
    os.utime(default_storage.path(orphan), (LONG_AGO.timestamp(), LONG_AGO.timestamp()))

    report = imports_cleanup()

    assert report.files == 2
    assert not default_storage.exists(left_over) and not default_storage.exists(orphan)
    assert default_storage.exists(fresh_orphan)  # maybe an upload in progress
    job = ImportJob.objects.get(pk=finished.pk)
    assert job.status == ImportJob.Status.DONE and job.rows_imported == 1 and not job.file


def test_an_import_no_worker_finished_fails_and_its_rows_go(workspace, make_table) -> None:
    job = upload_for_mapping(workspace, make_table)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    rows_insert(table=job.table, rows=[{"name": "half"}] * 3, start_position=1, import_job=job)
    job = age(job)
    uploaded = job.file

    report = imports_cleanup()

    job.refresh_from_db()
    assert report.interrupted == 1
    assert job.status == ImportJob.Status.FAILED and "interrupted" in job.error
    assert list(Row.objects.filter(table=job.table).values_list("values", flat=True)) == [
        {"name": "kept"}
    ]
    assert not default_storage.exists(uploaded)
    # Its task, if it ever runs, finds the job finished and leaves it alone.
    assert import_run(job_id=job.pk).status == ImportJob.Status.FAILED


def test_an_import_given_up_while_still_writing_never_shows_its_rows(
    workspace, make_table, monkeypatch
) -> None:
    job = upload_for_mapping(workspace, make_table)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    given_up = []

    def cleanup_meanwhile(job, chunk, *, imported):
        if not given_up:
            given_up.append(imports_cleanup(older_than=timedelta(0)))

    monkeypatch.setattr("enrich.csv_import._progress", cleanup_meanwhile)

    job = import_run(job_id=job.pk)

    assert given_up[0].interrupted == 1
    assert job.status == ImportJob.Status.FAILED and job.rows_imported == 0
    assert list(Row.objects.filter(table=job.table).values_list("values", flat=True)) == [
        {"name": "kept"}
    ]
