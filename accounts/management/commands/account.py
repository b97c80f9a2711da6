"""``manage.py account create|list|test``: connection accounts from a shell.

``create`` reads the same ``{"type": …, fields…}`` document as ``python -m connectors send``'s
``auth`` (secrets included) and stores the secrets encrypted; ``list`` never prints a secret;
``test`` prints the Test connection result as JSON and exits 1 when it failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.connection_accounts import account_create, account_named, accounts_for_list
from accounts.connections import account_test
from accounts.exceptions import AccountsError, InvalidAccountConfig
from accounts.management.workspace_lookup import workspace_named


class Command(BaseCommand):
    help = "Create, list and test a workspace's connection accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create an account from a JSON document")
        create.add_argument("--workspace", required=True, help="Workspace id or name.")
        create.add_argument("--name", required=True, help="The account's name.")
        create.add_argument(
            "--file",
            required=True,
            help='JSON file {"type": …, fields…} as in `connectors send`\'s auth; - for stdin.',
        )
        create.add_argument("--test-url", default="", help="Optional URL Test connection GETs.")
        listing = actions.add_parser("list", help="list accounts (never their secrets)")
        listing.add_argument("--workspace", required=True, help="Workspace id or name.")
        listing.add_argument("--json", action="store_true", help="print JSON")
        test = actions.add_parser("test", help="test an account; JSON result, exit 1 on failure")
        test.add_argument("--workspace", required=True, help="Workspace id or name.")
        test.add_argument("--name", required=True, help="The account's name (or id).")
        test.add_argument("--url", default="", help="GET this URL with the credentials too.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        try:
            if action == "create":
                self._create(workspace, options)
            elif action == "list":
                self._list(workspace, as_json=options["json"])
            else:
                self._test(workspace, options)
        except InvalidAccountConfig as error:
            lines = [
                f"auth.{field}: {message}" if field else message
                for field, messages in error.field_errors.items()
                for message in messages
            ]
            raise CommandError("\n".join(lines)) from None
        except AccountsError as error:
            raise CommandError(str(error)) from None

    def _create(self, workspace: Any, options: dict[str, Any]) -> None:
        document = _read_document(options["file"])
        auth_type = document.pop("type", None)
        if not isinstance(auth_type, str):
            raise CommandError('The document needs a "type", e.g. "api_key".')
        change = account_create(
            workspace=workspace,
            name=options["name"],
            auth_type=auth_type,
            fields=document,
            test_url=options["test_url"],
        )
        for warning in change.warnings:
            self.stderr.write(f"warning: {warning}")
        account = change.account
        self.stdout.write(
            f"Created account “{account.name}” (id {account.pk}, {account.auth_type}) in "
            f"“{workspace.name}”; secrets stored encrypted: "
            f"{', '.join(account.secret_fields_set) or 'none'}."
        )

    def _list(self, workspace: Any, *, as_json: bool) -> None:
        rows = [
            {
                "id": item.account.pk,
                "name": item.account.name,
                "type": item.account.auth_type,
                "secrets_set": item.account.secret_fields_set,
                "used_by": [str(use) for use in item.uses],
                "last_test": item.account.last_test_status,
                "last_tested_at": item.account.last_tested_at.isoformat()
                if item.account.last_tested_at
                else None,
            }
            for item in accounts_for_list(workspace=workspace)
        ]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write(f"No accounts in “{workspace.name}”.")
        for row in rows:
            secrets = ", ".join(row["secrets_set"]) or "none"
            self.stdout.write(
                f"{row['id']:>5}  {row['name']}  [{row['type']}]  secrets set: {secrets}  "
                f"used by {len(row['used_by'])} column(s)  last test: {row['last_test']}"
            )

    def _test(self, workspace: Any, options: dict[str, Any]) -> None:
        account = account_named(workspace=workspace, name=options["name"])
        result = account_test(account=account, test_url=options["url"])
        self.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        if not result.ok:
            sys.exit(1)


def _read_document(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CommandError(f"{path} is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise CommandError(f'{path} must hold a JSON object, {{"type": …, fields…}}.')
    return document
