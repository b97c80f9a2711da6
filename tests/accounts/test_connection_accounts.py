"""Account services: validation by the connectors schema, secrets split off and encrypted,
edits that keep secrets, names, key pairs and deletion."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import connection
from django.db.models import ProtectedError

from accounts.connection_accounts import (
    account_column_uses,
    account_create,
    account_delete,
    account_document,
    account_generate_key_pair,
    account_in_use,
    account_update,
    accounts_for_list,
)
from accounts.exceptions import (
    AccountInUse,
    InvalidAccountConfig,
    KeyPairNotSupported,
)
from accounts.models import Account, AuthType
from connectors import auth_types
from tests.accounts.conftest import ec_private_pem

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(make_workspace):
    return make_workspace("Acme")


def create(workspace, auth_type, fields, name="Account", **extra):
    return account_create(
        workspace=workspace, name=name, auth_type=auth_type, fields=fields, **extra
    )


def raw_row(account: Account) -> str:
    """The account's row exactly as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_account WHERE id = %s", [account.pk])
        return repr(cursor.fetchone())


def test_the_auth_types_are_the_registrys() -> None:
    assert sorted(AuthType.values) == auth_types.names()


def test_every_type_saves_its_config_plain_and_its_secrets_encrypted(workspace, authority):
    for auth_type, document in authority.every_type().items():
        fields = {k: v for k, v in document.items() if k != "type"}
        account = create(workspace, auth_type, fields, name=auth_type).account
        model = auth_types.get(auth_type).config_model
        secret_keys = set(model.secret_fields())
        assert set(account.secret_fields_set) == secret_keys & set(fields)
        assert not secret_keys & set(account.config)
        row = raw_row(account)
        for key in secret_keys & set(fields):
            value = fields[key]
            for text in value.values() if isinstance(value, dict) else [value]:
                assert text not in row
        # The stored parts give back exactly the validated document, with the allowed hosts
        # proposed from the token endpoint when the document names one.
        stored = model.model_validate(account_document(account=account))
        proposed = ("127.0.0.1",) if {"token_url", "token_endpoint"} & set(fields) else ()
        assert stored == model.model_validate({**document, "allowed_hosts": proposed})


def test_a_new_account_without_secrets_has_no_ciphertext(workspace) -> None:
    account = create(workspace, "none", {}).account
    assert account.secrets_ciphertext == "" and account.secret_fields_set == []


def test_editing_with_blank_secrets_keeps_them(workspace, authority) -> None:
    fields = {
        "token_url": authority.url("/oauth/token"),
        "client_id": "c",
        "client_secret": "secret-one-1",
    }
    account = create(workspace, "oauth_client_credentials", fields).account
    account_update(account=account, fields={**fields, "client_secret": "", "scope": "read"})
    account.refresh_from_db()
    document = account_document(account=account)
    assert document["client_secret"] == "secret-one-1"
    assert document["scope"] == "read"
    account_update(account=account, fields={"client_secret": "secret-two-2"})
    assert (
        account_document(account=Account.objects.get(pk=account.pk))["client_secret"]
        == "secret-two-2"
    )


def test_an_optional_secret_can_be_cleared(workspace) -> None:
    fields = {"headers": {"X-Token": "t"}, "username": "ada", "password": "pw"}
    account = create(workspace, "static", fields).account
    assert account.secret_fields_set == ["headers", "password"]
    account_update(account=account, fields={}, clear=["password"])
    account.refresh_from_db()
    assert account.secret_fields_set == ["headers"]
    assert "password" not in account_document(account=account)


def test_a_failed_edit_changes_nothing(workspace) -> None:
    account = create(workspace, "api_key", {"key": "X-Key", "value": "v-1234567"}).account
    before = raw_row(account)
    with pytest.raises(InvalidAccountConfig) as raised:
        account_update(account=account, name="", fields={"key": "Bad Header"})
    assert set(raised.value.field_errors) == {"name", "key"}
    assert raw_row(Account.objects.get(pk=account.pk)) == before


def test_names_are_unique_per_workspace(workspace, make_workspace) -> None:
    create(workspace, "none", {}, name="Hunter")
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, "none", {}, name="Hunter")
    assert raised.value.field_errors == {
        "name": ["An account named “Hunter” already exists in this workspace."]
    }
    create(make_workspace("Other"), "none", {}, name="Hunter")  # another workspace may


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_name_is_required_and_bounded(workspace, name) -> None:
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, "none", {}, name=name)
    assert list(raised.value.field_errors) == ["name"]


