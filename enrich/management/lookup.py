"""Finding the workspace and table a management command names, by id or by name."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.management.workspace_lookup import workspace_named
from accounts.models import Workspace
from accounts.object_ids import parse_id
from enrich.models import Table

__all__ = ["table_named", "workspace_named"]


def table_named(workspace: Workspace, identifier: str) -> Table | None:
    """The workspace's table with this id or exact name, None when there is none."""
    tables = Table.objects.filter(workspace=workspace)
    if (table_id := parse_id(identifier)) and (found := tables.filter(pk=table_id).first()):
        return found
    matches = list(tables.filter(name=identifier).order_by("pk"))
    if len(matches) > 1:
        ids = ", ".join(str(table.pk) for table in matches)
        raise CommandError(f"Several tables are named “{identifier}” (ids {ids}); use an id.")
    return matches[0] if matches else None
