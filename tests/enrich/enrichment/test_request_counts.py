"""A cell's "requests" counts every request its execution sent to the API: retries, and the
request the auth layer sent again after refreshing a refused token."""

from __future__ import annotations

import pytest

from accounts.connection_accounts import account_create
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import _mark_queued
from enrich.models import Row
from tests.servers import LocalServer, Reply, json_reply
from tests.token_servers import TokenIssuer

pytestmark = pytest.mark.django_db


def run_cell(enrichment, row) -> CellResult:
    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING, total=1)
    _mark_queued(run=run, row_ids=[row.pk])
    enrich_cell(run_id=run.pk, row_id=row.pk)
    return CellResult.objects.get(row=row, column=enrichment)


def test_a_token_refreshed_after_a_401_counts_both_requests(
    workspace, leads, api, make_enrichment
) -> None:
    issuer = TokenIssuer()
    with LocalServer() as token_server:
        token_server.route(
            "/token", issuer.oauth_endpoint(client_id="c", client_secret="s-secret-1")
        )
        api.route("/", issuer.protected(json_reply({"ok": True})))
        account = account_create(
            workspace=workspace,
            name="OAuth",
            auth_type="oauth_client_credentials",
            fields={
                "client_id": "c",
                "client_secret": "s-secret-1",
                "token_url": token_server.url("/token"),
            },
        ).account
        enrichment = make_enrichment(leads, request={"endpoint": api.url("/")}, account=account)
        first, second = Row.objects.filter(table=leads).order_by("position")[:2]

        assert run_cell(enrichment, first).requests == 1
        issuer.revoke_all()  # the API forgets the cached token: 401, refresh, send again
        cell = run_cell(enrichment, second)

    assert cell.status == "done", cell.error
    assert (cell.requests, cell.attempts) == (2, 1)
    assert api.count() == 3
    assert token_server.count("/token") == 2


def test_retries_count_as_requests(leads, api, make_enrichment) -> None:
    answers = iter([Reply(status=503), Reply(status=503)])
    api.route("/", lambda request: next(answers, None) or Reply.json({"ok": True}))
    enrichment = make_enrichment(leads, request={"endpoint": api.url("/")})
    cell = run_cell(enrichment, Row.objects.filter(table=leads).order_by("position").first())

    assert cell.status == "done", cell.error
    assert cell.requests == 3
