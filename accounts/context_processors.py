"""Template context for the workspace switcher and the invitations in the base layout."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.invitations import invitations_for
from accounts.workspaces import workspaces_for_user


def workspace(request: HttpRequest) -> dict[str, Any]:
    # Lazy: evaluated once, by the pages that show the invitations (the top bar does).
    invitations = invitations_for(user=request.user) if request.user.is_authenticated else ()
    current = getattr(request, "workspace", None)
    if current is None:
        return {
            "workspace": None,
            "membership": None,
            "workspaces": (),
            "invitations": invitations,
        }
    return {
        "workspace": current,
        "membership": request.membership,  # type: ignore[attr-defined]
        # Lazy: evaluated only by pages that render the switcher.
        "workspaces": workspaces_for_user(user=request.user),
        "invitations": invitations,
    }
