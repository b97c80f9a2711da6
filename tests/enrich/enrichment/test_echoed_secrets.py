"""An API that echoes its request must not put a credential into a cell.

One enrichment column per auth type sends its account's credentials and workspace secrets to
an API on 127.0.0.1 that answers with everything it received (headers, query, body). Every
credential value that API saw — keys, passwords, fetched tokens, the Basic header, signed
JWTs, get_secret() values — is then searched for in the stored cells (value, error, debug),
the whole database, the grid, the cell panel, "Test on a row", the CSV export and the logs.
Zero hits. The same holds for a secret full of special characters (``/ + " \\ = & ? # %``, a
space, non-ASCII) sent in a header, the query, the body and the URL path, raw and encoded.
Templates that would transform a secret, and conditions that read one, are refused when the
column is saved.
"""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

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

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-static-token", "x-extra", "x-signature")
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


def report_search(name: str, values, searched: dict[str, str], hits: list) -> None:
    """One line for ``pytest -s``: what was searched for, where, and the hits (the figure the
    security review quotes)."""
    places = ", ".join(f"{where} {len(text):,} chars" for where, text in searched.items())
    print(f"\ncanary search ({name}): {len(values)} secret forms in {places}: {len(hits)} hits")


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
                if name == "x-signature":
                    seen.add(value.removeprefix("sha256="))  # the HMAC signature alone
        seen.update(
            value for name, values in request.query.items() if name != "email" for value in values
        )
    return {value for value in seen if len(value) >= 8}


def searched_everywhere(client, table, enrichments, cells, caplog) -> dict[str, str]:
    """Where a secret must not be: the stored cells, the whole database, the grid, the CSV
    export, each cell panel and "Test on a row", and the logs."""
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
    return {
        "cells": json.dumps([[c.value, c.error, c.debug] for c in cells], ensure_ascii=False),
        "database": database_dump(),
        "pages": b"\n".join(shown).decode(errors="replace"),
        "logs": caplog.text,
    }


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
    # The API really received them: keys, Basic, bearer tokens, signed JWTs, HMAC signatures.
    assert any(value.startswith("eyJ") for value in credentials)  # a signed JWT
    assert sum(1 for request in echoed if request.header("x-signature")) == 3
    assert authority.api_key in credentials and hunter in credentials
    # And echoed them back, so each cell's answer had them to leak.
    assert all("••••" in json.dumps(cell.value, ensure_ascii=False) for cell in cells)

    searched = searched_everywhere(client, table, enrichments, cells, caplog)
    hits = [
        (where, value[:20])
        for value in credentials
        for where, text in searched.items()
        if value in text
    ]
    report_search("every auth type", credentials, searched, hits)
    assert hits == []
    assert "••••" in searched["cells"] and "••••" in searched["pages"]


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("endpoint", "https://api.example.test/{{ get_secret('HUNTER_KEY')|reverse|join }}"),
        ("endpoint", "https://api.example.test/?k={{ get_secret('HUNTER_KEY')|upper }}"),
        ("endpoint", "https://api.example.test/{{ row[get_secret('HUNTER_KEY')] }}"),
        (
            "endpoint",
            "https://api.example.test/{% set g = get_secret %}{{ g('HUNTER_KEY')|reverse|join }}",
        ),
        (
            "endpoint",
            "https://api.example.test/"
            "{% for g in [get_secret] %}{{ g('HUNTER_KEY')|upper }}{% endfor %}",
        ),
        (
            "endpoint",
            "https://api.example.test/{% macro m(f) %}{{ f('HUNTER_KEY')|reverse|join }}"
            "{% endmacro %}{{ m(get_secret) }}",
        ),
        ("only_run_if", "[get_secret][0]('HUNTER_KEY') == 'x'"),
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


#: Every character URL, form, JSON and base64 encodings treat specially, a space, non-ASCII.
SPECIAL = '/+"\\=&?#% é€'


def special_canary(markers: list[str], *, ascii_only: bool = False) -> str:
    """A canary full of special characters between two unique markers (kept in ``markers``):
    any form of it that keeps its text, however encoded or escaped, keeps the markers."""
    first, last = canary("special"), canary("special")
    markers += [first, last]
    special = SPECIAL.encode("ascii", errors="ignore").decode() if ascii_only else SPECIAL
    return f"{first}{special}{last}"


def base64_forms(*texts: str) -> set[str]:
    forms = set()
    for text in texts:
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(text.encode()).decode()
            forms |= {encoded, encoded.rstrip("=")}
    return forms


