"""Settings → Secrets: list (masked), add, replace, delete. Views call ``workspace_secrets``.

Each change answers the ``secret-list`` region for htmx and redirects otherwise.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import workspace_secrets
from accounts.decorators import owner_required, workspace_required
from accounts.exceptions import (
    AccountsError,
    InvalidSecretName,
    NotOwner,
    SecretNameTaken,
    SecretValueMissing,
)
from accounts.forms import SecretForm, SecretReplaceForm
from accounts.models import Secret
from accounts.request_types import WorkspaceRequest

TEMPLATE = "accounts/secret_list.html"


def secret_for_request(request: WorkspaceRequest, secret_id: int) -> Secret:
    """The current workspace's secret ``secret_id``; another workspace's is a 404."""
    return get_object_or_404(Secret, pk=secret_id, workspace=request.workspace)


def _render_list(request: WorkspaceRequest, form: SecretForm | None = None) -> HttpResponse:
    template = TEMPLATE + ("#secret-list" if request.htmx else "")
    context = {
        "secrets": workspace_secrets.secrets_for_list(workspace=request.workspace),
        "form": form or SecretForm(),
    }
    return render(request, template, context)


def _after_change(request: WorkspaceRequest) -> HttpResponse:
    if request.htmx:
        return _render_list(request)
    return redirect("secret_list")


@workspace_required
@vary_on_headers("HX-Request")
def secret_list(request: WorkspaceRequest) -> HttpResponse:
    """The secrets, and (owners) the form that adds one."""
    form = SecretForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.is_owner:
            return HttpResponseForbidden(str(NotOwner()))
        if form.is_valid():
            try:
                secret = workspace_secrets.secret_create(
                    workspace=request.workspace,
                    name=form.cleaned_data["name"],
                    value=form.cleaned_data["value"],
                    created_by=request.user,
                )
            except (InvalidSecretName, SecretNameTaken) as error:
                form.add_error("name", str(error))
            except SecretValueMissing as error:
                form.add_error("value", str(error))
            else:
                messages.success(request, f"Secret {secret.name} saved.")
                return _after_change(request)
    return _render_list(request, form)


@require_POST
@workspace_required
@owner_required
def secret_replace(request: WorkspaceRequest, secret_id: int) -> HttpResponse:
    secret = secret_for_request(request, secret_id)
    form = SecretReplaceForm(request.POST)
    if form.is_valid():
        try:
            workspace_secrets.secret_replace(
                secret=secret, value=form.cleaned_data["value"], updated_by=request.user
            )
        except AccountsError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Secret {secret.name} replaced.")
    else:
        messages.error(request, f"Give {secret.name} a new value.")
    return _after_change(request)


@require_POST
@workspace_required
@owner_required
def secret_delete(request: WorkspaceRequest, secret_id: int) -> HttpResponse:
    secret = secret_for_request(request, secret_id)
    workspace_secrets.secret_delete(secret=secret)
    messages.success(request, f"Secret {secret.name} deleted.")
    return _after_change(request)
