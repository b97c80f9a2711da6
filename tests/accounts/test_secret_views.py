"""Settings → Secrets: masked list, add, replace, delete; owners only change them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Secret
from accounts.workspace_secrets import masked_preview, secret_create, secret_value
from tests.conftest import member_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_list_shows_only_the_first_character(owner_client) -> None:
    client, workspace = owner_client
    secret_create(
        workspace=workspace, name="HUNTER_KEY", value="hk_live_0123456789", created_by=None
    )
    secret_create(workspace=workspace, name="PIN", value="1234", created_by=None)
    html = client.get(reverse("secret_list")).content.decode()
    assert "HUNTER_KEY" in html and "h••••" in html
    assert "hk_live" not in html and "0123456789" not in html
    assert "1234" not in html  # too short to hint at: only ••••
    assert "get_secret('HUNTER_KEY')" in html


def test_masked_preview_hides_short_values_entirely() -> None:
    assert masked_preview("abcdefgh") == "a••••"
    assert masked_preview("abc") == "••••"


def test_adding_replacing_and_deleting_with_htmx(owner_client) -> None:
    client, workspace = owner_client
    response = client.post(
        reverse("secret_list"), {"name": "TOKEN", "value": "first-value-1"}, **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="secret-list"')
    assert "Secret TOKEN saved." in html and "first-value-1" not in html
    secret = Secret.objects.get(workspace=workspace, name="TOKEN")
    assert "first-value-1" not in secret.ciphertext

    html = client.post(
        reverse("secret_replace", args=[secret.pk]), {"value": "second-value-2"}, **HTMX
    ).content.decode()
    assert "Secret TOKEN replaced." in html and "second-value-2" not in html
    assert secret_value(workspace_id=workspace.pk, name="TOKEN") == "second-value-2"

    html = client.post(reverse("secret_delete", args=[secret.pk]), **HTMX).content.decode()
    assert "Secret TOKEN deleted." in html and "No secrets yet" in html
    assert not Secret.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "9LIVES", "value": "v"}, "is not a valid secret name"),
        ({"name": "has-dash", "value": "v"}, "is not a valid secret name"),
        ({"name": "TOKEN", "value": ""}, "This field is required."),
        ({"name": "TAKEN", "value": "another"}, "A secret named TAKEN already exists"),
    ],
)
def test_bad_input_is_a_message_next_to_the_field(owner_client, data, message) -> None:
    client, workspace = owner_client
    secret_create(workspace=workspace, name="TAKEN", value="taken-value", created_by=None)
    response = client.post(reverse("secret_list"), data, **HTMX)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_a_value_typed_into_a_failed_form_is_not_echoed(owner_client) -> None:
    client, _ = owner_client
    html = client.post(
        reverse("secret_list"), {"name": "1bad", "value": "typed-secret-value"}
    ).content
    assert b"typed-secret-value" not in html


def test_members_see_the_list_but_cannot_change_it(owner_client, make_user) -> None:
    _, workspace = owner_client
    secret = secret_create(
        workspace=workspace, name="TOKEN", value="member-view-123", created_by=None
    )
    user = make_user()
    member_of(workspace, user)
    client = Client()
    client.force_login(user)
    html = client.get(reverse("secret_list")).content.decode()
    assert "TOKEN" in html and "m••••" in html and "Add a secret" not in html
    assert client.post(reverse("secret_list"), {"name": "NEW", "value": "v"}).status_code == 403
    assert (
        client.post(reverse("secret_replace", args=[secret.pk]), {"value": "x"}).status_code == 403
    )
    assert client.post(reverse("secret_delete", args=[secret.pk])).status_code == 403
    assert secret_value(workspace_id=workspace.pk, name="TOKEN") == "member-view-123"
    assert list(Secret.objects.values_list("name", flat=True)) == ["TOKEN"]
