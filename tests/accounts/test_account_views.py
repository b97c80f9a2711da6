"""Settings → Connections through the real views: pick a type, exactly its fields, write-only
secrets, messages next to fields, Test connection, key pairs, roles and deletion."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.connection_accounts import account_create, account_document
from accounts.models import Account
from connectors import auth_types
from tests.accounts.conftest import ec_private_pem
from tests.conftest import member_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def owner(owner_client):
    return owner_client


@pytest.fixture
def member(owner_client, make_user):
    _, workspace = owner_client
    user = make_user()
    member_of(workspace, user)
    client = Client()
    client.force_login(user)
    return client, workspace


def field_names(html: str) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', html)) - {"csrfmiddlewaretoken", "type"}


def test_the_list_shows_type_use_and_last_test(owner) -> None:
    client, workspace = owner
    account_create(
        workspace=workspace,
        name="Hunter",
        auth_type="api_key",
        fields={"key": "X-API-Key", "value": "hunter-value-1234"},
    )
    page = client.get(reverse("account_list"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hunter" in html and "API key" in html
    assert "No columns yet" in html and "Not tested" in html
    assert "hunter-value-1234" not in html


def test_the_empty_list_invites_the_owner_to_add_one(owner) -> None:
    client, _ = owner
    html = client.get(reverse("account_list")).content.decode()
    assert "No accounts yet" in html and reverse("account_create") in html


def test_adding_starts_by_picking_a_type(owner) -> None:
    client, _ = owner
    html = client.get(reverse("account_create")).content.decode()
    for name in auth_types.names():
        assert f"?type={name}" in html
    # htmx swaps just the region.
    partial = client.get(reverse("account_create"), **HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="account-form"')


@pytest.mark.parametrize("auth_type", auth_types.names())
def test_the_form_has_exactly_the_types_fields(owner, auth_type) -> None:
    client, _ = owner
    response = client.get(reverse("account_create"), {"type": auth_type}, **HTMX)
    assert response.status_code == 200
    model = auth_types.get(auth_type).config_model
    expected = {info.alias or name for name, info in model.model_fields.items()} - {"type"}
    expected |= {"name", "test_url"}
    if auth_type in ("jwt", "oauth_jwt_bearer"):
        expected.add("generate_key")
    assert field_names(response.content.decode()) == expected


def test_defaults_help_and_examples_are_in_the_form(owner) -> None:
    client, _ = owner
    html = client.get(reverse("account_create"), {"type": "jwt_token_endpoint"}).content.decode()
    assert 'value="access_token"' in html  # the default
    assert "data.access_token" in html  # the example
    assert "Dot path to the JWT in the answer" in html  # the model's description
    assert 'value="Bearer"' in html and 'value="Authorization"' in html


def test_an_unknown_type_shows_the_picker_again(owner) -> None:
    client, _ = owner
    html = client.get(reverse("account_create"), {"type": "magic"}).content.decode()
    assert "How does the API authenticate?" in html


def create_post(client, auth_type, data):
    return client.post(f"{reverse('account_create')}?type={auth_type}", {"type": auth_type, **data})


def test_a_signing_account_added_through_the_form_keeps_its_string_to_sign(owner) -> None:
    client, workspace = owner
    secret = "whsec-form-0123456789"
    response = create_post(
        client,
        "hmac_signature",
        {
            "name": "Signed API",
            "secret": secret,
            "key_id": "key_live_1",
            # A text area sends CRLF; the provider's canonical string joins lines with LF.
            "canonical_template": "{method}\r\n{path}\r\n{timestamp}",
            "signature_header": "X-Signature",
            "signature_prefix": "sha256=",
            "encoding": "base64",
            "timestamp_header": "X-Timestamp",
            "key_id_header": "X-Key-Id",
        },
    )
    account = Account.objects.get(workspace=workspace, name="Signed API")
    assert response.status_code == 302
    assert account.config["canonical_template"] == "{method}\n{path}\n{timestamp}"
    assert account.config["encoding"] == "base64"
    assert account.secret_fields_set == ["secret"] and "secret" not in account.config
    html = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "String to sign" in html and "Signing secret" in html and "Key ID" in html
    assert "Checks the credentials, then calls the test URL" in html
    assert secret not in html


def test_creating_an_account_redirects_to_it(owner, authority) -> None:
    client, workspace = owner
    response = create_post(
        client,
        "oauth_client_credentials",
        {
            "name": "Partner API",
            "token_url": authority.url("/oauth/token"),
            "client_id": "enrich-client",
            "client_secret": authority.client_secret,
            "client_auth": "client_secret_post",
            "skew_s": "60",
            "refresh_statuses": "401, 403",
            "extra_params": '{"audience": "https://api.example.com"}',
            "allowed_hosts": "api.example.com\n*.example.org",
        },
    )
    account = Account.objects.get(workspace=workspace, name="Partner API")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_detail", args=[account.pk])
    assert account.config["refresh_statuses"] == [401, 403]
    assert account.config["allowed_hosts"] == ["api.example.com", "*.example.org"]
    assert account.config["extra_params"] == {"audience": "https://api.example.com"}
    assert account_document(account=account)["client_secret"] == authority.client_secret


def test_validation_messages_appear_next_to_their_fields_and_secrets_are_not_echoed(owner):
    client, _ = owner
    typed_key = ec_private_pem()
    response = create_post(
        client,
        "jwt",
        {
            "name": "Signer",
            "private_key": typed_key,
            "algorithm": "RS256",
            "claims": '{"sub": "{{ row.id "}',
            "header_name": "Bad Header",
            "token_type": "Bearer",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert not Account.objects.exists()
    assert "claims.sub: Template syntax error" in html
    assert "&#x27;Bad Header&#x27; is not a valid header name" in html
    assert "paste them again" in html
    body = typed_key.split("\n")[1]
    assert body not in html


def test_a_key_that_does_not_fit_the_algorithm_is_named(owner) -> None:
    client, _ = owner
    response = create_post(
        client,
        "jwt",
        {
            "name": "Signer",
            "private_key": ec_private_pem(),
            "algorithm": "RS256",
            "claims": "{}",
            "header_name": "Authorization",
            "token_type": "Bearer",
        },
    )
    assert "RS256 needs an RSA private key; this is an EC key on secp256r1." in (
        response.content.decode()
    )


def test_invalid_json_is_a_message_not_a_crash(owner) -> None:
    client, _ = owner
    response = create_post(client, "static", {"name": "S", "headers": "{not json"})
    assert response.status_code == 200
    assert "Not valid JSON" in response.content.decode()


def test_weak_keys_are_saved_with_a_warning(owner) -> None:
    client, _ = owner
    response = create_post(
        client,
        "jwt",
        {
            "name": "HMAC",
            "private_key": "twelve-bytes",
            "algorithm": "HS256",
            "claims": "{}",
            "header_name": "Authorization",
            "token_type": "Bearer",
        },
    )
    page = client.get(response["Location"])
    assert "This secret has 12 bytes; HS256 should have at least 32 random bytes." in (
        page.content.decode()
    )


def test_a_generated_key_pair_is_shown_as_pem_jwk_and_jwks_url(owner) -> None:
    client, _ = owner
    response = create_post(
        client,
        "jwt",
        {
            "name": "Generated",
            "generate_key": "EdDSA",
            "algorithm": "RS256",
            "claims": "{}",
            "header_name": "Authorization",
            "token_type": "Bearer",
        },
    )
    account = Account.objects.get(name="Generated")
    html = client.get(response["Location"]).content.decode()
    assert "-----BEGIN PUBLIC KEY-----" in html
    assert account.public_jwk["x"] in html
    assert f"/.well-known/enrich/accounts/{account.public_id}/jwks.json" in html
    assert "PRIVATE KEY" not in html


def test_editing_keeps_a_blank_secret_and_shows_it_as_set(owner) -> None:
    client, workspace = owner
    account = account_create(
        workspace=workspace,
        name="Key",
        auth_type="api_key",
        fields={"key": "X-API-Key", "value": "kept-secret-value"},
    ).account
    url = reverse("account_detail", args=[account.pk])
    html = client.get(url).content.decode()
    assert "Set" in html and "Replace" in html and "kept-secret-value" not in html
    response = client.post(
        url, {"name": "Key (renamed)", "key": "X-Other-Key", "value": "", "in": "header"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Key (renamed)"
    assert account_document(account=account)["value"] == "kept-secret-value"
    assert account_document(account=account)["key"] == "X-Other-Key"


def test_the_edit_page_warns_that_every_column_is_affected(owner) -> None:
    client, workspace = owner
    account = account_create(workspace=workspace, name="N", auth_type="none", fields={}).account
    html = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "editing it affects all of them" in html


def test_test_connection_answers_the_result_panel(owner, authority) -> None:
    client, workspace = owner
    account = account_create(
        workspace=workspace,
        name="Login",
        auth_type="jwt_token_endpoint",
        fields={
            "token_endpoint": authority.url("/login"),
            "username": "ada",
            "password": authority.password,
            "token_location": "data.access_token",
        },
    ).account
    url = reverse("account_test", args=[account.pk])
    response = client.post(url, {"test_url": authority.url("/api/me")}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="test-result"')
    assert "Passed" in html and "Got a token" in html
    assert "Token request" in html and "Test request" in html
    assert "&quot;password&quot;: &quot;••••&quot;" in html
    assert authority.password not in html
    assert "token-1" not in html
    # From the list, the row is answered.
    row = client.post(url, {"view": "row"}, **HTMX).content.decode()
    assert row.lstrip().startswith(f'<tr id="account-{account.pk}"')
    assert "Passed" in row


def test_a_failed_test_shows_the_auth_layers_message(owner, authority) -> None:
    client, workspace = owner
    account = account_create(
        workspace=workspace,
        name="Login",
        auth_type="jwt_token_endpoint",
        fields={"token_endpoint": authority.url("/login"), "username": "ada", "password": "no"},
    ).account
    html = client.post(reverse("account_test", args=[account.pk]), **HTMX).content.decode()
    assert "Failed" in html
    assert "answered 401 Unauthorized. Check the credentials." in html


def test_generating_a_key_pair_from_the_page(owner) -> None:
    client, workspace = owner
    account = account_create(
        workspace=workspace,
        name="Signer",
        auth_type="jwt",
        fields={"private_key": ec_private_pem(), "algorithm": "ES256"},
    ).account
    response = client.post(
        reverse("account_key_pair", args=[account.pk]), {"algorithm": "RS256"}, **HTMX
    )
    assert response["HX-Redirect"] == reverse("account_detail", args=[account.pk])
    account.refresh_from_db()
    assert account.config["algorithm"] == "RS256" and account.public_jwk["kty"] == "RSA"


def test_members_see_accounts_read_only(member, authority) -> None:
    client, workspace = member
    account = account_create(
        workspace=workspace,
        name="Key",
        auth_type="api_key",
        fields={"key": "X-API-Key", "value": "member-cannot-see"},
        test_url=authority.url("/api/key"),
    ).account
    detail = reverse("account_detail", args=[account.pk])
    html = client.get(detail).content.decode()
    assert "Only workspace owners can change this account." in html
    assert "<form" not in html.split('class="account-layout__main"')[1].split("</div>")[0]
    assert "member-cannot-see" not in html
    assert "Add account" not in client.get(reverse("account_list")).content.decode()
    # Owners' actions are refused...
    assert client.post(detail, {"name": "Taken"}).status_code == 403
    assert client.post(reverse("account_delete", args=[account.pk])).status_code == 403
    assert client.post(reverse("account_key_pair", args=[account.pk])).status_code == 403
    assert create_post(client, "none", {"name": "x"}).status_code == 403
    response = client.get(reverse("account_create"))
    assert response.status_code == 302 and response["Location"] == reverse("account_list")
    assert Account.objects.get().name == "Key"
    # ...testing is not, but only with the saved test URL.
    client.post(reverse("account_test", args=[account.pk]), {"test_url": "http://127.0.0.1:9/"})
    assert authority.server.count("/api/key") == 1


def test_delete_asks_first_then_deletes(owner) -> None:
    client, workspace = owner
    account = account_create(workspace=workspace, name="Old", auth_type="none", fields={}).account
    url = reverse("account_delete", args=[account.pk])
    assert "Delete “Old”?" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("account_list")
    assert not Account.objects.exists()


def test_bad_input_never_500s(owner) -> None:
    client, workspace = owner
    account = account_create(workspace=workspace, name="N", auth_type="none", fields={}).account
    posts = [
        (f"{reverse('account_create')}?type=api_key", {"name": "x" * 500, "in": "nowhere"}),
        (
            f"{reverse('account_create')}?type=oauth_client_credentials",
            {"skew_s": "NaN", "refresh_statuses": "a, b"},
        ),
        (
            f"{reverse('account_create')}?type=jwt",
            {"name": "j", "claims": "[1, 2]", "generate_key": "DSA"},
        ),
        (reverse("account_detail", args=[account.pk]), {"name": "", "allowed_hosts": "http://x"}),
        (reverse("account_key_pair", args=[account.pk]), {"algorithm": "RS256"}),
        (reverse("account_test", args=[account.pk]), {"test_url": "javascript:alert(1)"}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code in (200, 302), (url, response.status_code)
