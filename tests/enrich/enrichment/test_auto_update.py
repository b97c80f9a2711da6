"""Auto-update: an edit re-runs exactly the enrichment cells that read the edited cell."""

from __future__ import annotations

import pytest
from django.urls import reverse

from enrich.enrichment.auto_update import cells_changed
from enrich.enrichment.models import Run, TableEnrichmentSettings
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import run_plan
from enrich.models import Row
from tests.servers import json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def columns(leads, api, make_enrichment):
    api.route("/", json_reply({"ok": True}))
    reads_email = make_enrichment(
        leads, label="By email", request={"endpoint": api.url("/?e={{ row.email }}")},
        auto_update=True,
    )  # fmt: skip
    reads_country = make_enrichment(
        leads, label="By country", request={"endpoint": api.url("/?c={{ row.country }}")},
        auto_update=True,
    )  # fmt: skip
    manual = make_enrichment(
        leads, label="Manual", request={"endpoint": api.url("/?e={{ row.email }}")}
    )
    return reads_email, reads_country, manual


def run_everything(enrichments) -> None:
    for enrichment in enrichments:
        run = Run.objects.create(column=enrichment)
        run_plan(run_id=run.pk)
        for row in Row.objects.filter(table=enrichment.column.table):
            enrich_cell(run_id=run.pk, row_id=row.pk)


def test_editing_a_cell_re_runs_only_the_columns_that_read_it(client, leads, columns) -> None:
    reads_email, *_ = columns
    run_everything(columns)
    row = Row.objects.filter(table=leads).order_by("position").first()
    email = leads.columns.get(key="email")

    response = client.post(
        reverse("cell_update", args=[row.pk, email.pk]),
        {"value": "new@example.test"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    queued = Run.objects.filter(status=Run.Status.PLANNING)
    assert [(run.column_id, run.row_ids) for run in queued] == [(reads_email.pk, [row.pk])]


def test_writing_the_same_value_again_runs_nothing(leads, columns) -> None:
    run_everything(columns)
    row = Row.objects.filter(table=leads).order_by("position").first()
    assert cells_changed(row=row, column_keys={"email"}) == []


def test_the_table_switch_overrides_the_columns(leads, columns) -> None:
    run_everything(columns)
    TableEnrichmentSettings.objects.update_or_create(table=leads, defaults={"auto_update": False})
    row = Row.objects.filter(table=leads).order_by("position").first()
    row.values["email"] = "other@example.test"
    assert cells_changed(row=row, column_keys={"email"}) == []


def test_the_table_switch_is_in_the_grid_toolbar(client, leads, columns) -> None:
    page = client.get(reverse("table_detail", args=[leads.pk]))
    assert "Auto-update for this table: on" in page.content.decode()

    client.post(reverse("table_auto_update", args=[leads.pk]), {"enabled": "0"})

    page = client.get(reverse("table_detail", args=[leads.pk]))
    assert "Auto-update for this table: off" in page.content.decode()
    assert TableEnrichmentSettings.objects.get(table=leads).auto_update is False
