"""An enrichment column's request, its runs, and the result of each of its cells.

Results live in their own rows, one per (row, column), never inside ``Row.values``: two
enrichment columns finishing on the same row at once write two different rows, so neither
can overwrite the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from enrich.models import Column, Row, Table

if TYPE_CHECKING:
    from accounts.models import Account


class EnrichmentColumn(models.Model):
    """What computes a computed column: its ``kind`` (a registered type, see
    ``enrich.enrichment.kinds``) and that kind's validated ``config``, plus the run settings
    every kind shares."""

    column = models.OneToOneField(
        Column, on_delete=models.CASCADE, primary_key=True, related_name="enrichment"
    )
    kind = models.CharField(
        max_length=40,
        default="http_api",
        help_text="The registered kind that computes the cells: http_api, waterfall, formula.",
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="The kind's settings, validated by its config model (for http_api: the "
        "request config and the token fields the column overrides).",
    )
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The workspace account of an http_api column; none for open APIs and for "
        "kinds whose steps name their own.",
    )
    only_run_if = models.TextField(
        blank=True,
        help_text='A condition over the row, e.g. row.email and row.country == "US". '
        "Rows where it is false are skipped.",
    )
    auto_update = models.BooleanField(
        default=False, help_text="Re-run a row when a cell this column reads changes."
    )
    dependencies = models.JSONField(
        default=list,
        blank=True,
        help_text="Column keys the templates and condition read (from their syntax tree).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: a waterfall's steps' accounts, read once per loaded column (see
    # ``kinds.waterfall``).
    _step_accounts: dict[int, Account]

    def __str__(self) -> str:
        return self.column.label

    @property
    def label(self) -> str:
        return self.column.label

    @property
    def table(self) -> Table:
        return self.column.table

    @property
    def request(self) -> dict[str, Any]:
        """The request config of an http_api column."""
        return dict(self.config.get("request") or {})

    @property
    def token_fields(self) -> dict[str, str]:
        """The token settings an http_api column overrides (the rest follow its account)."""
        return dict(self.config.get("token_fields") or {})


class ColumnAccount(models.Model):
    """An account a computed column sends credentials with (an http_api column's account,
    each waterfall step's): an account in use cannot be deleted, and its page lists them."""

    column = models.ForeignKey(Column, on_delete=models.CASCADE, related_name="account_uses")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="columns"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["column", "account"], name="one_use_per_account"),
        ]

    def __str__(self) -> str:
        return f"{self.column} uses {self.account_id}"


class TableEnrichmentSettings(models.Model):
    """Table-wide switches that override the columns (as auto-update does in Clay)."""

    table = models.OneToOneField(
        Table, on_delete=models.CASCADE, primary_key=True, related_name="enrichment_settings"
    )
    auto_update = models.BooleanField(
        default=True,
        help_text="Off: no column of this table re-runs by itself, whatever its own setting.",
    )
    graph_version = models.CharField(
        max_length=32,
        blank=True,
        help_text="Changes (to a new random token) whenever the table's computed columns do, so "
        "every process knows when its cached dependency graph is out of date; a token, not a "
        "counter, so a change rolled back is never mistaken for a later one.",
    )

    def __str__(self) -> str:
        return f"Enrichment settings of table {self.table_id}"


