"""Memory and time attacks typed into a column: "Test on a row" and a cell answer with a clear
template error for that cell, and the web process and the worker keep their memory."""

from __future__ import annotations

import tracemalloc

import pytest
from django.conf import settings
from django.urls import reverse

from connectors import sandbox
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import _mark_queued
from enrich.models import Row
from tests.servers import json_reply

pytestmark = pytest.mark.django_db

ATTACKS = [
    "('a' * 500).translate({97: 'b' * 1000000})",
    "('\\\\' * 600000).encode('unicode_escape').decode().encode('unicode_escape').decode()",
    "('x' * 1000000).encode().replace('x'.encode(), ('y' * 1000).encode())",
    "(('a ' * 500000).split() | length) > 1",
]


def test_the_limits_come_from_the_settings() -> None:
    assert sandbox.MAX_STRING_LENGTH == settings.ENRICH_TEMPLATE_MAX_VALUE_KB * 1024
    assert sandbox.MAX_RENDER_SECONDS == settings.ENRICH_TEMPLATE_MAX_MS / 1000


@pytest.mark.parametrize("condition", ATTACKS)
def test_an_attack_in_only_run_if_is_an_error_for_that_cell(
    client, leads, api, make_enrichment, condition
) -> None:
    api.route("/", json_reply({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")}, only_run_if=condition)
    first, second = Row.objects.filter(table=leads).order_by("position")[:2]

    tracemalloc.start()
    try:
        response = client.post(
            reverse("enrichment_test", args=[enrichment.pk]),
            {"row": str(first.pk)},
            HTTP_HX_REQUEST="true",
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert "The template went over a limit" in response.content.decode()
    assert peak < 50 * 1024 * 1024, f"{peak / 1e6:.0f} MB"

    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING, total=2)
    _mark_queued(run=run, row_ids=[first.pk, second.pk])
    assert enrich_cell(run_id=run.pk, row_id=first.pk) == "error"
    cell = CellResult.objects.get(row=first, column=enrichment)
    assert cell.error.startswith("Only run if: The template went over a limit")
    assert api.count() == 0
