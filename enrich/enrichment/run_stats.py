"""What a run is about to send and what the last run sent: read-only selectors.

``run_estimate`` answers the confirm step of a big run ("25 rows, 25 requests") with the same
choice of cells the planner makes; ``run_summaries`` gives the grid header each column's
last finished run (counts, duration, requests) with one aggregate query for the whole page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform

from enrich.enrichment.kinds import kind_named
from enrich.enrichment.kinds.waterfall import step_label
from enrich.enrichment.models import CellResult, EnrichmentColumn, Run
from enrich.enrichment.runs import _choose
from enrich.grid import visible_rows
from enrich.models import Row

ESTIMATE_CHUNK = 1000


@dataclass(frozen=True)
class RunEstimate:
    """What a run of ``enrichment`` with these settings would send if queued now."""

    enrichment: EnrichmentColumn
    scope: str
    force: bool
    rows: int
    #: Requests one row sends when every call answers at once.
    per_row: int
    #: The most a row can cost when every try fails (retries, every step of a chain).
    most_per_row: int
    host: str

    @property
    def requests(self) -> int:
        return self.rows * self.per_row

    @property
    def most_requests(self) -> int:
        return self.rows * self.most_per_row


def run_estimate(
    *,
    enrichment: EnrichmentColumn,
    scope: str = Run.Scope.ALL,
    row_ids: Iterable[int] = (),
    force: bool = False,
) -> RunEstimate:
    """Count the cells a run would queue: every visible row when forced or on a first run (one
    count query), otherwise the planner's own choice, read a chunk of rows at a time."""
    run = Run(
        column=enrichment,
        scope=Run.Scope(scope),
        row_ids=sorted({int(row_id) for row_id in row_ids}),
        force=force,
    )
    rows = visible_rows(table=enrichment.column.table).order_by("position", "pk")
    if run.scope == Run.Scope.ROWS:
        rows = rows.filter(pk__in=run.row_ids)
    never_ran = not CellResult.objects.filter(column=enrichment).exists()
    if run.force or run.scope == Run.Scope.ROWS or never_ran:
        count = rows.count()  # the planner takes every row: no need to read them
    else:
        # The planner's own choice (inputs changed, never run, in error), so the count is true.
        count = sum(len(_choose(run=run, rows=chunk)) for chunk in _row_chunks(rows))
    estimate = kind_named(enrichment.kind).estimate(enrichment)
    return RunEstimate(
        enrichment=enrichment,
        scope=run.scope,
        force=run.force,
        rows=count,
        per_row=estimate.requests_per_row,
        most_per_row=estimate.most_per_row,
        host=estimate.host,
    )


def _row_chunks(rows: QuerySet[Row]) -> Iterable[list[Row]]:
    """``rows`` in (position, id) order, a chunk at a time on the index."""
    last: tuple[int, int] | None = None
    while True:
        page = rows
        if last is not None:
            page = page.filter(Q(position__gt=last[0]) | Q(position=last[0], pk__gt=last[1]))
        chunk = list(page.only("pk", "position", "values")[:ESTIMATE_CHUNK])
        if not chunk:
            return
        yield chunk
        last = (chunk[-1].position, chunk[-1].pk)


@dataclass(frozen=True)
class RunSummary:
    """A finished run as its column header shows it until the next run starts."""

    run: Run
    done: int
    error: int
    skipped: int
    cancelled: int
    #: HTTP requests its cells sent (retries and token refresh re-sends included).
    requests: int
    #: A waterfall's steps and how many of the run's finished cells each answered (the
    #: last entry, labelled None, the cells no step answered); empty for other kinds.
    step_hits: tuple[tuple[str | None, int], ...] = ()

    @property
    def step_rates(self) -> list[tuple[str, int]]:
        """Each step's share of the answered-or-not cells, in percent: "A 61%, B 23%, none 16%"."""
        total = sum(count for _, count in self.step_hits)
        if not total:
            return []
        return [(label or "none", round(100 * count / total)) for label, count in self.step_hits]

    @property
    def duration(self) -> timedelta | None:
        start = self.run.started_at or self.run.created_at
        if self.run.finished_at is None or start is None:
            return None
        return max(timedelta(0), self.run.finished_at - start)


def run_summaries(*, runs: Iterable[Run]) -> dict[int, RunSummary]:
    """The summary of each of ``runs`` by run id: one aggregate query for all of them."""
    by_id = {run.pk: run for run in runs}
    counts: dict[int, dict[str, int]] = {run_id: {} for run_id in by_id}
    requests: dict[int, int] = dict.fromkeys(by_id, 0)
    if by_id:
        grouped = (
            CellResult.objects.filter(run_id__in=list(by_id))
            .values("run_id", "status")
            .annotate(cells=Count("pk"), requests=Sum("requests"))
            .order_by()
        )
        for group in grouped:
            counts[group["run_id"]][group["status"]] = group["cells"]
            requests[group["run_id"]] += group["requests"] or 0
    hits = _step_hits(runs=[run for run in by_id.values() if run.column.kind == "waterfall"])
    return {
        run_id: RunSummary(
            run=run,
            done=counts[run_id].get(CellResult.Status.DONE, 0),
            error=counts[run_id].get(CellResult.Status.ERROR, 0),
            skipped=counts[run_id].get(CellResult.Status.SKIPPED, 0),
            cancelled=counts[run_id].get(CellResult.Status.CANCELLED, 0),
            requests=requests[run_id],
            step_hits=hits.get(run_id, ()),
        )
        for run_id, run in by_id.items()
    }


def _step_hits(*, runs: list[Run]) -> dict[int, tuple[tuple[str | None, int], ...]]:
    """For waterfall runs: how many done cells each step answered, and how many none did (one
    aggregate over the answering step's label, so steps reordered or removed since keep
    their counts), in the order of the column's steps now."""
    if not runs:
        return {}
    grouped = (
        CellResult.objects.filter(
            run_id__in=[run.pk for run in runs], status=CellResult.Status.DONE
        )
        .annotate(step=KeyTextTransform("answered_label", "details"))
        .values("run_id", "step")
        .annotate(cells=Count("pk"))
        .order_by()
    )
    by_run: dict[int, dict[str | None, int]] = {}
    for group in grouped:
        label = group["step"] if group["step"] not in ("", "null") else None
        by_run.setdefault(group["run_id"], {})[label] = group["cells"]
    found = {}
    for run in runs:
        counts = dict(by_run.get(run.pk, {}))
        steps = run.column.config.get("steps") or []
        labels = [step_label(step, index) for index, step in enumerate(steps)]
        ordered: list[tuple[str | None, int]] = [(label, counts.pop(label, 0)) for label in labels]
        none = counts.pop(None, 0)
        # Steps of that run that are gone or renamed since, after today's.
        ordered += sorted((label, count) for label, count in counts.items() if label is not None)
        found[run.pk] = (*ordered, (None, none))
    return found


def latest_runs(*, column_ids: Iterable[int]) -> dict[int, Run]:
    """The newest run of each of these enrichment columns, by column id (one query)."""
    newest = (
        Run.objects.filter(column_id__in=list(column_ids))
        .order_by()
        .values("column_id")
        .annotate(newest=Max("pk"))
        .values("newest")
    )
    return {
        run.column_id: run for run in Run.objects.filter(pk__in=newest).select_related("column")
    }
