"""The account form: exactly the chosen auth type's fields, generated from its pydantic model.

The form only parses what the browser sends (JSON text, lists) into an auth document; the
model validates it in ``connection_accounts`` and its messages come back next to each field.
Secret fields are write-only: their widget never renders a value, not even the one just typed
into a form that failed validation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.forms.boundfield import BoundField
from django.forms.utils import ErrorList
from django.template.loader import render_to_string
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from accounts.account_fields import FieldKind, FieldSpec, field_specs
from accounts.exceptions import InvalidAccountConfig
from accounts.key_pairs import KEY_PAIR_ALGORITHMS
from accounts.models import Account
from connectors import auth_types

_RESERVED = frozenset({"name", "test_url", "type", "generate_key"})
CLEAR_SUFFIX = "__clear"


class SecretWidget(forms.Widget):
    """A write-only input: “set” with a Replace control when a value exists, and never a value
    in the HTML (Replace opens an empty input; leaving it empty keeps the stored value)."""

    def __init__(self, inner: forms.Widget, *, is_set: bool, clearable: bool) -> None:
        super().__init__()
        self.inner = inner
        self.is_set = is_set
        self.clearable = clearable

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        # ``value`` is ignored on purpose: it may be the secret the user just typed.
        inner = self.inner.render(name, None, attrs, renderer)
        return mark_safe(  # noqa: S308 - rendered by a template that escapes its variables
            render_to_string(
                "accounts/_secret_widget.html",
                {
                    "input": inner,
                    "is_set": self.is_set,
                    "clearable": self.clearable,
                    "clear_name": name + CLEAR_SUFFIX,
                },
            )
        )

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return self.inner.value_from_datadict(data, files, name)

    def id_for_label(self, id_: str) -> str:
        return self.inner.id_for_label(id_)


class _NoValueTextarea(forms.Textarea):
    def format_value(self, value: Any) -> None:
        return None


@dataclass
class FieldGroup:
    """Some of a form's fields, shaped like a form for ``_form.html``."""

    fields: list[BoundField]
    errors: ErrorList = field(default_factory=ErrorList)

    def visible_fields(self) -> list[BoundField]:
        return self.fields

    def hidden_fields(self) -> list[BoundField]:
        return []

    def non_field_errors(self) -> ErrorList:
        return self.errors

    @property
    def has_errors(self) -> bool:
        return any(bound.errors for bound in self.fields)


def _help(spec: FieldSpec) -> SafeString:
    text = conditional_escape(spec.help_text)
    if spec.example and spec.kind != FieldKind.LONG_TEXT and spec.example not in spec.help_text:
        return format_html("{} e.g. <code>{}</code>", text, spec.example)
    return SafeString(text)


def _form_field(spec: FieldSpec, *, is_set: bool, editing: bool) -> forms.Field:
    attrs: dict[str, Any] = {}
    if spec.example and not spec.secret:
        attrs["placeholder"] = spec.example
    if spec.required and not spec.secret:
        attrs["required"] = True
    if spec.kind == FieldKind.CHOICE:
        choices = [(choice, choice) for choice in spec.choices]
        return forms.ChoiceField(
            label=spec.label, choices=choices, required=False, help_text=_help(spec)
        )
    if spec.kind == FieldKind.BOOLEAN:
        return forms.BooleanField(label=spec.label, required=False, help_text=_help(spec))
    widget: forms.Widget
    if spec.kind in (FieldKind.JSON, FieldKind.LONG_TEXT):
        attrs.update(rows=8 if spec.kind == FieldKind.LONG_TEXT else 4, spellcheck="false")
        attrs["class"] = "input--mono"
        widget = _NoValueTextarea(attrs) if spec.secret else forms.Textarea(attrs)
    elif spec.secret:
        widget = forms.PasswordInput(attrs={**attrs, "autocomplete": "new-password"})
    elif spec.kind == FieldKind.URL:
        widget = forms.URLInput(attrs)
    elif spec.kind == FieldKind.NUMBER:
        widget = forms.NumberInput(attrs)
    else:
        widget = forms.TextInput(attrs)
    if spec.secret and editing:
        widget = SecretWidget(widget, is_set=is_set, clearable=is_set and not spec.required)
    return forms.CharField(
        label=spec.label, required=False, strip=True, widget=widget, help_text=_help(spec)
    )


