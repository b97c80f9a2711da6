"""Finding the workspace and table a management command names, by id or by name."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.models import Workspace
from enrich.models import Table


def workspace_named(identifier: str) -> Workspace:
    """The workspace with this id or exact name; an ambiguous name is an error listing ids."""
    if identifier.isdigit() and (found := Workspace.objects.filter(pk=int(identifier)).first()):
        return found
    matches = list(Workspace.objects.filter(name=identifier).order_by("pk"))
    if not matches:
        raise CommandError(f"No workspace with the id or name “{identifier}”.")
    if len(matches) > 1:
        ids = ", ".join(str(workspace.pk) for workspace in matches)
        raise CommandError(f"Several workspaces are named “{identifier}” (ids {ids}); use an id.")
    return matches[0]


def table_named(workspace: Workspace, identifier: str) -> Table | None:
    """The workspace's table with this id or exact name, None when there is none."""
    tables = Table.objects.filter(workspace=workspace)
    if identifier.isdigit() and (found := tables.filter(pk=int(identifier)).first()):
        return found
    matches = list(tables.filter(name=identifier).order_by("pk"))
    if len(matches) > 1:
        ids = ", ".join(str(table.pk) for table in matches)
        raise CommandError(f"Several tables are named “{identifier}” (ids {ids}); use an id.")
    return matches[0] if matches else None
