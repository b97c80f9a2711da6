"""The requests Enrich's views receive, typed with what the middleware attaches.

Django's ``HttpRequest`` knows nothing of ``request.htmx`` (django-htmx), of
``request.membership``/``request.workspace`` (``CurrentWorkspaceMiddleware``), or that behind
``LoginRequiredMiddleware`` the user is signed in. A view annotates its request with the
narrowest of these classes, as django-htmx documents for ``request.htmx``; they are never
instantiated: Django's request is the same object at run time.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import Membership, Workspace


class EnrichRequest(HttpRequest):
    """Any request once the middleware ran; the workspace is None for a user without one
    (and for a visitor who is not signed in)."""

    htmx: HtmxDetails
    membership: Membership | None
    workspace: Workspace | None


class SignedInRequest(EnrichRequest):
    """A request to any view not marked ``login_not_required``."""

    user: User


class WorkspaceRequest(SignedInRequest):
    """A request to a view behind ``workspace_required``: the user works in ``workspace``."""

    membership: Membership
    workspace: Workspace