def test_an_unknown_type_lists_the_known_ones(workspace) -> None:
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, "magic", {})
    assert "unknown auth type 'magic'" in raised.value.field_errors["type"][0]


def test_a_test_url_must_be_http(workspace) -> None:
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, "none", {}, test_url="ftp://example.com/")
    assert raised.value.field_errors == {
        "test_url": ["ftp:// is not supported; use http:// or https://"]
    }


def rsa_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def p384_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


URL = "https://auth.example.com/token"
OAUTH = {"token_url": URL, "client_id": "c", "client_secret": "s-secret-1"}
BEARER = {"token_url": URL, "client_id": "c", "subject": "s", "audience": "a"}
LOGIN = {"token_endpoint": URL, "username": "u", "password": "p"}

# (type, fields, field at fault, message the schema gives)
VALIDATION_CASES = [
    ("api_key", {"value": "v"}, "key", "Field required"),
    ("api_key", {"key": "", "value": "v"}, "key", "at least 1 character"),
    ("api_key", {"key": "Bad Header", "value": "v"}, "key", "is not a valid header name"),
    ("api_key", {"key": "X-Key"}, "value", "Field required"),
    ("api_key", {"key": "X-Key", "value": "v", "in": "body"}, "in", "'header' or 'query'"),
    ("api_key", {"key": "X-Key", "value": "k-12"}, "value", "at least 8 characters"),
    ("oauth_client_credentials", {**OAUTH, "client_secret": "abc"}, "client_secret", "at least 8"),
    ("jwt", {"private_key": "hmac", "algorithm": "HS256"}, "private_key", "at least 8 characters"),
    ("hmac_signature", {"secret": "abc"}, "secret", "at least 8 characters"),
    (
        "hmac_signature",
        {"secret": "s" * 12, "canonical_template": "{verb}"},
        "canonical_template",
        "{verb} is no placeholder",
    ),
    (
        "hmac_signature",
        {"secret": "s" * 12, "timestamp_header": ""},
        "",
        "uses {timestamp}: name the timestamp header",
    ),
    ("static", {}, "", "Give at least one header or an HTTP Basic user name."),
    ("static", {"headers": {"Bad Header": "x"}}, "headers", "is not a valid header name"),
    (
        "static",
        {"headers": {"Authorization": "Bearer x"}, "username": "u"},
        "",
        "either an Authorization header or HTTP Basic",
    ),
    ("static", {"headers": {"Host": "x"}}, "headers", "set by the engine"),
    ("oauth_client_credentials", {**OAUTH, "token_url": "not a url"}, "token_url", "valid URL"),
    (
        "oauth_client_credentials",
        {**OAUTH, "token_url": "ftp://x/t"},
        "token_url",
        "'http' or 'https'",
    ),
    ("oauth_client_credentials", {**OAUTH, "client_id": ""}, "client_id", "at least 1 character"),
    ("oauth_client_credentials", {**OAUTH, "client_secret": ""}, "client_secret", "at least 1"),
    ("oauth_client_credentials", {**OAUTH, "scope": 5}, "scope", "valid string"),
    ("oauth_client_credentials", {**OAUTH, "skew_s": -1}, "skew_s", "greater than or equal to 0"),
    ("oauth_client_credentials", {**OAUTH, "skew_s": "soon"}, "skew_s", "valid integer"),
    (
        "oauth_client_credentials",
        {**OAUTH, "refresh_statuses": [200]},
        "refresh_statuses",
        "HTTP error statuses",
    ),
    (
        "oauth_client_credentials",
        {**OAUTH, "extra_params": {"grant_type": "x"}},
        "extra_params",
        "grant_type is set by Enrich",
    ),
    (
        "oauth_client_credentials",
        {**OAUTH, "client_auth": "jwt"},
        "client_auth",
        "client_secret_post",
    ),
    (
        "oauth_client_credentials",
        {**OAUTH, "allowed_hosts": ["https://api.x"]},
        "allowed_hosts",
        "is not a host name",
    ),
    ("jwt", {"private_key": "not a key", "algorithm": "ES256"}, "private_key", "not a valid PEM"),
    (
        "jwt",
        {"private_key": "RSA", "algorithm": "ES256"},
        "private_key",
        "ES256 needs an EC private key",
    ),
    (
        "jwt",
        {"private_key": "P384", "algorithm": "ES256"},
        "private_key",
        "needs a key on curve secp256r1",
    ),
    (
        "jwt",
        {"private_key": "EC", "algorithm": "RS256"},
        "private_key",
        "RS256 needs an RSA private key",
    ),
    (
        "jwt",
        {"private_key": "EC", "algorithm": "HS256"},
        "private_key",
        "signs with a shared secret",
    ),
    ("jwt", {"private_key": "PUBLIC", "algorithm": "ES256"}, "private_key", "this is a public key"),
    ("jwt", {"private_key": "EC", "algorithm": "XY256"}, "algorithm", "choose one of HS256"),
    (
        "jwt",
        {"private_key": "EC", "algorithm": "ES256", "claims": {"sub": "{{ row.id "}},
        "claims",
        "claims.sub: Template syntax error",
    ),
    (
        "jwt",
        {"private_key": "EC", "algorithm": "ES256", "claims": "{}"},
        "claims",
        "valid dictionary",
    ),
    (
        "jwt",
        {"private_key": "EC", "algorithm": "ES256", "header_name": "X Bad"},
        "header_name",
        "not a valid header name",
    ),
    ("jwt", {"algorithm": "ES256"}, "private_key", "Field required"),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "EC", "algorithm": "ES256", "token_url": "x"},
        "token_url",
        "valid URL",
    ),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "EC", "algorithm": "ES256", "subject": ""},
        "subject",
        "at least 1",
    ),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "EC", "algorithm": "ES256", "audience": ""},
        "audience",
        "at least 1",
    ),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "EC", "algorithm": "ES256", "token_ttl": 5},
        "token_ttl",
        "greater than or equal to 10",
    ),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "garbage", "algorithm": "ES256"},
        "private_key",
        "not a valid PEM",
    ),
    (
        "oauth_jwt_bearer",
        {**BEARER, "private_key": "EC", "algorithm": "RS256"},
        "private_key",
        "needs an RSA private key",
    ),
    ("jwt_token_endpoint", {**LOGIN, "token_endpoint": "nope"}, "token_endpoint", "valid URL"),
    ("jwt_token_endpoint", {**LOGIN, "username": ""}, "username", "at least 1 character"),
    (
        "jwt_token_endpoint",
        {**LOGIN, "token_location": " . "},
        "token_location",
        "give the dot path",
    ),
    ("jwt_token_endpoint", {**LOGIN, "token_type": "Be arer"}, "token_type", "one word"),
    (
        "jwt_token_endpoint",
        {**LOGIN, "auth_header_name": "X Bad"},
        "auth_header_name",
        "not a valid header name",
    ),
    (
        "jwt_token_endpoint",
        {**LOGIN, "credentials_in": "xml"},
        "credentials_in",
        "'json', 'form' or 'basic'",
    ),
    ("jwt_token_endpoint", {**LOGIN, "username_field": ""}, "username_field", "at least 1"),
]

