"""Sign-up, workspaces and members. Views parse input and call ``accounts.workspaces``."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import invitations, workspaces
from accounts.decorators import workspace_required
from accounts.exceptions import AccountsError, InvitationNotFound
from accounts.forms import InviteForm, SignUpForm, ThrottledSignInForm, WorkspaceForm
from accounts.middleware import SESSION_KEY
from accounts.models import Invitation, Membership
from accounts.request_types import SignedInRequest, WorkspaceRequest


class LoginView(auth_views.LoginView):
    """Django's login, throttled, except that a server without users sends its first visitor
    to sign up."""

    redirect_authenticated_user = True
    form_class = ThrottledSignInForm

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if not get_user_model().objects.exists():
            return redirect("sign_up")
        return super().dispatch(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        assert isinstance(form, ThrottledSignInForm)  # this view's form_class
        response = super().form_invalid(form)
        response.status_code = form.status_code
        return response


@login_not_required
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create an account and its first workspace; the first visitor of a new server lands here."""
    if request.user.is_authenticated:
        return redirect("home")
    if not workspaces.sign_up_open():
        messages.info(request, "Sign-up is closed on this server. Ask an owner to invite you.")
        return redirect("login")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = workspaces.user_sign_up(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                workspace_name=form.cleaned_data["workspace_name"],
            )
        except AccountsError as error:
            form.add_error(None, str(error))
        else:
            user = workspace.memberships.get().user
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_KEY] = workspace.pk
            messages.success(request, f"Welcome to Enrich. “{workspace.name}” is ready.")
            return redirect("home")
    return render(request, "accounts/sign_up.html", {"form": form})


def workspace_list(request: SignedInRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("workspace")
        .order_by("workspace__name")
    )
    return render(
        request,
        "accounts/workspace_list.html",
        {"memberships": memberships, "invitations": invitations.invitations_for(user=request.user)},
    )


def workspace_create(request: SignedInRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspaces.workspace_create(name=form.cleaned_data["name"], owner=request.user)
        request.session[SESSION_KEY] = workspace.pk
        messages.success(request, f"Workspace “{workspace.name}” created; you are its owner.")
        return redirect("home")
    return render(
        request,
        "accounts/workspace_create.html",
        {"form": form, "invitations": invitations.invitations_for(user=request.user)},
    )


@require_POST
def workspace_switch(request: SignedInRequest, workspace_id: int) -> HttpResponse:
    membership = workspaces.workspace_open(user=request.user, workspace_id=workspace_id)
    if membership is None:
        raise Http404("No such workspace.")
    request.session[SESSION_KEY] = workspace_id
    messages.info(request, f"Switched to “{membership.workspace.name}”.")
    return redirect("home")


@workspace_required
def member_list(request: WorkspaceRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = invitations.invitation_create(
                workspace=request.workspace,
                invited_by=request.membership,
                identifier=form.cleaned_data["identifier"],
            )
        except AccountsError as error:
            form.add_error("identifier", str(error))
        else:
            # The same words whether or not such an account exists.
            messages.success(
                request,
                f"Invitation sent to {invitation.invited_as}. They see it when they sign in, "
                "or when they sign up with that username or email.",
            )
            return redirect("member_list")
    pending: Iterable[Invitation] = ()
    if request.membership.is_owner:
        pending = invitations.pending_invitations_of(workspace=request.workspace)
    return render(
        request,
        "accounts/member_list.html",
        {
            "form": form,
            "members": workspaces.members_of(workspace=request.workspace),
            "pending_invitations": pending,
        },
    )


@require_POST
def invitation_accept(request: SignedInRequest, invitation_id: int) -> HttpResponse:
    """Join the workspace of one of the user's own invitations, and open it."""
    try:
        membership = invitations.invitation_accept(invitation_id=invitation_id, user=request.user)
    except InvitationNotFound:
        raise Http404("No such invitation.") from None
    workspaces.workspace_open(user=request.user, workspace_id=membership.workspace_id)
    request.session[SESSION_KEY] = membership.workspace_id
    messages.success(request, f"You joined “{membership.workspace.name}”.")
    return redirect("home")


@require_POST
def invitation_decline(request: SignedInRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = invitations.invitation_decline(invitation_id=invitation_id, user=request.user)
    except InvitationNotFound:
        raise Http404("No such invitation.") from None
    messages.info(request, f"You declined the invitation to “{invitation.workspace.name}”.")
    return redirect("workspace_list")


@require_POST
@workspace_required
def invitation_revoke(request: WorkspaceRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = invitations.invitation_revoke(
            workspace=request.workspace, revoked_by=request.membership, invitation_id=invitation_id
        )
    except InvitationNotFound:
        raise Http404("No such invitation.") from None
    except AccountsError as error:
        messages.error(request, str(error))
        return redirect("member_list")
    messages.success(request, f"The invitation to {invitation.invited_as} was revoked.")
    return redirect("member_list")


@require_POST
@workspace_required
def member_remove(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, workspace=request.workspace)
    leaving = membership.pk == request.membership.pk
    try:
        workspaces.member_remove(
            workspace=request.workspace,
            removed_by=request.membership,
            membership_id=membership.pk,
        )
    except AccountsError as error:
        messages.error(request, str(error))
        return redirect("member_list")
    if leaving:
        request.session.pop(SESSION_KEY, None)
        messages.info(request, f"You left “{request.workspace.name}”.")
        return redirect("home")
    messages.success(request, f"{membership.user.get_username()} was removed.")
    return redirect("member_list")


@require_POST
@workspace_required
def member_role(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, workspace=request.workspace)
    role = request.POST.get("role", "")
    if role not in Membership.Role.values:
        messages.error(request, "Choose owner or member.")
        return redirect("member_list")
    try:
        workspaces.member_set_role(
            workspace=request.workspace,
            changed_by=request.membership,
            membership_id=membership.pk,
            role=role,
        )
    except AccountsError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is now {Membership.Role(role).label}."
        )
    return redirect("member_list")