class Run(models.Model):
    """One request to run a column over some rows; cells remember the run that owns them."""

    class Status(models.TextChoices):
        PLANNING = "planning", "Queueing rows"
        RUNNING = "running", "Running"
        DONE = "done", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    class Scope(models.TextChoices):
        ALL = "all", "Every row"
        UNFINISHED = "unfinished", "Rows not yet run or in error"
        ROWS = "rows", "Selected rows"

    column = models.ForeignKey(EnrichmentColumn, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNING)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ALL)
    row_ids = models.JSONField(
        default=list, blank=True, help_text="The rows of a selected-rows (or one-cell) run."
    )
    force = models.BooleanField(
        default=False, help_text="Run rows again even when their inputs have not changed."
    )
    total = models.PositiveIntegerField(default=0, help_text="Cells queued by this run.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the run could not be planned.")
    counts = models.JSONField(
        default=dict, blank=True, help_text="Cells by final status, written when the run ends."
    )
    # Planning is resumable: a planner holds the run like a worker holds a cell, records how
    # far it got after each chunk, and is taken over when it stops advancing.
    plan_claim = models.CharField(
        max_length=32, blank=True, help_text="Token of the worker planning the run now."
    )
    plan_lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A planner that has not advanced by then is replaced."
    )
    plan_position = models.IntegerField(
        null=True, blank=True, help_text="Position of the last row planned (with plan_row)."
    )
    plan_row = models.BigIntegerField(
        null=True, blank=True, help_text="Id of the last row planned: the plan resumes after it."
    )
    plan_unsent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Queue time of the last planned chunk until its tasks are all sent; a "
        "planner taking over sends them again.",
    )
    plan_attempts = models.PositiveIntegerField(
        default=0, help_text="Times a worker took up the planning of this run."
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["column", "status"])]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.column_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in {self.Status.PLANNING, self.Status.RUNNING}


class CellResult(models.Model):
    """The outcome of one enrichment cell: a small state machine guarded by its run."""

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        ERROR = "error", "Error"
        SKIPPED = "skipped", "Run condition not met"
        CANCELLED = "cancelled", "Cancelled"

    row = models.ForeignKey(Row, on_delete=models.CASCADE, related_name="enrichment_results")
    column = models.ForeignKey(EnrichmentColumn, on_delete=models.CASCADE, related_name="results")
    run = models.ForeignKey(
        Run,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="cells",
        help_text="The run that owns the cell; a write from any other run is refused.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    value = models.JSONField(null=True, blank=True, help_text="The filtered answer.")
    error = models.TextField(blank=True, help_text="A one-line message a user can act on.")
    error_code = models.CharField(max_length=40, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    claim = models.CharField(
        max_length=32, blank=True, help_text="Token of the latest worker to take the cell."
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="Times a worker took this cell for its current run."
    )
    requests = models.PositiveIntegerField(
        default=0, help_text="HTTP attempts the last execution made (retries included)."
    )
    writes = models.PositiveIntegerField(
        default=0, help_text="Results written for this cell, over all runs."
    )
    input_hash = models.CharField(
        max_length=64, blank=True, help_text="Hash of the inputs the value was computed from."
    )
    debug = models.JSONField(
        null=True, blank=True, help_text="The masked record of what was sent and received."
    )
    details = models.JSONField(
        null=True,
        blank=True,
        help_text="What the kind adds to the outcome (a waterfall: the step that answered and "
        "every step's status, value and requests).",
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A running cell whose lease passed is picked up again."
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["row", "column"], name="one_result_per_cell"),
        ]
        indexes = [
            models.Index(fields=["run", "status"], name="cell_run_status"),
            models.Index(fields=["column", "status"], name="cell_column_status"),
            models.Index(
                fields=["lease_until"],
                name="cell_running_lease",
                condition=models.Q(status="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"Cell {self.row_id}/{self.column_id} ({self.status})"


class ResultField(models.Model):
    """A column that shows one field of an enrichment column's results ("Add as column").

    It reads the path from the results each time, so nothing is copied and it stays current.
    """

    column = models.OneToOneField(
        Column, on_delete=models.CASCADE, primary_key=True, related_name="result_field"
    )
    source = models.ForeignKey(
        EnrichmentColumn, on_delete=models.CASCADE, related_name="result_fields"
    )
    path = models.CharField(
        max_length=500, help_text="Dot path into the source column's value, e.g. data.name."
    )

    def __str__(self) -> str:
        return f"{self.source} → {self.path}"


class Sweep(models.Model):
    """The single row that lets one worker at a time sweep runs, and remembers what it saw."""

    holder = models.CharField(max_length=64, blank=True, help_text="The sweeping worker.")
    held_until = models.DateTimeField(
        null=True, blank=True, help_text="Another worker may sweep after this."
    )
    broker_epoch = models.CharField(
        max_length=32,
        blank=True,
        help_text="The broker's marker at the last sweep; a new one means it restarted empty.",
    )
    swept_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sweep by {self.holder or 'nobody'}"
