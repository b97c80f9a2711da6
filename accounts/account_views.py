"""Settings → Connections: list, add, edit, test, key pairs, delete, and the public JWKS.

Views parse input and call ``accounts.connection_accounts`` / ``accounts.connections``.
Members see everything read-only and may run "Test connection" with the saved test URL;
owners change things.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts import connection_accounts
from accounts.account_forms import AccountForm, KeyPairForm, account_summary
from accounts.connections import account_test
from accounts.decorators import owner_required, workspace_required
from accounts.exceptions import AccountsError, InvalidAccountConfig, NotOwner
from accounts.key_pairs import public_pem
from accounts.models import Account, AuthType
from accounts.request_types import WorkspaceRequest
from connectors import auth_types

FORM_TEMPLATE = "accounts/account_form.html"


def account_for_request(request: WorkspaceRequest, account_id: int) -> Account:
    """The current workspace's account ``account_id``; another workspace's is a 404."""
    return get_object_or_404(
        Account.objects.select_related("workspace", "updated_by"),
        pk=account_id,
        workspace=request.workspace,
    )


def _is_owner(request: WorkspaceRequest) -> bool:
    return bool(request.membership.is_owner)


@workspace_required
@vary_on_headers("HX-Request")
def account_list(request: WorkspaceRequest) -> HttpResponse:
    items = connection_accounts.accounts_for_list(workspace=request.workspace)
    return render(request, "accounts/account_list.html", {"items": items})


@workspace_required
@owner_required
@vary_on_headers("HX-Request")
def account_create(request: WorkspaceRequest) -> HttpResponse:
    """Pick a type, then fill in exactly that type's fields."""
    auth_type = request.POST.get("type") or request.GET.get("type", "")
    if auth_type not in AuthType.values:
        types = [
            {"value": found.type_name, "label": found.label, "description": found.description}
            for found in auth_types.types()
        ]
        template = FORM_TEMPLATE + ("#type-picker" if request.htmx else "")
        return render(request, template, {"types": types, "account": None})
    form = AccountForm(request.POST or None, auth_type=auth_type)
    if request.method == "POST" and form.is_valid():
        try:
            change = connection_accounts.account_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                auth_type=auth_type,
                fields=form.document,
                created_by=request.user,
                test_url=form.cleaned_data["test_url"],
                generate_key=form.cleaned_data.get("generate_key") or "",
            )
        except InvalidAccountConfig as error:
            form.show_errors(error)
        except AccountsError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Account “{change.account.name}” saved.")
            for warning in change.warnings:
                messages.warning(request, warning)
            return redirect("account_detail", account_id=change.account.pk)
    template = FORM_TEMPLATE + ("#account-form" if request.htmx else "")
    return render(request, template, _form_context(auth_type=auth_type, form=form))


def _form_context(
    *, auth_type: str, form: AccountForm, account: Account | None = None
) -> dict[str, Any]:
    auth_class = auth_types.get(auth_type)
    return {
        "form": form,
        "account": account,
        "auth_type": auth_type,
        "type_label": auth_class.label,
        "type_description": auth_class.description,
        "capabilities": auth_class.capabilities,
        "exercise_label": auth_class.exercise_label,
    }


