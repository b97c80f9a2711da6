"""Forms of the accounts pages: they parse input and leave the work to services."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import NON_FIELD_ERRORS

from accounts import sign_in_throttle
from accounts.exceptions import SignInLocked, SignInUnavailable

User = get_user_model()


class ThrottledSignInForm(AuthenticationForm):
    """Django's sign-in form, refused while the username or the client is locked out.

    The lock-out is checked before the password, so the right password is refused too until
    it ends; see ``accounts.sign_in_throttle``.
    """

    def clean(self) -> dict[str, object]:
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()
        request = self.request
        assert request is not None  # the sign-in views pass it: the client is a throttling key
        try:
            sign_in_throttle.sign_in_check(request=request, username=username)
        except SignInLocked as locked:
            raise forms.ValidationError(str(locked), code="locked") from None
        except SignInUnavailable as unavailable:
            raise forms.ValidationError(str(unavailable), code="unavailable") from None
        try:
            cleaned = super().clean()
        except forms.ValidationError as refused:
            try:
                sign_in_throttle.sign_in_failed(request=request, username=username)
            except SignInUnavailable as unavailable:
                raise forms.ValidationError(str(unavailable), code="unavailable") from refused
            raise
        sign_in_throttle.sign_in_succeeded(request=request, username=username)
        return cleaned

    @property
    def status_code(self) -> int:
        """429 while locked out, 503 while the counters cannot be reached, else 200."""
        if self.has_error(NON_FIELD_ERRORS, code="locked"):
            return 429
        if self.has_error(NON_FIELD_ERRORS, code="unavailable"):
            return 503
        return 200


class ThrottledAdminSignInForm(ThrottledSignInForm, AdminAuthenticationForm):
    """The admin site's sign-in form (staff only), throttled like the app's."""


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; lets others invite you by email.")
    workspace_name = forms.CharField(
        max_length=100,
        initial="My workspace",
        help_text="You can create more workspaces and invite people later.",
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "").strip()
        if email and User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autofocus": True}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the workspace a name.")
        return name


class InviteForm(forms.Form):
    identifier = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="They see the invitation when they sign in, or when they sign up with this "
        "username or email, and choose to join.",
    )


class SecretForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Letters, digits and underscores, e.g. HUNTER_API_KEY. Templates read it as "
        "<code>{{ get_secret('HUNTER_API_KEY') }}</code>.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    value = forms.CharField(
        strip=False,
        help_text="Stored encrypted; never shown again, only its first character.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )


class SecretReplaceForm(forms.Form):
    value = forms.CharField(
        strip=False,
        label="New value",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
