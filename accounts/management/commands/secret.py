"""``manage.py secret set --workspace W NAME``: store a secret read from standard input."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.exceptions import AccountsError
from accounts.management.workspace_lookup import workspace_named
from accounts.workspace_secrets import secret_set


class Command(BaseCommand):
    help = "Set a workspace secret; the value comes from standard input, never the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        setter = actions.add_parser("set", help="create or replace a secret (value on stdin)")
        setter.add_argument("--workspace", required=True, help="Workspace id or name.")
        setter.add_argument("name", help="The secret's name, e.g. HUNTER_API_KEY.")

    def handle(self, *args: Any, action: str, workspace: str, name: str, **options: Any) -> None:
        target = workspace_named(workspace)
        # One trailing newline is how `echo` and here-strings end a value, not part of it.
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
        try:
            secret, created = secret_set(workspace=target, name=name, value=value, set_by=None)
        except AccountsError as error:
            raise CommandError(str(error)) from None
        verb = "Created" if created else "Replaced"
        self.stdout.write(f"{verb} secret {secret.name} in “{target.name}”.")