@workspace_required
@vary_on_headers("HX-Request")
def account_detail(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Owners edit the account here; members see it read-only. Both can test it."""
    account = account_for_request(request, account_id)
    owner = _is_owner(request)
    if request.method == "POST" and not owner:
        return HttpResponseForbidden(str(NotOwner()))
    form = AccountForm(request.POST or None, auth_type=account.auth_type, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            change = connection_accounts.account_update(
                account=account,
                name=form.cleaned_data["name"],
                fields=form.document,
                clear=form.cleared,
                test_url=form.cleaned_data["test_url"],
                updated_by=request.user,
            )
        except AccountsError as error:
            if isinstance(error, InvalidAccountConfig):
                form.show_errors(error)
            else:
                form.add_error(None, str(error))
        else:
            messages.success(request, f"Account “{change.account.name}” saved.")
            for warning in change.warnings:
                messages.warning(request, warning)
            return redirect("account_detail", account_id=account.pk)
    if form.errors:
        # The failed values are not saved: show the stored account around the form.
        account.refresh_from_db()
    context = _form_context(auth_type=account.auth_type, form=form, account=account)
    context.update(_detail_context(request, account))
    return render(request, FORM_TEMPLATE, context)


def _detail_context(request: WorkspaceRequest, account: Account) -> dict[str, Any]:
    jwk = account.public_jwk
    return {
        "summary": account_summary(account),
        "uses": connection_accounts.account_column_uses(account=account),
        "signing": connection_accounts.signs_with_key_pair(account.auth_type),
        "jwks_url": request.build_absolute_uri(
            reverse("account_jwks", kwargs={"public_id": account.public_id})
        ),
        "public_jwk": jwk,
        "public_pem": public_pem(jwk) if jwk else "",
        "key_pair_form": KeyPairForm(),
    }


@require_POST
@workspace_required
def account_test_view(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Run "Test connection"; answers the result panel (or the list row) for htmx."""
    account = account_for_request(request, account_id)
    # Only owners may aim the credentials at a URL of their choice; members use the saved one.
    test_url = request.POST.get("test_url", "") if _is_owner(request) else ""
    result = account_test(account=account, test_url=test_url)
    if not request.htmx:
        (messages.success if result.ok else messages.error)(request, result.message)
        return redirect("account_detail", account_id=account.pk)
    if request.POST.get("view") == "row":
        uses = connection_accounts.account_column_uses(account=account)
        item = connection_accounts.AccountListItem(account, uses)
        return render(request, "accounts/account_list.html#account-row", {"item": item})
    return render(request, FORM_TEMPLATE + "#test-result", {"result": result, "account": account})


@require_POST
@workspace_required
@owner_required
def account_key_pair(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Generate a new signing key pair for a signed-JWT account."""
    account = account_for_request(request, account_id)
    form = KeyPairForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a key type: RSA 2048, EC P-256 or Ed25519.")
    else:
        try:
            change = connection_accounts.account_generate_key_pair(
                account=account, algorithm=form.cleaned_data["algorithm"], updated_by=request.user
            )
        except AccountsError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                f"New {form.cleaned_data['algorithm']} key pair generated. Give the API the "
                "JWKS URL or the public key below.",
            )
            for warning in change.warnings:
                messages.warning(request, warning)
    url = reverse("account_detail", args=[account.pk])
    if request.htmx:
        # The whole page changes (algorithm, kid, public key): reload it.
        return HttpResponseClientRedirect(url)
    return redirect(url)


@workspace_required
@owner_required
def account_delete(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Confirm, then delete; refused while columns use the account."""
    account = account_for_request(request, account_id)
    uses = connection_accounts.account_column_uses(account=account)
    error = ""
    if request.method == "POST":
        try:
            connection_accounts.account_delete(account=account)
        except AccountsError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Account “{account.name}” deleted.")
            return redirect("account_list")
    return render(
        request, "accounts/account_delete.html", {"account": account, "uses": uses, "error": error}
    )


@login_not_required
@require_GET
@cache_control(public=True, max_age=300)
def account_jwks(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The account's public signing keys (RFC 7517 JWK Set) for the APIs that verify its JWTs.

    Public by design, addressed by a random id; it serves the public half only and never
    decrypts anything.
    """
    found = Account.objects.filter(public_id=public_id).values_list("public_jwk", flat=True)
    jwk = found.first()
    if not jwk:
        raise Http404("No public keys here.")
    response = JsonResponse({"keys": [jwk]}, content_type="application/jwk-set+json")
    response["Access-Control-Allow-Origin"] = "*"
    return response
