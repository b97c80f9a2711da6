"""``manage.py createworkspace NAME --owner USER``: a workspace owned by an existing user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from accounts.workspaces import workspace_create


class Command(BaseCommand):
    help = "Create a workspace owned by an existing user (username or email)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The workspace's name.")
        parser.add_argument("--owner", required=True, help="Username or email of its owner.")

    def handle(self, *args: Any, name: str, owner: str, **options: Any) -> None:
        if not name.strip():
            raise CommandError("Give the workspace a name.")
        users = get_user_model().objects.filter(Q(username=owner) | Q(email__iexact=owner))
        user = users.first()
        if user is None:
            raise CommandError(f"No user with the username or email “{owner}”.")
        workspace = workspace_create(name=name, owner=user)
        self.stdout.write(
            f"Created workspace “{workspace.name}” (id {workspace.pk}) owned by "
            f"{user.get_username()}."
        )
