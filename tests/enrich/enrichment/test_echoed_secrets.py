"""An API that echoes its request must not put a credential into a cell.

One enrichment column per auth type sends its account's credentials and workspace secrets to
an API on 127.0.0.1 that answers with everything it received (headers, query, body). Every
credential value that API saw — keys, passwords, fetched tokens, the Basic header, signed
JWTs, get_secret() values — is then searched for in the stored cells (value, error, debug),
the whole database, the grid, the cell panel, "Test on a row", the CSV export and the logs.
Zero hits. Templates that would transform a secret, and conditions that read one, are refused
when the column is saved.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.urls import reverse

from accounts.connection_accounts import account_create
from accounts.workspace_secrets import secret_create
from connectors import auth_types
from enrich.enrichment.columns import EnrichmentProblems
from enrich.enrichment.models import CellResult, Run
from enrich.enrichment.pipeline import enrich_cell
from enrich.enrichment.runs import _mark_queued
from enrich.models import Row
from tests.accounts import conftest as account_fixtures
from tests.accounts.conftest import canary, database_dump
from tests.servers import RecordedRequest, Reply

pytestmark = pytest.mark.django_db

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-static-token", "x-extra")
#: A token authority on 127.0.0.1 and one account document of every auth type.
authority = account_fixtures.authority


def echo(request: RecordedRequest) -> Reply:
    """Answers with the whole request, as httpbin's /anything does."""
    return Reply.json(
        {
            "path": request.path,
            "query": request.query,
            "headers": dict(request.headers),
            "body": request.body.decode(errors="replace"),
        }
    )


def run_every_cell(enrichment) -> None:
    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING)
    rows = list(Row.objects.filter(table=enrichment.column.table))
    _mark_queued(run=run, row_ids=[row.pk for row in rows])
    for row in rows:
        enrich_cell(run_id=run.pk, row_id=row.pk)


def sent_credentials(requests: list[RecordedRequest]) -> set[str]:
    """Every credential the echo API received, in the forms it received them."""
    seen: set[str] = set()
    for request in requests:
        for name in CREDENTIAL_HEADERS:
            value = request.header(name)
            if value:
                seen.add(value)
                scheme, _, token = value.partition(" ")
                if token and scheme.isalpha():
                    seen.add(token)
        seen.update(
            value for name, values in request.query.items() if name != "email" for value in values
        )
    return {value for value in seen if len(value) >= 8}


def test_no_credential_an_echoing_api_received_is_stored_or_shown(
    client, workspace, make_table, make_enrichment, authority, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    authority.server.route("/echo", echo)
    hunter = canary("hunter")
    secret_create(workspace=workspace, name="HUNTER_KEY", value=hunter, created_by=None)
    table = make_table(
        workspace,
        columns=("Email",),
        rows=[{"email": f"lead{n}@example.test"} for n in range(3)],
    )
    documents = authority.every_type()
    assert set(documents) == set(auth_types.names())
    enrichments = []
    for auth_type, document in documents.items():
        account = account_create(
            workspace=workspace,
            name=f"{auth_type} account",
            auth_type=auth_type,
            fields={k: v for k, v in document.items() if k != "type"},
        ).account
        enrichments.append(
            make_enrichment(
                table,
                label=f"Echo {auth_type}",
                account=account,
                request={
                    "method": "POST",
                    "endpoint": authority.url("/echo"),
                    "query": {
                        "email": "{{ row.email }}",
                        "hunter": "{{ get_secret('HUNTER_KEY') }}",
                    },
                    "headers": {"X-Extra": "Key {{ get_secret('HUNTER_KEY') }}"},
                    "body": {
                        "email": "{{ row.email }}",
                        "key": "{{ get_secret('HUNTER_KEY') }}",
                        "basic": "{{ base64_encode('ada:' ~ get_secret('HUNTER_KEY')) }}",
                    },
                },
            )
        )
    for enrichment in enrichments:
        run_every_cell(enrichment)

    cells = list(CellResult.objects.filter(column__in=enrichments))
    assert {cell.status for cell in cells} == {"done"}, [c.error for c in cells]
    echoed = authority.server.requests_to("/echo")
    assert len(echoed) == 3 * len(enrichments)
    credentials = sent_credentials(echoed) | {hunter}
    credentials.add(base64.b64encode(f"ada:{hunter}".encode()).decode())
    # The API really received them: keys, Basic, bearer tokens and signed JWTs.
    assert any(value.startswith("eyJ") for value in credentials)  # a signed JWT
    assert authority.api_key in credentials and hunter in credentials
    # And echoed them back, so each cell's answer had them to leak.
    assert all("••••" in json.dumps(cell.value, ensure_ascii=False) for cell in cells)

    row = Row.objects.filter(table=table).order_by("position").first()
    shown = [
        client.get(reverse("table_detail", args=[table.pk])).content,
        client.get(reverse("table_detail", args=[table.pk]), HTTP_HX_REQUEST="true").content,
        b"".join(client.get(reverse("table_export", args=[table.pk])).streaming_content),
    ]
    for enrichment in enrichments:
        shown.append(
            client.get(
                reverse("cell_detail", args=[row.pk, enrichment.pk]), HTTP_HX_REQUEST="true"
            ).content
        )
        shown.append(
            client.post(
                reverse("enrichment_test", args=[enrichment.pk]),
                {"row": str(row.pk)},
                HTTP_HX_REQUEST="true",
            ).content
        )
    searched = {
        "cells": json.dumps([[c.value, c.error, c.debug] for c in cells], ensure_ascii=False),
        "database": database_dump(),
        "pages": b"\n".join(shown).decode(errors="replace"),
        "logs": caplog.text,
    }
    hits = [
        (where, value[:20])
        for value in credentials
        for where, text in searched.items()
        if value in text
    ]
    assert hits == []
    assert "••••" in searched["cells"] and "••••" in searched["pages"]


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("endpoint", "https://api.example.test/{{ get_secret('HUNTER_KEY')|reverse|join }}"),
        ("endpoint", "https://api.example.test/?k={{ get_secret('HUNTER_KEY')|upper }}"),
        ("endpoint", "https://api.example.test/{{ row[get_secret('HUNTER_KEY')] }}"),
        ("only_run_if", "row[get_secret('HUNTER_KEY')]"),
        ("only_run_if", "get_secret('HUNTER_KEY') == 'x'"),
        ("only_run_if", "get_secret('HUNTER_KEY')"),
    ],
)
def test_templates_that_would_change_or_compare_a_secret_are_refused_on_save(
    workspace, leads, make_enrichment, field, template
) -> None:
    hunter = canary("hunter")
    secret_create(workspace=workspace, name="HUNTER_KEY", value=hunter, created_by=None)
    request = {"endpoint": "https://api.example.test/"}
    spec = {}
    if field == "endpoint":
        request["endpoint"] = template
    else:
        spec["only_run_if"] = template

    with pytest.raises(EnrichmentProblems) as problems:
        make_enrichment(leads, request=request, **spec)

    message = " ".join(problems.value.errors.values())
    assert "get_secret()" in message
    assert hunter not in message
