"""The secret canary: unique secret values go in through every door; not one comes back out.

One account of every auth type and several workspace secrets hold unique canary values. Every
page and htmx partial is fetched as the owner and as a member (tests, failed forms, key pairs
included), the command line lists and tests them, and then the answers' bytes, the captured
logs (DEBUG) and every raw database row are searched for each canary. Zero hits.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.connection_accounts import account_create, account_document
from accounts.connections import token_key_prefix
from accounts.models import Account, Secret
from accounts.workspace_secrets import secret_create
from connectors import auth_types
from tests.accounts.conftest import canary, database_dump, ec_private_pem
from tests.conftest import member_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def fragments(value: str) -> set[str]:
    """What must not appear: the value, and for a PEM each line of its body."""
    found = {value}
    if "-----BEGIN" in value:
        found |= {line for line in value.splitlines() if line and not line.startswith("-----")}
    return found


@pytest.fixture
def planted(owner_client, make_user, authority):
    """A workspace with one account of every type, a generated key pair, and secrets."""
    owner, workspace = owner_client
    canaries: set[str] = set()
    accounts = []
    documents = authority.every_type()
    assert set(documents) == set(auth_types.names())
    for auth_type, document in documents.items():
        fields = {k: v for k, v in document.items() if k != "type"}
        test_path = {
            "api_key": "/api/key",
            "hmac_signature": "/api/signed",
            "none": "/api/open",
            "static": "/api/open",
            "jwt": "/api/open",
        }
        account = account_create(
            workspace=workspace,
            name=f"{auth_type} account",
            auth_type=auth_type,
            fields=fields,
            test_url=authority.url(test_path.get(auth_type, "/api/me")),
        ).account
        accounts.append(account)
        for key in account.secret_fields_set:
            value = fields[key]
            canaries |= set(value.values()) if isinstance(value, dict) else {value}
    generated = account_create(
        workspace=workspace,
        name="generated",
        auth_type="jwt",
        fields={"algorithm": "RS256"},
        generate_key="RS256",
    ).account
    accounts.append(generated)
    canaries.add(account_document(account=generated)["private_key"])
    for name in ("HUNTER_KEY", "CLEARBIT_KEY", "WEBHOOK_SIGNING"):
        value = canary(name.lower())
        secret_create(workspace=workspace, name=name, value=value, created_by=None)
        canaries.add(value)
    member_user = make_user()
    member_of(workspace, member_user)
    member = Client()
    member.force_login(member_user)
    return owner, member, workspace, accounts, canaries


def crawl(client: Client, accounts: list[Account], authority, typed: set[str]) -> list[bytes]:
    """Every page and partial of the credential pages, GET and POST, full and htmx."""
    answers = []

    def get(url: str, **extra) -> None:
        answers.append(client.get(url, **extra).content)
        answers.append(client.get(url, **HTMX, **extra).content)

    def post(url: str, data: dict | None = None, htmx: bool = True) -> None:
        response = client.post(url, data or {}, **(HTMX if htmx else {}))
        answers.append(response.content)
        if response.status_code == 302:
            answers.append(client.get(response["Location"]).content)

    get(reverse("account_list"))
    get(reverse("account_create"))
    for auth_type in auth_types.names():
        get(f"{reverse('account_create')}?type={auth_type}")
    get(reverse("secret_list"))
    for account in accounts:
        detail = reverse("account_detail", args=[account.pk])
        get(detail)
        get(reverse("account_delete", args=[account.pk]))
        post(reverse("account_test", args=[account.pk]))
        post(reverse("account_test", args=[account.pk]), {"test_url": authority.url("/api/me")})
        post(reverse("account_test", args=[account.pk]), {"view": "row"})
        post(reverse("account_test", args=[account.pk]), htmx=False)
        answers.append(client.get(detail).content)  # with the flashed test message
        answers.append(
            client.get(reverse("account_jwks", kwargs={"public_id": account.public_id})).content
        )
        # An edit that fails validation, with a freshly typed secret for each secret field.
        data = {"name": "", "type": account.auth_type}
        for key in account.secret_fields_set:
            value = canary(f"typed-{key}")
            typed.add(value)
            data[key] = json.dumps({"X-Typed": value}) if key == "headers" else value
        post(detail, data, htmx=False)
    # A failed new account and a failed new secret, with typed secrets.
    typed_key = ec_private_pem()
    typed.add(typed_key)
    post(
        f"{reverse('account_create')}?type=jwt",
        {"type": "jwt", "name": "", "private_key": typed_key, "algorithm": "RS256"},
        htmx=False,
    )
    typed_value = canary("typed-secret")
    typed.add(typed_value)
    post(reverse("secret_list"), {"name": "1NVALID", "value": typed_value})
    post(reverse("secret_list"), {"name": "1NVALID", "value": typed_value}, htmx=False)
    for secret in Secret.objects.all():
        replacement = canary("replacement")
        typed.add(replacement)
        post(reverse("secret_replace", args=[secret.pk]), {"value": replacement})
    return answers


def test_no_secret_value_leaves_the_server(planted, authority, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    owner, member, workspace, accounts, canaries = planted
    typed: set[str] = set()
    answers = crawl(owner, accounts, authority, typed)
    answers += crawl(member, accounts, authority, typed)

    out = io.StringIO()
    call_command("account", "list", "--workspace", str(workspace.pk), stdout=out)
    call_command("account", "list", "--workspace", str(workspace.pk), "--json", stdout=out)
    for account in accounts:
        with contextlib.suppress(SystemExit):
            call_command(
                "account",
                "test",
                "--workspace",
                str(workspace.pk),
                "--name",
                account.name,
                stdout=out,
            )
    answers.append(out.getvalue().encode())

    # The crawl really exercised the credentials: tokens were fetched and APIs accepted them.
    assert authority.server.count("/oauth/token") > 0
    assert authority.server.count("/login") > 0
    assert authority.server.count("/jwt-bearer/token") > 0
    assert authority.signatures.verified > 0
    assert Account.objects.filter(last_test_status=Account.TestStatus.OK).count() == len(accounts)

    body = b"\n".join(answers)
    logs = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    rows = database_dump()
    searched = {"responses": body.decode("utf-8", errors="replace"), "logs": logs, "rows": rows}
    hits = [
        (where, value[:24])
        for value in canaries | typed
        for fragment in fragments(value)
        for where, text in searched.items()
        if fragment in text
    ]
    assert hits == []
    assert len(canaries) >= 11 and len(typed) >= 10


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the services run)")
def test_cached_tokens_are_encrypted_in_redis(planted, authority) -> None:
    import redis

    owner, _, _, accounts, _ = planted
    for account in accounts:
        owner.post(reverse("account_test", args=[account.pk]), **HTMX)
    client = redis.Redis.from_url(settings.REDIS_URL)
    issued = {f"token-{n}" for n in range(1, authority.issuer.issued + 1)}
    stored = [client.get(key) for key in client.scan_iter(match=token_key_prefix() + "*")]
    assert stored
    for raw in filter(None, stored):
        data = json.loads(raw)
        assert data["v"].startswith("v1:")
        assert data["v"] not in issued