_KEYS = {"RSA": lambda: rsa_pem(), "EC": ec_private_pem, "P384": p384_pem}


def _with_keys(fields: dict) -> dict:
    fields = dict(fields)
    key = fields.get("private_key")
    if key in _KEYS:
        fields["private_key"] = _KEYS[key]()
    elif key == "PUBLIC":
        private = serialization.load_pem_private_key(ec_private_pem().encode(), None)
        fields["private_key"] = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
    return fields


@pytest.mark.parametrize(("auth_type", "fields", "field", "message"), VALIDATION_CASES)
def test_every_fields_validation_message(workspace, auth_type, fields, field, message) -> None:
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, auth_type, _with_keys(fields))
    assert field in raised.value.field_errors, raised.value.field_errors
    assert any(message in text for text in raised.value.field_errors[field]), raised.value
    assert not Account.objects.exists()


def test_messages_never_echo_a_secret(workspace) -> None:
    fields = {"token_url": "nope", "client_id": "", "client_secret": "s3cr3t-in-error"}
    with pytest.raises(InvalidAccountConfig) as raised:
        create(workspace, "oauth_client_credentials", fields)
    assert "s3cr3t-in-error" not in str(raised.value)


@pytest.mark.parametrize(
    ("algorithm", "key", "warning"),
    [
        (
            "HS256",
            "short-secret",
            "This secret has 12 bytes; HS256 should have at least 32 random bytes.",
        ),
        ("RS256", "RSA1024", "This RSA key has 1024 bits; use at least 2048 bits."),
    ],
)
def test_weak_keys_are_saved_with_a_warning(workspace, algorithm, key, warning) -> None:
    private_key = rsa_pem(1024) if key == "RSA1024" else key
    change = create(workspace, "jwt", {"private_key": private_key, "algorithm": algorithm})
    assert change.warnings == [warning]


