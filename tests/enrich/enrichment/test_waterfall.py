"""Waterfall columns: providers asked in order, the first valid answer ends the chain (counted
at the providers), per-step conditions and validity, errors moving on, the chain recorded per
cell and the hit rate of each step after a run."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.connection_accounts import account_create
from enrich.enrichment.columns import EnrichmentProblems, EnrichmentSpec, enrichment_column_create
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import enrich_cell, execute
from enrich.enrichment.run_stats import latest_runs, run_summaries
from enrich.enrichment.runs import run_plan, run_queue
from enrich.models import Row
from tests.enrich.enrichment.conftest import cells, wait_for_run
from tests.servers import Reply

pytestmark = pytest.mark.django_db
FAST = {"attempts": 1}

#: Who each provider knows: A knows the first four leads, B the next three.
KNOWN_BY_A = {f"lead{n}@example.test" for n in range(4)}
KNOWN_BY_B = {f"lead{n}@example.test" for n in range(4, 7)}


def provider(name: str, known: set[str]):
    def answer(request) -> Reply:
        email = request.query.get("email", [""])[-1]
        if email == "lead9@example.test":
            return Reply.json({"error": "down"}, status=500)
        if email in known:
            return Reply.json({"company": {"name": f"{name} knows {email}"}, "score": 80})
        return Reply.json({"company": None, "score": 10})

    return answer


def step(label, api, path, **extra):
    request = {
        "endpoint": api.url(path),
        "query": {"email": "{{ row.email }}"},
        "field_paths": "company.name",
        "retry": FAST,
    }
    return {"label": label, "request": request, **extra}


@pytest.fixture
def chain(leads, api):
    api.route("/a", provider("A", KNOWN_BY_A))
    api.route("/b", provider("B", KNOWN_BY_B))
    api.route("/c", provider("C", set()))
    spec = EnrichmentSpec(
        kind="waterfall",
        config={
            "steps": [
                step("Provider A", api, "/a"),
                step("Provider B", api, "/b"),
                step("Provider C", api, "/c"),
            ]
        },
    )
    return enrichment_column_create(table=leads, label="Company", spec=spec)


def run_all(enrichment) -> Run:
    run = Run.objects.create(column=enrichment)
    run_plan(run_id=run.pk)
    for row in Row.objects.filter(table=enrichment.column.table):
        enrich_cell(run_id=run.pk, row_id=row.pk)
    run.refresh_from_db()
    return run


def test_the_first_valid_answer_stops_the_chain(chain, api) -> None:
    run = run_all(chain)

    by_email = {
        cell.row.values["email"]: cell
        for cell in CellResult.objects.filter(column=chain).select_related("row")
    }
    assert by_email["lead0@example.test"].value == "A knows lead0@example.test"
    assert by_email["lead5@example.test"].value == "B knows lead5@example.test"
    assert by_email["lead5@example.test"].details["answered_label"] == "Provider B"
    # A answered four rows: B and C never heard of them. B answered three: C never did.
    asked_b = {r.query["email"][0] for r in api.requests_to("/b")}
    asked_c = {r.query["email"][0] for r in api.requests_to("/c")}
    assert asked_b.isdisjoint(KNOWN_BY_A) and len(asked_b) == 6
    assert asked_c.isdisjoint(KNOWN_BY_A | KNOWN_BY_B) and len(asked_c) == 3
    assert api.count() == 10 + 6 + 3
    # Nobody knows lead7/lead8: every step asked, no value. lead9: every provider failed.
    assert by_email["lead7@example.test"].status == "done"
    assert by_email["lead7@example.test"].value is None
    assert by_email["lead7@example.test"].requests == 3
    failed = by_email["lead9@example.test"]
    assert failed.status == "error" and failed.error.startswith("No step answered. Provider A:")
    assert [s["status"] for s in failed.details["steps"]] == ["error", "error", "error"]

    summary = run_summaries(runs=[latest_runs(column_ids=[chain.pk])[chain.pk]])[run.pk]
    assert summary.step_rates == [
        ("Provider A", 44), ("Provider B", 33), ("Provider C", 0), ("none", 22)
    ]  # fmt: skip


def test_step_conditions_and_validity_choose_who_is_asked(leads, api) -> None:
    api.route("/a", provider("A", KNOWN_BY_A))
    api.route("/b", provider("B", KNOWN_BY_B | KNOWN_BY_A))
    spec = EnrichmentSpec(
        kind="waterfall",
        config={
            "steps": [
                # A is asked for US rows only, and only a score over 50 counts.
                step("A", api, "/a", only_run_if='row.country == "US"',
                     valid_if="result is not none and 'A knows' in result"),
                step("B", api, "/b"),
            ]
        },
    )  # fmt: skip
    enrichment = enrichment_column_create(table=leads, label="Company", spec=spec)
    run_all(enrichment)

    asked_a = {r.query["email"][0] for r in api.requests_to("/a")}
    us_rows = {row.values["email"] for row in Row.objects.filter(table=leads, values__country="US")}
    assert asked_a == us_rows
    lead0 = CellResult.objects.get(column=enrichment, row__values__email="lead0@example.test")
    # lead0 is in France: A was skipped, B answered.
    assert [s["status"] for s in lead0.details["steps"]] == ["skipped", "answered"]
    assert lead0.value == "B knows lead0@example.test"


def test_a_waterfall_is_checked_when_saved(leads, api, workspace) -> None:
    other = account_create(
        workspace=type(workspace).objects.create(name="Other"),
        name="Theirs",
        auth_type="api_key",
        fields={"key": "X-Key", "value": "theirs-key-123"},
    ).account
    spec = EnrichmentSpec(
        kind="waterfall",
        config={
            "steps": [
                step("A", api, "/a", valid_if="lowr(result)"),
                {"label": "B", "request": {"endpoint": "ftp://nope"}, "account": other.pk},
                step("C", api, "/c", only_run_if="row.phone"),
            ]
        },
    )
    with pytest.raises(EnrichmentProblems) as problems:
        enrichment_column_create(table=leads, label="Company", spec=spec)
    errors = problems.value.errors
    assert "did you mean lower()?" in errors["steps.0.valid_if"]
    assert "steps.1.endpoint" in errors
    assert errors["steps.1.account"] == "Pick an account of this workspace."
    assert "row.phone" in errors["steps.2.only_run_if"]

    with pytest.raises(EnrichmentProblems) as problems:
        enrichment_column_create(
            table=leads, label="Empty", spec=EnrichmentSpec(kind="waterfall", config={"steps": []})
        )
    assert "steps" in problems.value.errors


def test_each_step_uses_its_own_account_and_nothing_secret_is_kept(leads, api, workspace) -> None:
    seen = []

    def keyed(request) -> Reply:
        seen.append(request.header("x-key"))
        return Reply.json({"company": {"name": f"key was {request.header('x-key')}"}})

    api.route("/keyed", keyed)
    api.route("/a", provider("A", set()))
    account = account_create(
        workspace=workspace,
        name="B key",
        auth_type="api_key",
        fields={"key": "X-Key", "value": "b-secret-key-0001", "allowed_hosts": "127.0.0.1"},
    ).account
    spec = EnrichmentSpec(
        kind="waterfall",
        config={"steps": [step("A", api, "/a"), step("B", api, "/keyed", account=account)]},
    )
    enrichment = enrichment_column_create(table=leads, label="Company", spec=spec)
    row = Row.objects.filter(table=leads).order_by("position").first()

    outcome = execute(enrichment=enrichment, row=row)

    assert seen == ["b-secret-key-0001"]
    assert outcome.value == "key was ••••"
    assert "b-secret-key-0001" not in str(outcome.details)


def test_the_panel_shows_the_chain(client, chain) -> None:
    run_all(chain)
    row = Row.objects.get(table=chain.column.table, values__email="lead5@example.test")
    panel = client.get(reverse("cell_detail", args=[row.pk, chain.pk]), HTTP_HX_REQUEST="true")
    page = panel.content.decode()
    assert "Provider A" in page and "No valid value" in page and "Answered" in page
    grid = client.get(reverse("table_detail", args=[chain.column.table_id])).content.decode()
    assert "Answered by Provider A 44%, Provider B 33%, Provider C 0%, none 22%" in grid


@pytest.mark.django_db(transaction=True)
def test_a_waterfall_runs_on_a_worker(celery_worker, chain, api) -> None:
    with transaction.atomic():
        run = run_queue(enrichment=chain)
    wait_for_run(run, worker=celery_worker)
    assert [cell.status for cell in cells(chain)].count("done") == 9
    assert api.count() == 19


def step_data(index: int, endpoint: str, **fields) -> dict[str, str]:
    data = {
        "label": f"Provider {index}",
        "account": "",
        "method": "GET",
        "endpoint": endpoint,
        "query": "email: {{ row.email }}",
        "headers": "",
        "body": "",
        "field_paths": "company.name",
        "timeout_s": "10",
        "retry_attempts": "1",
        "only_run_if": "",
        "valid_if": "",
        "ORDER": str(index + 1),
        **fields,
    }
    return {f"steps-{index}-{name}": value for name, value in data.items()}


def panel_post(label: str, *steps: dict[str, str], total: int | None = None) -> dict[str, str]:
    data = {
        "label": label,
        "only_run_if": "row.email",
        "steps-TOTAL_FORMS": str(total if total is not None else len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1",
        "steps-MAX_NUM_FORMS": "10",
    }
    for step_fields in steps:
        data.update(step_fields)
    return data


def test_the_panel_saves_reorders_and_removes_steps(client, leads, api) -> None:
    page = client.get(reverse("waterfall_create", args=[leads.pk]))
    assert page.status_code == 200 and "step-template" in page.content.decode()

    response = client.post(
        reverse("waterfall_create", args=[leads.pk]),
        panel_post(
            "Company",
            step_data(0, api.url("/a")),
            step_data(1, api.url("/b"), valid_if="result is not none"),
            # The user moved the third step to the top and removed the second.
            step_data(2, api.url("/c"), ORDER="0"),
        )
        | {"steps-1-DELETE": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    enrichment = leads.columns.get(label="Company").enrichment
    assert enrichment.kind == "waterfall" and enrichment.only_run_if == "row.email"
    assert [step["label"] for step in enrichment.config["steps"]] == ["Provider 2", "Provider 0"]
    assert enrichment.config["steps"][0]["request"]["query"] == {"email": "{{ row.email }}"}

    edit = client.get(reverse("enrichment_edit", args=[enrichment.pk])).content.decode()
    assert "Provider 2" in edit and "Test on a row" in edit

    refused = client.post(
        reverse("enrichment_edit", args=[enrichment.pk]),
        panel_post("Company", step_data(0, api.url("/a")), step_data(1, "ftp://nope")),
    )
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "field__error" in page and "http" in page.split("field__error", 1)[1][:400]


def test_hit_rates_follow_the_steps_when_they_are_reordered_later(chain, api) -> None:
    from enrich.enrichment.columns import enrichment_column_update

    run = run_all(chain)
    steps = chain.config["steps"]
    enrichment_column_update(
        enrichment=chain,
        spec=EnrichmentSpec(kind="waterfall", config={"steps": [steps[1], steps[0]]}),
    )
    run.refresh_from_db()
    summary = run_summaries(runs=[latest_runs(column_ids=[chain.pk])[chain.pk]])[run.pk]
    # B first now; C was removed since: its count (0) goes, the rest keep theirs.
    assert summary.step_rates == [("Provider B", 33), ("Provider A", 44), ("none", 22)]
