"""CSV import services: upload, map columns, run (inline or on a worker), report.

An import never leaves a table half changed: its rows are written tagged with the import
job in committed chunks, so the progress bar moves and the user keeps working, but a table's
rows are only those of imports that are done (``enrich.grid.visible_rows``). Completing the
import is one update of the job's status, however many rows it wrote; a failure deletes
them. The web, the task and ``manage.py import_csv`` all go through ``import_upload`` →
``import_set_mapping`` → ``import_start``/``import_run``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Workspace
from enrich import columns as column_services
from enrich.computed import provider as computed_columns
from enrich.csv_chunks import Chunk, FilledRows, RowEncoder, Target, read_ahead, read_chunks
from enrich.csv_read import CsvFormat, CsvReader, detect_format
from enrich.exceptions import (
    CsvError,
    CsvTooLarge,
    ImportNotAllowed,
    TooManyColumns,
)
from enrich.kinds import kind_for
from enrich.models import Column, ColumnKind, ImportJob, Row, Table
from enrich.rows import next_row_position, rows_filled, rows_insert_json
from enrich.tables import table_create

logger = logging.getLogger(__name__)

NEW_COLUMN = "+new"  # mapping target: create a text column named after the header
SKIP = ""  # mapping target: leave the header out
CHUNK_ROWS = 5000
PREVIEW_ROWS = 5
UPLOAD_FOLDER = "imports"
# An upload nobody has mapped, or an import no worker has finished, after this long is gone.
ABANDONED_AFTER = timedelta(hours=24)


def import_upload(
    *,
    workspace: Workspace,
    upload: File,
    created_by: User | None,
    table: Table | None = None,
    table_name: str = "",
) -> ImportJob:
    """Store an uploaded CSV and read its header. Into a new table (created now, every header
    a new text column) the job is ready to start; into ``table`` it waits for the mapping.

    Raises ``CsvError`` (too large, empty, unreadable) before anything is created.
    """
    limit_mb = settings.ENRICH_CSV_MAX_FILE_MB
    size = upload.size or 0
    if size > limit_mb * 1024 * 1024:
        raise CsvTooLarge(size_mb=size / 1024 / 1024, limit_mb=limit_mb)
    original_name = PurePath(upload.name or "upload.csv").name[:255]
    stored = default_storage.save(f"{UPLOAD_FOLDER}/{uuid.uuid4().hex}.csv", upload)
    try:
        with default_storage.open(stored, "rb") as stream:
            fmt = detect_format(stream)
            reader = _reader(stream, fmt)
    except CsvError:
        default_storage.delete(stored)
        raise
    with transaction.atomic():
        if table is None:
            name = table_name.strip() or PurePath(original_name).stem or "Imported table"
            table = table_create(workspace=workspace, name=name[:200], created_by=created_by)
            mapping = [NEW_COLUMN] * len(reader.headers)
            status = ImportJob.Status.QUEUED
            creates_table = True
        else:
            columns = list(column_services.typed_columns_for_table(table=table))
            mapping = import_auto_mapping(headers=reader.headers, columns=columns)
            status = ImportJob.Status.MAPPING
            creates_table = False
        return ImportJob.objects.create(
            table=table,
            creates_table=creates_table,
            created_by=created_by,
            file=stored,
            original_name=original_name,
            status=status,
            encoding=fmt.encoding,
            delimiter=fmt.delimiter,
            headers=reader.headers,
            mapping=mapping,
            bytes_total=size,
        )


def import_auto_mapping(*, headers: Sequence[str], columns: Sequence[Column]) -> list[str]:
    """Each header to the column with the same label or key (ignoring case and spacing), else
    a new column. A column is used once."""
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(_normal(column.label), column.key)
        by_name.setdefault(_normal(column.key), column.key)
    used: set[str] = set()
    mapping = []
    for header in headers:
        key = by_name.get(_normal(header))
        if key and key not in used:
            used.add(key)
            mapping.append(key)
        else:
            mapping.append(NEW_COLUMN)
    return mapping


def import_preview(*, job: ImportJob, limit: int = PREVIEW_ROWS) -> list[list[str]]:
    """The first data rows of the file, for the mapping step."""
    with default_storage.open(job.file, "rb") as stream:
        reader = _reader(stream, detect_format(stream))
        preview = []
        for _, record in reader.rows():
            preview.append([value[:80] for value in record])
            if len(preview) >= limit:
                break
    return preview


def import_set_mapping(*, job: ImportJob, mapping: Sequence[str]) -> ImportJob:
    """Choose, for each header, an existing column key, ``NEW_COLUMN`` or ``SKIP``."""
    if job.status != ImportJob.Status.MAPPING:
        raise ImportNotAllowed("This import has already started; upload the file again to redo it.")
    keys = set(
        column_services.typed_columns_for_table(table=job.table).values_list("key", flat=True)
    )
    if len(mapping) != len(job.headers):
        raise ImportNotAllowed("The mapping does not match the file's columns; reload the page.")
    chosen = [target for target in mapping if target not in (NEW_COLUMN, SKIP)]
    unknown = [target for target in chosen if target not in keys]
    if unknown:
        raise ImportNotAllowed(f"Unknown column “{unknown[0]}”; reload the page and map again.")
    if len(chosen) != len(set(chosen)):
        raise ImportNotAllowed("Two headers fill the same column; choose one of them.")
    if not any(target != SKIP for target in mapping):
        raise ImportNotAllowed("Every header is skipped: choose at least one column to fill.")
    new_columns = mapping.count(NEW_COLUMN)
    limit = settings.ENRICH_MAX_COLUMNS
    if new_columns and Column.objects.filter(table=job.table).count() + new_columns > limit:
        raise ImportNotAllowed(str(TooManyColumns(limit=limit, adding=new_columns)))
    job.mapping = list(mapping)
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["mapping", "status"])
    return job


def import_start(*, job: ImportJob, background: bool) -> ImportJob:
    """Run a queued import now, or on a worker once this transaction has committed."""
    if job.status != ImportJob.Status.QUEUED:
        raise ImportNotAllowed("This import is not waiting to start.")
    if not background:
        ran = import_run(job_id=job.pk)
        # The job is queued (checked above), so import_run found it and ran it.
        assert ran is not None
        job = ran
        if job.status == ImportJob.Status.FAILED:
            # The caller shows the error where the file was chosen; no empty table is left.
            import_remove_failed_table(job=job)
        return job
    from enrich.tasks import csv_import_task

    transaction.on_commit(lambda: csv_import_task.delay(job.pk))
    return job


def import_should_run_in_background(*, job: ImportJob) -> bool:
    """Small files import within the request; bigger ones on a worker with a progress bar."""
    return job.bytes_total > settings.ENRICH_CSV_INLINE_MAX_KB * 1024


def import_run(*, job_id: int) -> ImportJob | None:
    """Import the whole file of a queued job, or nothing. Safe to run twice: a job already
    finished is left alone, and one interrupted mid-way (a worker died) starts over."""
    job = ImportJob.objects.select_related("table").filter(pk=job_id).first()
    if job is None or job.status not in {ImportJob.Status.QUEUED, ImportJob.Status.RUNNING}:
        return job
    _discard_staged(job)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    job.status = ImportJob.Status.RUNNING
    try:
        with default_storage.open(job.file, "rb") as stream:
            _import_rows(job, stream)
    except CsvError as error:
        return _fail(job, str(error))
    except Exception:
        logger.exception("CSV import %s failed", job.pk)
        _fail(job, "The import stopped on an unexpected error; nothing was imported.")
        raise
    return _complete(job)


def import_remove_failed_table(*, job: ImportJob) -> bool:
    """Delete the table a failed import made (and the job with it), so "nothing was
    imported" holds; True if it went. A table someone added to meanwhile is theirs: it stays,
    and is listed again."""
    if not job.creates_table or job.status != ImportJob.Status.FAILED:
        return False
    with transaction.atomic():
        table = Table.objects.select_for_update().filter(pk=job.table_id).first()
        if table is None:
            return True
        used = (
            Column.objects.filter(table=table).exists()
            or Row.objects.filter(table=table).exists()
            or ImportJob.objects.filter(table=table).exclude(pk=job.pk).exists()
        )
        if used:
            ImportJob.objects.filter(pk=job.pk).update(creates_table=False)
            job.creates_table = False
            return False
        table.delete()
    return True


def import_jobs_in_progress(*, table: Table) -> QuerySet[ImportJob]:
    """Imports of ``table`` queued or running, for the progress bars on the table page."""
    return ImportJob.objects.filter(
        table=table, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).order_by("created_at")


def _import_rows(job: ImportJob, stream: IO[bytes]) -> None:
    reader = _reader(stream, detect_format(stream))
    row_encoder = RowEncoder(_targets(job, headers=reader.headers), problems=reader.problems)
    encoder: RowEncoder | FilledRows = row_encoder
    # A table with formulas: each row is completed as it is read, before it is written.
    fill = computed_columns().row_filler(table=job.table)
    if fill is not None:
        encoder = FilledRows(row_encoder, fill)
    position = next_row_position(table=job.table)
    imported = 0
    chunks = read_chunks(reader, encoder, size=CHUNK_ROWS, max_rows=settings.ENRICH_CSV_MAX_ROWS)
    for chunk in read_ahead(chunks):
        with transaction.atomic():
            if chunk.values:
                inserted = rows_insert_json(
                    table=job.table,
                    values_json=chunk.values,
                    start_position=position,
                    import_job=job,
                )
                if isinstance(encoder, FilledRows):
                    errors = {
                        number - imported: encoder.errors.pop(number)
                        for number in range(imported, imported + inserted)
                        if number in encoder.errors
                    }
                    rows_filled(
                        table=job.table, start_position=position, errors=errors, import_job=job
                    )
                position += inserted
                imported += inserted
            _progress(job, chunk, imported=imported)


def _targets(job: ImportJob, *, headers: list[str]) -> list[Target]:
    """(field index, column key, parser or None for text, header) for each mapped header;
    new columns are created now, tagged with the job until it completes."""
    existing = {column.key: column for column in column_services.columns_for_table(table=job.table)}
    mapping = job.mapping[: len(headers)]
    new_indexes = [index for index, target in enumerate(mapping) if target == NEW_COLUMN]
    try:
        created = column_services.columns_add(
            table=job.table,
            labels=[headers[index] for index in new_indexes],
            kind=ColumnKind.TEXT,
            import_job=job,
        )
    except TooManyColumns as refused:  # columns were added while the file waited
        raise CsvError(f"{refused} Nothing was imported.") from None
    new_columns = dict(zip(new_indexes, created, strict=True))
    targets: list[Target] = []
    for index, target in enumerate(mapping):
        if target == SKIP:
            continue
        if target == NEW_COLUMN:
            column = new_columns[index]
        elif target in existing:
            column = existing[target]
        else:
            raise CsvError(f"The column “{target}” was deleted during the import; map again.")
        parse = None if column.kind == ColumnKind.TEXT else kind_for(column.kind).parse
        targets.append((index, column.key, parse, headers[index]))
    return targets


@transaction.atomic  # a savepoint: a refused write must not poison a caller's transaction
def _progress(job: ImportJob, chunk: Chunk, *, imported: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        bytes_done=chunk.bytes_read,
        rows_imported=imported,
        rows_skipped=chunk.skipped,
        problems=chunk.problems,
        problem_count=chunk.problem_count,
    )


@transaction.atomic
def _complete(job: ImportJob) -> ImportJob:
    # The job's status is what makes its rows visible: one row updated, however many rows.
    done = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now(), bytes_done=job.bytes_total
    )
    if not done:
        # Failed meanwhile (``imports_cleanup`` gave it up): what it wrote since goes too.
        _discard_staged(job)
        ImportJob.objects.filter(pk=job.pk).update(rows_imported=0)
    else:
        Column.objects.filter(import_job=job).update(import_job=None)
        Table.objects.filter(pk=job.table_id).update(updated_at=timezone.now())
    transaction.on_commit(lambda: _delete_file(job))
    job.refresh_from_db()
    return job


def _fail(job: ImportJob, message: str) -> ImportJob:
    with transaction.atomic():
        _discard_staged(job)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=message,
            finished_at=timezone.now(),
            rows_imported=0,
        )
    _delete_file(job)
    job.refresh_from_db()
    return job


def _discard_staged(job: ImportJob) -> None:
    # The table filter lets the database find them through the (table, position, id) index.
    Row.objects.filter(table_id=job.table_id, import_job=job).delete()
    Column.objects.filter(import_job=job).delete()


def _delete_file(job: ImportJob) -> None:
    if job.file:
        default_storage.delete(job.file)
        ImportJob.objects.filter(pk=job.pk).update(file="")


@dataclass
class ImportsCleanup:
    """What ``imports_cleanup`` removed."""

    abandoned: int = 0  # uploads whose mapping was never chosen: job and file
    tables: int = 0  # tables made by an import that failed on a worker
    interrupted: int = 0  # imports queued or running far too long: failed, rows removed
    files: int = 0  # other files no import needs any more


def imports_cleanup(*, older_than: timedelta = ABANDONED_AFTER) -> ImportsCleanup:
    """Remove what uploads leave behind once they are ``older_than``: uploads never mapped,
    imports whose worker went away (failed, so their rows go), and any uploaded file that
    no waiting import needs. Safe to run at any time, from any process, as often as liked."""
    cutoff = timezone.now() - older_than
    report = ImportsCleanup()
    for job in ImportJob.objects.filter(status=ImportJob.Status.MAPPING, created_at__lt=cutoff):
        # Only if still waiting: the user may be submitting the mapping right now.
        deleted, _ = ImportJob.objects.filter(pk=job.pk, status=job.status).delete()
        if deleted:
            _delete_file(job)
            report.abandoned += 1
    unfinished = [ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    for job in ImportJob.objects.filter(status__in=unfinished, created_at__lt=cutoff):
        _fail(job, "The import was interrupted (no worker finished it); nothing was imported.")
        report.interrupted += 1
    # A failed background import's table stays (unlisted) for a while, so whoever watched the
    # import can read why it failed on the table's page.
    failed = ImportJob.objects.filter(creates_table=True, status=ImportJob.Status.FAILED)
    for job in failed.filter(finished_at__lt=cutoff):
        report.tables += import_remove_failed_table(job=job)
    # Finishing deletes the file; this catches a process that died in between.
    finished = [ImportJob.Status.DONE, ImportJob.Status.FAILED]
    for job in ImportJob.objects.filter(status__in=finished).exclude(file=""):
        _delete_file(job)
        report.files += 1
    report.files += _delete_unreferenced_uploads(cutoff)
    return report


def _delete_unreferenced_uploads(cutoff: datetime) -> int:
    """Uploaded files no job refers to (the upload's transaction was rolled back)."""
    try:
        _, names = default_storage.listdir(UPLOAD_FOLDER)
    except FileNotFoundError:
        return 0
    kept = set(ImportJob.objects.exclude(file="").values_list("file", flat=True))
    deleted = 0
    for name in names:
        path = f"{UPLOAD_FOLDER}/{name}"
        if path not in kept and default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)
            deleted += 1
    return deleted


def _reader(stream: IO[bytes], fmt: CsvFormat) -> CsvReader:
    return CsvReader(
        stream,
        fmt,
        max_cell_chars=settings.ENRICH_CSV_MAX_CELL_KB * 1024,
        max_columns=settings.ENRICH_MAX_COLUMNS,
    )


def _normal(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()
