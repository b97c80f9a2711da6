"""The public JWKS URL: an API verifies the account's JWTs with it (checked with jwcrypto)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from jwcrypto import jwk, jwt

from accounts.connection_accounts import account_create
from accounts.connections import account_auth
from connectors import TemplateContext
from connectors.auth import SignedJwtAuth

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_a_jwt_signed_by_the_generated_key_verifies_with_the_public_jwks(
    make_workspace, algorithm
) -> None:
    account = account_create(
        workspace=make_workspace(),
        name="Signer",
        auth_type="jwt",
        fields={"claims": {"sub": "{{ row.email }}", "exp": "{{ now(300) }}"}},
        generate_key=algorithm,
    ).account
    auth = account_auth(account=account, context=TemplateContext(row={"email": "ada@x.test"}))
    assert isinstance(auth, SignedJwtAuth)
    token = auth.sign()

    # Fetched anonymously, as an API would.
    response = Client().get(reverse("account_jwks", kwargs={"public_id": account.public_id}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    assert "public" in response["Cache-Control"]
    keys = jwk.JWKSet.from_json(response.content.decode())
    (key,) = keys["keys"]
    assert not key.has_private
    verified = jwt.JWT(jwt=token, key=keys, algs=[algorithm])
    assert '"sub":"ada@x.test"' in verified.claims.replace(" ", "")
    assert verified.token.jose_header["kid"] == key["kid"]


def test_no_key_or_no_account_is_a_404(make_workspace) -> None:
    account = account_create(
        workspace=make_workspace(),
        name="HMAC",
        auth_type="jwt",
        fields={"private_key": "x" * 40, "algorithm": "HS256"},
    ).account
    client = Client()
    assert (
        client.get(reverse("account_jwks", kwargs={"public_id": account.public_id})).status_code
        == 404
    )
    assert (
        client.get(reverse("account_jwks", kwargs={"public_id": uuid.uuid4()})).status_code == 404
    )
    assert client.get(f"/.well-known/enrich/accounts/{account.pk}/jwks.json").status_code == 404
