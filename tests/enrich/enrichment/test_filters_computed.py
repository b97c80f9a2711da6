"""Filters on enrichment columns: by the status of their cells and by a field of the answer."""

from __future__ import annotations

import pytest

from enrich.enrichment.models import CellResult, Run
from enrich.models import Row
from tests.enrich.test_filters import companies, names, where  # noqa: F401 (its table)

pytestmark = pytest.mark.django_db


def test_enrichment_columns_filter_by_status_and_by_a_field_of_the_answer(
    companies,  # noqa: F811 (the fixture imported above)
    api,
    make_enrichment,
) -> None:
    enrichment = make_enrichment(companies, request={"endpoint": api.url("/")})
    run = Run.objects.create(column=enrichment)
    ada, grace, alan, _ = Row.objects.filter(table=companies).order_by("position")
    CellResult.objects.create(
        row=ada, column=enrichment, run=run, status="done", value={"company": {"size": 12}}
    )
    CellResult.objects.create(
        row=grace, column=enrichment, run=run, status="done", value={"company": {"size": 3400}}
    )
    CellResult.objects.create(row=alan, column=enrichment, run=run, status="error")
    key = enrichment.column.key

    assert names(companies, where(key, "status_is", "error")) == ["Alan"]
    assert names(companies, where(key, "status_is", ["done", "not_run"])) == [
        "Ada",
        "Grace",
        "名前",
    ]
    big = where(key, "greater_than", 100, path="company.size")
    assert names(companies, big) == ["Grace"]
    assert names(companies, where(key, "is_not_empty")) == ["Ada", "Grace"]