def test_a_secret_with_special_characters_echoed_from_every_place_is_never_kept_or_shown(
    client, workspace, make_table, make_enrichment, authority, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    markers: list[str] = []
    secret = special_canary(markers)
    header_secret = special_canary(markers, ascii_only=True)
    secret_create(workspace=workspace, name="SPECIAL_KEY", value=secret, created_by=None)
    secret_create(workspace=workspace, name="SPECIAL_HEADER", value=header_secret, created_by=None)
    documents = {
        "api_key in a header": {
            "type": "api_key",
            "key": "X-API-Key",
            "value": special_canary(markers, ascii_only=True),
        },
        "api_key in the query": {
            "type": "api_key",
            "key": "api_key",
            "in": "query",
            "value": special_canary(markers),
        },
        "static": {
            "type": "static",
            "headers": {"X-Static-Token": special_canary(markers, ascii_only=True)},
            "username": "ada",
            "password": special_canary(markers),
        },
        "none": {"type": "none"},
    }
    # In the path: as the endpoint encodes it, and encoded again after |urlencode.
    path = f"/echo/{quote(secret, safe='')}/{quote(quote(secret, safe='/'), safe='')}"

    def echo_or_refuse(request: RecordedRequest) -> Reply:
        reply = echo(request)
        reply.status = 422 if request.header("x-refuse") else 200
        return reply

    authority.server.route(path, echo_or_refuse)
    table = make_table(
        workspace, columns=("Email",), rows=[{"email": f"lead{n}@example.test"} for n in range(2)]
    )
    request = {
        "method": "POST",
        "endpoint": authority.url("/echo/")
        + "{{ get_secret('SPECIAL_KEY') }}/{{ get_secret('SPECIAL_KEY')|urlencode }}"
        + "?e={{ get_secret('SPECIAL_KEY') }}",
        "query": {
            "email": "{{ row.email }}",
            "k": "{{ get_secret('SPECIAL_KEY') }}",
            "u": "{{ get_secret('SPECIAL_KEY')|urlencode }}",
            "j": "{{ get_secret('SPECIAL_KEY')|tojson|urlencode }}",
        },
        "headers": {
            "X-Extra": "Key {{ get_secret('SPECIAL_HEADER') }}",
            "X-Url": "{{ get_secret('SPECIAL_KEY')|urlencode }}",
            "X-Json64": "{{ get_secret('SPECIAL_KEY')|tojson|base64_encode }}",
        },
        "body": {
            "email": "{{ row.email }}",
            "key": "{{ get_secret('SPECIAL_KEY') }}",
            "json": "{{ get_secret('SPECIAL_KEY')|tojson }}",
            "basic": "{{ base64_encode('ada:' ~ get_secret('SPECIAL_KEY')) }}",
        },
    }
    enrichments = []
    for label, document in documents.items():
        account = account_create(
            workspace=workspace,
            name=label,
            auth_type=document["type"],
            fields={k: v for k, v in document.items() if k != "type"},
        ).account
        enrichments.append(make_enrichment(table, label=label, account=account, request=request))
    refused = {**request, "headers": {**request["headers"], "X-Refuse": "yes"}}
    enrichments.append(make_enrichment(table, label="refused", request=refused))
    for enrichment in enrichments:
        run_every_cell(enrichment)

    cells = list(CellResult.objects.filter(column__in=enrichments))
    statuses = sorted((cell.column.label, cell.status) for cell in cells)
    assert statuses == sorted(
        [(label, "done") for label in documents for _ in range(2)] + [("refused", "error")] * 2
    ), [cell.error for cell in cells]
    echoed = authority.server.requests_to(path)
    assert len(echoed) == 2 * len(enrichments)
    # The API really received the secret in every place, and answered with it.
    sent = echoed[0]
    assert sent.query["k"] == [secret] and sent.query["e"] == [secret]
    assert sent.json()["key"] == secret
    assert sent.header("x-extra") == f"Key {header_secret}"
    passwords = [documents["static"]["password"]]
    assert any(r.header("authorization") for r in echoed)
    done = [cell for cell in cells if cell.status == "done"]
    assert all("••••" in json.dumps(cell.value, ensure_ascii=False) for cell in done)

    searched = searched_everywhere(client, table, enrichments, cells, caplog)
    forbidden = set(markers) | base64_forms(
        secret,
        json.dumps(secret, ensure_ascii=False),
        f"ada:{secret}",
        *(f"ada:{password}" for password in passwords),
        header_secret,
    )
    hits = [
        (where, value[:24])
        for value in forbidden
        for where, text in searched.items()
        if value in text
    ]
    report_search("special characters", forbidden, searched, hits)
    assert hits == []
    assert "••••" in searched["cells"] and "••••" in searched["pages"]
