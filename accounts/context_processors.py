"""Template context for the workspace switcher in the base layout."""

from __future__ import annotations

from typing import Any

from accounts.request_types import EnrichRequest
from accounts.workspaces import workspaces_for_user


def workspace(request: EnrichRequest) -> dict[str, Any]:
    current = getattr(request, "workspace", None)
    # The middleware sets a workspace for signed-in users only.
    if current is None or not request.user.is_authenticated:
        return {"workspace": None, "membership": None, "workspaces": ()}
    return {
        "workspace": current,
        "membership": request.membership,
        # Lazy: evaluated only by pages that render the switcher.
        "workspaces": workspaces_for_user(user=request.user),
    }
