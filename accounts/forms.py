"""Forms of the accounts pages: they parse input and leave the work to services."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

User = get_user_model()


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
        help_text="The person must already have an account on this server.",
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