class AccountForm(forms.Form):
    """Name, the type's own fields (advanced ones grouped) and an optional test URL."""

    name = forms.CharField(
        max_length=100,
        help_text="How columns refer to this account, e.g. “Hunter (production)”.",
        widget=forms.TextInput(attrs={"autofocus": True, "required": True}),
    )

    def __init__(self, data: Any = None, *, auth_type: str, account: Account | None = None) -> None:
        super().__init__(data)
        self.auth_type = auth_type
        self.account = account
        self.specs = field_specs(auth_type)
        key_pairs = auth_types.get(auth_type).capabilities.signs_with_key_pair
        secrets_set = set(account.secret_fields_set) if account else set()
        config = account.config if account else {}
        if account is not None:
            self.fields["name"].initial = account.name
        for spec in self.specs:
            assert spec.key not in _RESERVED, f"auth field {spec.key!r} clashes with the form"
            if spec.key == "private_key" and account is None and key_pairs:
                self.fields["generate_key"] = forms.ChoiceField(
                    label="Signing key",
                    required=False,
                    choices=[("", "Paste my own private key below")]
                    + [
                        (algorithm, f"Generate a {kind} key pair ({algorithm})")
                        for algorithm, kind in KEY_PAIR_ALGORITHMS.items()
                    ],
                    help_text="Enrich can make the key pair: the private key is stored "
                    "encrypted, and the public key is served at this account's JWKS URL.",
                )
            self.fields[spec.key] = _form_field(
                spec, is_set=spec.key in secrets_set, editing=account is not None
            )
            if not spec.secret:
                self.fields[spec.key].initial = spec.display(config.get(spec.key, spec.default))
        self.fields["test_url"] = forms.CharField(
            label="Test URL",
            required=False,
            initial=account.test_url if account else "",
            help_text="Optional: an API URL that “Test connection” calls (GET) with these "
            "credentials, e.g. <code>https://api.example.com/v1/me</code>.",
            widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/v1/me"}),
        )

    # -- reading the input -----------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        document: dict[str, Any] = {}
        for spec in self.specs:
            raw = cleaned.get(spec.key)
            if spec.secret and not raw:
                continue  # blank keeps the stored value (and is "missing" for a new account)
            try:
                document[spec.key] = _parsed(spec, raw)
            except ValueError as exc:
                self.add_error(spec.key, str(exc))
        self.document = document
        self.cleared = [
            spec.key
            for spec in self.specs
            if spec.secret and self.data.get(spec.key + CLEAR_SUFFIX) and not cleaned.get(spec.key)
        ]
        return cleaned

    def show_errors(self, error: InvalidAccountConfig) -> None:
        """Put the schema's messages next to their fields."""
        for key, messages in error.field_errors.items():
            for message in messages:
                if key in self.fields:
                    self.add_error(key, message)
                else:
                    self.add_error(None, f"{key}: {message}" if key else message)

    # -- groups for the template -----------------------------------------------------------

    @property
    def main_group(self) -> FieldGroup:
        advanced = {spec.key for spec in self.specs if spec.advanced}
        return FieldGroup(
            [self[name] for name in self.fields if name not in advanced],
            self.non_field_errors(),
        )

    @property
    def advanced_group(self) -> FieldGroup:
        return FieldGroup([self[spec.key] for spec in self.specs if spec.advanced])

    @property
    def secrets_were_typed(self) -> bool:
        """Whether a failed submission held secret values the user must paste again."""
        return self.is_bound and any(spec.secret and self.data.get(spec.key) for spec in self.specs)


def _parsed(spec: FieldSpec, raw: Any) -> Any:
    """A form value as the auth document holds it; ValueError with a message if it can't be."""
    if spec.kind == FieldKind.JSON:
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    if spec.kind == FieldKind.LIST:
        return [item.strip() for item in re.split(r"[,\n]", raw or "") if item.strip()]
    if spec.kind == FieldKind.NUMBER:
        return raw if raw not in ("", None) else None
    if spec.kind == FieldKind.BOOLEAN:
        return bool(raw)
    return raw if raw is not None else ""


class KeyPairForm(forms.Form):
    algorithm = forms.ChoiceField(
        label="Key type",
        choices=[(alg, f"{kind} ({alg})") for alg, kind in KEY_PAIR_ALGORITHMS.items()],
    )


@dataclass(frozen=True)
class SummaryRow:
    """A field of an account as the read-only view shows it."""

    label: str
    value: str
    secret: bool
    is_set: bool


def account_summary(account: Account) -> list[SummaryRow]:
    """Every field of the account for members: values of plain fields, set/not set for secrets."""
    rows = []
    for spec in field_specs(account.auth_type):
        if spec.secret:
            rows.append(SummaryRow(spec.label, "", True, spec.key in account.secret_fields_set))
        else:
            value = spec.display(account.config.get(spec.key, spec.default))
            rows.append(SummaryRow(spec.label, value, False, bool(value)))
    return rows
