"""The table domain. Tables belong to a workspace; every query is scoped by it."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.db import models

from accounts.models import Workspace


class Table(models.Model):
    """A spreadsheet of rows that enrichment columns fill in."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "pk"]
        indexes = [models.Index(fields=["workspace", "-updated_at"])]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def column_keys(self) -> frozenset[str]:
        """The keys of every column (hidden and computed ones included), read once per
        instance: one query per request, or per run a worker keeps loaded, not per cell."""
        return frozenset(self.columns.values_list("key", flat=True))


class ColumnKind(models.TextChoices):
    """How a column's values are typed, validated, shown and exported (see ``enrich.kinds``)."""

    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    URL = "url", "URL"
    EMAIL = "email", "Email"
    DATE = "date", "Date"
    JSON = "json", "JSON"
    # Filled by the app, not typed (``enrich.kinds`` says which): an enrichment (an HTTP API
    # call per row, a waterfall), a field of its results, a formula over the row.
    ENRICHMENT = "enrichment", "Enrichment"
    RESULT_FIELD = "result_field", "Enrichment field"
    FORMULA = "formula", "Formula"


class Column(models.Model):
    """A column of a table. Rows store their values under the column's ``key``."""

    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="columns")
    key = models.SlugField(
        max_length=64,
        help_text="Stable name used in templates ({{ row.key }}) and in row values. "
        "Made from the first label; renaming the column never changes it.",
    )
    label = models.CharField(max_length=200, help_text="The header shown in the grid and CSV.")
    kind = models.CharField(
        max_length=20,
        choices=ColumnKind.choices,
        default=ColumnKind.TEXT,
        help_text="The type values are validated and stored as.",
    )
    position = models.PositiveIntegerField(
        default=0, help_text="Left-to-right order in the grid and in exports."
    )
    hidden = models.BooleanField(
        default=False, help_text="Hidden columns are not shown or exported."
    )
    import_job = models.ForeignKey(
        "ImportJob",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set while the import that creates this column runs; the column is invisible "
        "until it completes and removed if it fails.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Not stored: an enrichment column's newest run as the grid's header shows it, set on the
    # page's columns by the computed-columns provider (``enrich.computed``).
    progress: object
    run_summary: object

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["table", "key"], name="unique_column_key_per_table"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class Row(models.Model):
    """One row of a table; ``values`` maps column keys to typed JSON values."""

    # No index of its own: the (table, position, id) index below serves lookups by table.
    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="rows", db_index=False)
    position = models.BigIntegerField(
        help_text="Order of the row in its table; new rows go after the last one."
    )
    values = models.JSONField(
        default=dict,
        blank=True,
        help_text="Cell values by column key: numbers as numbers, booleans as booleans, "
        "dates as ISO strings. Written one key at a time (see enrich.rows.row_set_value).",
    )
    import_job = models.ForeignKey(
        "ImportJob",
        # The tag stays after the import completes: making 100,000 rows visible is then one
        # update of the job's status instead of a rewrite of every row. Without a constraint
        # or an index of its own: each would cost every imported row a lookup or an index
        # entry, and the tag is only ever compared with a table's few unfinished imports.
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="The import that added this row, if any. The row is visible once that "
        "import is done; a failed import deletes its rows, so no import is ever half done.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "pk"]
        indexes = [
            # Keyset pagination of the grid and exports walk (position, id) within a table.
            # Adding import_job would let the row count skip the table's data, at ~10% of
            # the import's speed (measured with benchmarks/csv_io.py); the count reads it.
            models.Index(fields=["table", "position", "id"], name="row_table_position_id"),
        ]

    def __str__(self) -> str:
        return f"Row {self.pk} of table {self.table_id}"


class ImportJob(models.Model):
    """One CSV upload into a table: its mapping, progress and outcome."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for the column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="import_jobs")
    creates_table = models.BooleanField(
        default=False,
        help_text="The table was made for this import, so a failed import removes it: "
        "nothing is left of an import that failed.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.CharField(
        max_length=255,
        blank=True,
        help_text="Name of the uploaded file in the default storage; removed once imported.",
    )
    original_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    encoding = models.CharField(max_length=20, blank=True, help_text="Detected text encoding.")
    delimiter = models.CharField(max_length=2, blank=True, help_text="Detected delimiter.")
    headers = models.JSONField(
        default=list, help_text="The file's header names, made unique and non-empty."
    )
    mapping = models.JSONField(
        default=list,
        help_text="For each header, by index: the key of the column it fills, or null to skip.",
    )
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0, help_text="Progress of the reader in the file.")
    rows_imported = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    problems = models.JSONField(
        default=list,
        help_text="Per-line notes that did not stop the import: [{line, message}], capped.",
    )
    problem_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the import failed, naming the line.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import of {self.original_name} into {self.table_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_done / self.bytes_total))


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker answered; the UI warns when none is alive."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField(help_text="When the worker last ran a heartbeat task.")

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class GridAction(models.Model):
    """One change a user made to a table's cells (an edit, a paste, a clear, a fill): what
    each cell held before and after, so it can be undone and redone, by that user, from the
    server (it survives a reload), without silently undoing someone else's later edit."""

    class Kind(models.TextChoices):
        EDIT = "edit", "Edit"
        PASTE = "paste", "Paste"
        CLEAR = "clear", "Clear"
        FILL = "fill", "Fill down"

    table = models.ForeignKey(Table, on_delete=models.CASCADE, related_name="actions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grid_actions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    cells = models.JSONField(
        default=list,
        help_text="[row id, column key, value before, value after] of each cell written; a "
        "blank is null.",
    )
    rows_added = models.JSONField(
        default=list, help_text="Ids of the rows the change appended (a paste past the end)."
    )
    undone = models.BooleanField(default=False, help_text="Undone, and not redone since.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["table", "user", "undone"], name="action_table_user")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {len(self.cells)} cells in table {self.table_id}"
