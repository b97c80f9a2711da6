from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path

from accounts import account_views, secret_views, views

urlpatterns = [
    path("login/", login_not_required(views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.sign_up, name="sign_up"),
    path("workspaces/", views.workspace_list, name="workspace_list"),
    path("workspaces/new/", views.workspace_create, name="workspace_create"),
    path("workspaces/<id:workspace_id>/switch/", views.workspace_switch, name="workspace_switch"),
    path("members/", views.member_list, name="member_list"),
    path("members/<id:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("members/<id:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "members/invitations/<id:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path(
        "invitations/<id:invitation_id>/accept/", views.invitation_accept, name="invitation_accept"
    ),
    path(
        "invitations/<id:invitation_id>/decline/",
        views.invitation_decline,
        name="invitation_decline",
    ),
    # Settings → Connections
    path("settings/connections/", account_views.account_list, name="account_list"),
    path("settings/connections/new/", account_views.account_create, name="account_create"),
    path(
        "settings/connections/<id:account_id>/",
        account_views.account_detail,
        name="account_detail",
    ),
    path(
        "settings/connections/<id:account_id>/test/",
        account_views.account_test_view,
        name="account_test",
    ),
    path(
        "settings/connections/<id:account_id>/key-pair/",
        account_views.account_key_pair,
        name="account_key_pair",
    ),
    path(
        "settings/connections/<id:account_id>/delete/",
        account_views.account_delete,
        name="account_delete",
    ),
    # Public by design: an API fetches the account's public keys from here.
    path(
        ".well-known/enrich/accounts/<uuid:public_id>/jwks.json",
        account_views.account_jwks,
        name="account_jwks",
    ),
    # Settings → Secrets
    path("settings/secrets/", secret_views.secret_list, name="secret_list"),
    path(
        "settings/secrets/<id:secret_id>/replace/",
        secret_views.secret_replace,
        name="secret_replace",
    ),
    path(
        "settings/secrets/<id:secret_id>/delete/",
        secret_views.secret_delete,
        name="secret_delete",
    ),
]
