"""The command line: account create/list/test, secret set, createworkspace."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.connection_accounts import account_document
from accounts.models import Account, Membership, Workspace
from accounts.workspace_secrets import secret_value

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = saved
    return out.getvalue(), err.getvalue()


def test_createworkspace_makes_the_user_its_owner(make_user) -> None:
    user = make_user("grace")
    out, _ = run("createworkspace", "Research", "--owner", "grace")
    workspace = Workspace.objects.get(name="Research")
    assert f"id {workspace.pk}" in out
    assert Membership.objects.get(workspace=workspace).user == user
    with pytest.raises(CommandError, match="No user"):
        run("createworkspace", "X", "--owner", "nobody")


def test_account_create_from_a_file_and_from_stdin(make_workspace, authority, tmp_path) -> None:
    workspace = make_workspace("Acme")
    document = authority.every_type()["oauth_client_credentials"]
    path = tmp_path / "account.json"
    path.write_text(json.dumps(document))
    out, _ = run(
        "account", "create", "--workspace", "Acme", "--name", "Partner", "--file", str(path)
    )
    assert "secrets stored encrypted: client_secret" in out
    assert authority.client_secret not in out
    account = Account.objects.get(workspace=workspace, name="Partner")
    assert account_document(account=account)["client_secret"] == authority.client_secret

    login = authority.every_type()["jwt_token_endpoint"]
    run(
        "account",
        "create",
        "--workspace",
        str(workspace.pk),
        "--name",
        "Login",
        "--file",
        "-",
        stdin=json.dumps(login),
    )
    assert Account.objects.filter(name="Login", auth_type="jwt_token_endpoint").exists()


def test_account_create_names_the_field_at_fault(make_workspace, tmp_path) -> None:
    make_workspace("Acme")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"type": "api_key", "key": "Bad Header", "value": "v"}))
    with pytest.raises(CommandError, match=r"auth\.key: 'Bad Header' is not a valid header name"):
        run("account", "create", "--workspace", "Acme", "--name", "K", "--file", str(path))
    path.write_text("{nope")
    with pytest.raises(CommandError, match="is not valid JSON"):
        run("account", "create", "--workspace", "Acme", "--name", "K", "--file", str(path))
    with pytest.raises(CommandError, match="No workspace"):
        run("account", "create", "--workspace", "Nope", "--name", "K", "--file", str(path))


def test_account_list_never_prints_a_secret(make_workspace, authority, tmp_path) -> None:
    make_workspace("Acme")
    for name, document in authority.every_type().items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        run("account", "create", "--workspace", "Acme", "--name", name, "--file", str(path))
    out, _ = run("account", "list", "--workspace", "Acme")
    listed, _ = run("account", "list", "--workspace", "Acme", "--json")
    rows = json.loads(listed)
    assert [row["name"] for row in rows] == sorted(authority.every_type())
    for text in (out, listed):
        for secret in (authority.client_secret, authority.password, authority.api_key):
            assert secret not in text
        assert "PRIVATE KEY" not in text


def test_account_test_prints_json_and_exits_1_when_it_fails(make_workspace, authority, tmp_path):
    make_workspace("Acme")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(authority.every_type()["jwt_token_endpoint"]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**authority.every_type()["jwt_token_endpoint"], "password": "no"}))
    run("account", "create", "--workspace", "Acme", "--name", "Good", "--file", str(good))
    run("account", "create", "--workspace", "Acme", "--name", "Bad", "--file", str(bad))

    out, _ = run(
        "account",
        "test",
        "--workspace",
        "Acme",
        "--name",
        "Good",
        "--url",
        authority.url("/api/me"),
    )
    result = json.loads(out)
    assert result["ok"] is True and "Got a token" in result["message"]
    assert authority.password not in out

    with pytest.raises(SystemExit) as exited:
        run("account", "test", "--workspace", "Acme", "--name", "Bad")
    assert exited.value.code == 1
    with pytest.raises(CommandError, match="no account named"):
        run("account", "test", "--workspace", "Acme", "--name", "Missing")


def test_secret_set_reads_the_value_from_stdin(make_workspace) -> None:
    workspace = make_workspace("Acme")
    out, _ = run("secret", "set", "--workspace", "Acme", "HUNTER_KEY", stdin="value-one\n")
    assert "Created secret HUNTER_KEY" in out and "value-one" not in out
    assert secret_value(workspace_id=workspace.pk, name="HUNTER_KEY") == "value-one"
    out, _ = run("secret", "set", "--workspace", "Acme", "HUNTER_KEY", stdin="value-two")
    assert "Replaced secret HUNTER_KEY" in out
    assert secret_value(workspace_id=workspace.pk, name="HUNTER_KEY") == "value-two"
    with pytest.raises(CommandError, match="not a valid secret name"):
        run("secret", "set", "--workspace", "Acme", "1BAD", stdin="v")
    with pytest.raises(CommandError, match="Give the secret a value"):
        run("secret", "set", "--workspace", "Acme", "EMPTY", stdin="\n")
