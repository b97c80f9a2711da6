"""Attach the current workspace to every request of a signed-in user."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.request_types import EnrichRequest
from accounts.workspaces import membership_for

SESSION_KEY = "workspace_id"


class CurrentWorkspaceMiddleware:
    """Sets ``request.membership`` and ``request.workspace`` (None when the user has none).

    The choice lives in the session; a stale or foreign id falls back to the user's first
    workspace, so a removed membership can never keep granting access.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: EnrichRequest) -> HttpResponse:
        request.membership = None
        request.workspace = None
        if request.user.is_authenticated:
            membership = membership_for(
                user=request.user, workspace_id=request.session.get(SESSION_KEY)
            )
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
                if request.session.get(SESSION_KEY) != membership.workspace_id:
                    request.session[SESSION_KEY] = membership.workspace_id
        return self.get_response(request)
