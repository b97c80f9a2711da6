"""CSV import and export pages. Views parse input and call ``enrich.csv_import``/``csv_export``."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from accounts.decorators import workspace_required
from accounts.request_types import WorkspaceRequest
from enrich import csv_import
from enrich.columns import typed_columns_for_table
from enrich.csv_export import ExportOptions, csv_export_chunks, csv_export_filename, export_columns
from enrich.exceptions import CsvError, ImportNotAllowed
from enrich.forms import CsvNewTableForm, CsvUploadForm, ExportForm, ImportMappingForm
from enrich.grid import GridQuery
from enrich.models import ImportJob
from enrich.views import table_for_request

IMPORT_TEMPLATE = "enrich/import_detail.html"


def _start(request: HttpRequest, job: ImportJob) -> HttpResponse:
    """Run small files now and report; queue big ones and go back to the table's progress bar."""
    background = csv_import.import_should_run_in_background(job=job)
    job = csv_import.import_start(job=job, background=background)
    if background:
        messages.info(request, f"Importing “{job.original_name}” in the background.")
        return redirect("table_detail", table_id=job.table_id)
    if job.status == ImportJob.Status.DONE and not job.problem_count:
        messages.success(
            request, f"Imported {job.rows_imported:,} rows from “{job.original_name}”."
        )
        return redirect("table_detail", table_id=job.table_id)
    if job.status == ImportJob.Status.FAILED and job.creates_table:
        # The table made for it went with it: say why where the file was chosen.
        messages.error(request, f"“{job.original_name}”: {job.error}")
        return redirect("import_new_table")
    return redirect("import_detail", job_id=job.pk)


@workspace_required
def import_new_table(request: WorkspaceRequest) -> HttpResponse:
    """Upload a CSV into a new table: every header becomes a text column."""
    form = CsvNewTableForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = csv_import.import_upload(
                workspace=request.workspace,
                upload=form.cleaned_data["file"],
                created_by=request.user,
                table_name=form.cleaned_data["name"],
            )
        except CsvError as error:
            form.add_error("file", str(error))
        else:
            return _start(request, job)
    return render(request, "enrich/import_upload.html", {"form": form, "table": None})


@workspace_required
def import_into_table(request: WorkspaceRequest, table_id: int) -> HttpResponse:
    """Upload a CSV to append to ``table``; the next step maps headers to columns."""
    table = table_for_request(request, table_id)
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = csv_import.import_upload(
                workspace=request.workspace,
                upload=form.cleaned_data["file"],
                created_by=request.user,
                table=table,
            )
        except CsvError as error:
            form.add_error("file", str(error))
        else:
            return redirect("import_detail", job_id=job.pk)
    return render(request, "enrich/import_upload.html", {"form": form, "table": table})


@workspace_required
@vary_on_headers("HX-Request")
def import_detail(request: WorkspaceRequest, job_id: int) -> HttpResponse:
    """The mapping step while the job waits for it, then its progress and outcome."""
    job = get_object_or_404(
        ImportJob.objects.select_related("table"),
        pk=job_id,
        table__workspace=request.workspace,
    )
    if request.htmx and request.method == "GET":
        # The progress bar polls this; a finished job answers once more and stops the polling.
        response = render(request, f"{IMPORT_TEMPLATE}#import-progress", {"job": job})
        if job.is_finished:
            return HttpResponseStopPolling(response.content)
        return response
    form = None
    mapping_rows: list[tuple[object, list[str]]] = []
    if job.status == ImportJob.Status.MAPPING:
        form = ImportMappingForm(
            request.POST or None,
            headers=job.headers,
            columns=list(typed_columns_for_table(table=job.table)),
            initial_mapping=job.mapping,
        )
        if request.method == "POST" and form.is_valid():
            try:
                csv_import.import_set_mapping(job=job, mapping=form.mapping())
            except ImportNotAllowed as error:
                form.add_error(None, str(error))
            else:
                return _start(request, job)
        try:
            preview = csv_import.import_preview(job=job)
        except CsvError as error:
            preview = []
            messages.error(request, str(error))
        mapping_rows = [
            (form[f"h{index}"], [line[index] for line in preview if index < len(line)])
            for index in range(len(job.headers))
        ]
    return render(
        request, IMPORT_TEMPLATE, {"job": job, "form": form, "mapping_rows": mapping_rows}
    )


@workspace_required
def table_export(request: WorkspaceRequest, table_id: int) -> StreamingHttpResponse:
    """Stream the table as CSV: visible columns in grid order, formulas neutralised by default."""
    table = table_for_request(request, table_id)
    form = ExportForm(request.GET)
    form.is_valid()  # every field is an optional tick box; invalid input reads as unticked
    options = form.cleaned_data
    query = None
    if options.get("view"):
        query = GridQuery.from_params(request.GET.dict(), columns=export_columns(table=table))
    chunks = csv_export_chunks(
        table=table,
        options=ExportOptions(
            bom=bool(options.get("bom")),
            neutralise=not options.get("keep_formulas"),
            query=query,
        ),
    )
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{csv_export_filename(table=table)}"'
    return response
