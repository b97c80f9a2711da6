"""View decorators for workspace-scoped pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import HttpResponseBase, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from accounts.exceptions import NotOwner
from accounts.request_types import EnrichRequest


def workspace_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Send a signed-in user without any workspace to create one first."""

    @wraps(view)
    def wrapper(request: EnrichRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request, "workspace", None) is None:
            if request.htmx:
                return HttpResponseClientRedirect(reverse("workspace_create"))
            return redirect("workspace_create")
        return view(request, *args, **kwargs)

    return wrapper


def owner_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Let only workspace owners through (after ``workspace_required``).

    A member who opens an owner's page lands one level up (the list or the read-only view)
    with the reason; anything else
    (a form post, an htmx call) is refused with 403. Other workspaces' objects are still 404:
    the view looks them up in the current workspace only.
    """

    @wraps(view)
    def wrapper(request: EnrichRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        membership = getattr(request, "membership", None)
        if membership is None or not membership.is_owner:
            message = str(NotOwner())
            if request.method == "GET" and not request.htmx:
                messages.error(request, message)
                return redirect(request.path.rstrip("/").rsplit("/", 1)[0] + "/")
            return HttpResponseForbidden(message)
        return view(request, *args, **kwargs)

    return wrapper
