"""Finding the workspace a management command names, by id or by name."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.models import Workspace
from accounts.object_ids import parse_id


def workspace_named(identifier: str) -> Workspace:
    """The workspace with this id or exact name; an ambiguous name is an error listing ids."""
    workspace_id = parse_id(identifier)
    if workspace_id and (found := Workspace.objects.filter(pk=workspace_id).first()):
        return found
    matches = list(Workspace.objects.filter(name=identifier).order_by("pk"))
    if not matches:
        raise CommandError(f"No workspace with the id or name “{identifier}”.")
    if len(matches) > 1:
        ids = ", ".join(str(workspace.pk) for workspace in matches)
        raise CommandError(f"Several workspaces are named “{identifier}” (ids {ids}); use an id.")
    return matches[0]