# --- Key pairs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "kty"), [("RS256", "RSA"), ("ES256", "EC"), ("EdDSA", "OKP")]
)
def test_a_generated_key_pair_is_stored_encrypted_and_published(workspace, algorithm, kty):
    change = create(
        workspace, "oauth_jwt_bearer", {**BEARER, "algorithm": "ES256"}, generate_key=algorithm
    )
    account = change.account
    assert change.warnings == []
    assert account.config["algorithm"] == algorithm
    assert account.public_jwk["kty"] == kty
    assert "d" not in account.public_jwk
    assert account.config["jwt_headers"] == {"kid": account.public_jwk["kid"]}
    private = account_document(account=account)["private_key"]
    assert private.startswith("-----BEGIN PRIVATE KEY-----")
    assert private not in raw_row(account)


def test_generating_a_new_key_pair_replaces_the_key(workspace) -> None:
    account = create(workspace, "jwt", {"algorithm": "ES256"}, generate_key="ES256").account
    first_private = account_document(account=account)["private_key"]
    first_kid = account.public_jwk["kid"]
    account_generate_key_pair(account=account, algorithm="EdDSA")
    account.refresh_from_db()
    assert account.config["algorithm"] == "EdDSA"
    assert account.public_jwk["kid"] != first_kid
    assert account.config["jwt_headers"]["kid"] == account.public_jwk["kid"]
    assert account_document(account=account)["private_key"] != first_private


def test_an_hmac_account_publishes_no_key(workspace) -> None:
    secret = "a-long-enough-hmac-secret-of-32-bytes!"
    account = create(workspace, "jwt", {"private_key": secret, "algorithm": "HS256"}).account
    assert account.public_jwk is None


def test_key_pairs_are_for_signing_types_only(workspace) -> None:
    account = create(workspace, "none", {}).account
    with pytest.raises(KeyPairNotSupported):
        account_generate_key_pair(account=account, algorithm="ES256")
    with pytest.raises(KeyPairNotSupported):
        create(workspace, "api_key", {"key": "K", "value": "v"}, name="k", generate_key="ES256")


# --- Listing and deleting -------------------------------------------------------------------


def test_the_list_has_every_account_by_name_in_two_queries(
    workspace, django_assert_max_num_queries
) -> None:
    for name in ("b", "a", "c"):
        create(workspace, "none", {}, name=name)
    with django_assert_max_num_queries(2):
        items = accounts_for_list(workspace=workspace)
        assert [item.account.name for item in items] == ["a", "b", "c"]
        assert all(item.uses == [] for item in items)


def test_an_unused_account_can_be_deleted(workspace) -> None:
    account = create(workspace, "none", {}).account
    assert account_column_uses(account=account) == []
    account_delete(account=account)
    assert not Account.objects.exists()


def test_a_delete_the_database_refuses_becomes_a_message_naming_the_columns(workspace):
    account = create(workspace, "none", {}, name="Hunter").account

    class Table:
        pk, name = 3, "Leads"

    class Column:
        label, table = "Email finder", Table()

    refused = ProtectedError("protected", {Column()})
    error = account_in_use(account, refused)
    assert isinstance(error, AccountInUse)
    assert str(error) == (
        "“Hunter” is used by 1 column (Email finder (Leads)). "
        "Pick another account in those columns or delete them first."
    )


def test_document_keys_round_trip_through_json(workspace) -> None:
    fields = {"key": "api_key", "value": "v-1234567", "in": "query"}
    account = create(workspace, "api_key", fields).account
    assert account.config["in"] == "query"
    assert json.loads(json.dumps(account.config)) == account.config
