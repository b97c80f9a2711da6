"""Template context for the workspace switcher in the base layout."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.workspaces import workspaces_for_user


def workspace(request: HttpRequest) -> dict[str, Any]:
    current = getattr(request, "workspace", None)
    if current is None:
        return {"workspace": None, "membership": None, "workspaces": ()}
    return {
        "workspace": current,
        "membership": request.membership,  # type: ignore[attr-defined]
        # Lazy: evaluated only by pages that render the switcher.
        "workspaces": workspaces_for_user(user=request.user),
    }
