"""A new user opens a fresh server, signs up and sees their empty workspace."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_on_a_fresh_server_lands_on_an_empty_workspace(page) -> None:
    page.goto("/")
    assert page.locator("h1").inner_text() == "Create your account"

    page.fill("#id_username", "ada")
    page.fill("#id_email", "ada@example.test")
    page.fill("#id_password1", "a long pass phrase")
    page.fill("#id_password2", "a long pass phrase")
    page.fill("#id_workspace_name", "Growth")
    page.get_by_role("button", name="Create account").click()

    page.wait_for_url("**/")
    assert page.get_by_text("No tables yet").is_visible()
    assert page.get_by_role("link", name="Create your first table").is_visible()
    assert "Growth" in page.locator("details.menu summary").inner_text()

    page.get_by_role("link", name="Create your first table").click()
    page.fill("#id_name", "Leads")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/tables/\d+/$"))
    assert page.locator("h1").inner_text() == "Leads"
