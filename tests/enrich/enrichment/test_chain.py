"""The chain a Clay user builds first, from the command line and on a real worker:

    domain = domain(row.email)  →  company = waterfall over two providers, on row.domain
    →  shout = upper(row.company)

Edits flow through it in order, once each: changing an email recomputes the domain at once,
re-runs the waterfall for that row only (counted at the providers) and, once its cell is
written, recomputes the formula on its result. A change nothing reads runs nothing.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from enrich.enrichment.models import CellResult, Run
from enrich.models import Row
from tests.enrich.enrichment.conftest import wait_for_run
from tests.servers import Reply

pytestmark = pytest.mark.django_db(transaction=True)

COMPANIES_A = {"analytical.example": "Analytical Engines"}
COMPANIES_B = {"analytical.example": "never asked", "navy.example": "US Navy"}


def provider(companies):
    def answer(request) -> Reply:
        domain = request.query.get("domain", [""])[-1]
        return Reply.json({"name": companies.get(domain)})

    return answer


def add_column(workspace, table, name, document, tmp_path) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document))
    out = io.StringIO()
    call_command(
        "add_column", workspace=str(workspace.pk), table=str(table.pk), name=name,
        file=str(path), stdout=out,
    )  # fmt: skip
    assert f"Added “{name}”" in out.getvalue()


def waterfall_runs(table):
    return Run.objects.filter(column__column__table=table, column__kind="waterfall")


def wait_for_value(row, key, expected, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.values.get(key) == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{key} is {row.values.get(key)!r}, not {expected!r}")


def test_domain_waterfall_formula_from_the_command_line(
    celery_worker, client, workspace, make_table, api, tmp_path
) -> None:
    api.route("/a", provider(COMPANIES_A))
    api.route("/b", provider(COMPANIES_B))
    table = make_table(
        workspace,
        columns=("Name", "Email"),
        rows=[
            {"name": "Ada", "email": "ada@analytical.example"},
            {"name": "Grace", "email": "grace@navy.example"},
            {"name": "Nobody", "email": "x@unknown.example"},
        ],
    )

    def step(label, path):
        return {
            "label": label,
            "request": {
                "endpoint": api.url(path),
                "query": {"domain": "{{ row.domain }}"},
                "field_paths": "name",
                "retry": {"attempts": 1},
            },
        }

    add_column(workspace, table, "Domain", {"kind": "formula", "expression": "domain(row.email)"},
               tmp_path)  # fmt: skip
    add_column(
        workspace, table, "Company",
        {"kind": "waterfall", "steps": [step("A", "/a"), step("B", "/b")],
         "only_run_if": "row.domain", "auto_update": True},
        tmp_path,
    )  # fmt: skip
    add_column(workspace, table, "Shout", {"kind": "formula", "expression": "upper(row.company)"},
               tmp_path)  # fmt: skip
    ada, grace, nobody = Row.objects.filter(table=table).order_by("position")
    assert ada.values["domain"] == "analytical.example"

    out = io.StringIO()
    call_command(
        "run_column", workspace=str(workspace.pk), table=str(table.pk), column="company",
        wait=True, timeout=60, stdout=out,
    )  # fmt: skip
    assert "done 3 · error 0" in out.getvalue()
    # Ada is answered by A (B never asked), Grace by B, nobody by neither.
    assert sorted(r.query["domain"][0] for r in api.requests_to("/b")) == [
        "navy.example",
        "unknown.example",
    ]
    assert api.count() == 5
    wait_for_value(ada, "shout", "ANALYTICAL ENGINES")
    wait_for_value(grace, "shout", "US NAVY")
    nobody.refresh_from_db()
    assert "shout" not in nobody.values

    # An edit of an email: the domain at once, the waterfall for that row only, then the shout.
    email = table.columns.get(key="email")
    response = client.post(
        reverse("cell_update", args=[nobody.pk, email.pk]),
        {"value": "someone@navy.example"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    nobody.refresh_from_db()
    assert nobody.values["domain"] == "navy.example"
    rerun = waterfall_runs(table).order_by("-pk").first()
    assert rerun.row_ids == [nobody.pk]
    wait_for_run(rerun, worker=celery_worker)
    wait_for_value(nobody, "shout", "US NAVY")
    assert api.count() == 5 + 2  # A (no match), then B
    assert waterfall_runs(table).count() == 2

    # A change nothing downstream reads runs nothing.
    name = table.columns.get(key="name")
    client.post(
        reverse("cell_update", args=[ada.pk, name.pk]), {"value": "Ada L."}, HTTP_HX_REQUEST="true"
    )
    # The same email written again: the domain does not change, so nothing re-runs.
    client.post(
        reverse("cell_update", args=[ada.pk, email.pk]),
        {"value": "ada@analytical.example"},
        HTTP_HX_REQUEST="true",
    )
    assert waterfall_runs(table).count() == 2
    assert api.count() == 7
    assert CellResult.objects.filter(column__kind="waterfall", status="error").count() == 0
