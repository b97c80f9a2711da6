"""The "HTTP API" enrichment panel: a form that builds an ``EnrichmentSpec``.

It only parses what was typed into the shape of ``connectors.RequestConfig``; every rule is
checked once, by that schema and ``enrich.enrichment.columns.enrichment_check``, whose
messages come back next to the fields here.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.formsets import DELETION_FIELD_NAME

from accounts.models import Account
from accounts.object_ids import ObjectChoiceField
from connectors import Method, RequestConfig, RetryConfig
from enrich.enrichment.columns import (
    EnrichmentProblems,
    EnrichmentSpec,
    account_token_settings,
)
from enrich.enrichment.kinds.http_api import TOKEN_FIELDS, column_token_fields
from enrich.enrichment.models import EnrichmentColumn

PAIRS_HELP = "One per line as <code>name: value</code>; values may use {{ row.key }}."
REQUEST_DEFAULTS = RequestConfig(endpoint="https://example.invalid/")
RETRY_DEFAULTS = RetryConfig()
# Where a problem reported by the schema is shown: request field → form field.
FIELD_FOR = {
    "method": "method",
    "endpoint": "endpoint",
    "query": "query",
    "headers": "headers",
    "body": "body",
    "field_paths": "field_paths",
    "timeout_s": "timeout_s",
    "retry": "retry_attempts",
    "rate_limit": "rate_limit_requests",
    "max_redirects": "max_redirects",
    "request": "endpoint",
    "account": "account",
    "only_run_if": "only_run_if",
    "token_location": "token_location",
    "token_type": "token_type",
    "auth_header_name": "auth_header_name",
}


def _pairs(text: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise forms.ValidationError(
                f"Line {number}: write each {what} as “name: value”.", code="pairs"
            )
        pairs[name.strip()] = value.strip()
    return pairs


def _pairs_text(pairs: dict[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in pairs.items())


class RequestFieldsMixin:
    """Parse the request fields a form shows (query and header lines, a JSON body)."""

    cleaned_data: dict[str, Any]

    def clean_query(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["query"], "query parameter")

    def clean_headers(self) -> dict[str, str]:
        return _pairs(self.cleaned_data["headers"], "header")

    def clean_body(self) -> Any:
        text = self.cleaned_data["body"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                'Put templates inside strings: "{{ row.email }}".'
            ) from None
        except ValueError:  # e.g. a number of more digits than Python converts
            raise forms.ValidationError(
                "Not valid JSON: a number in it is too long to read."
            ) from None


def request_from(data: dict[str, Any], *, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request config from a form's cleaned fields. Settings the form does not show
    (backoff, retried statuses…) are kept from ``base``, the current request."""
    kept = dict(base or {})
    request: dict[str, Any] = {
        "method": data["method"],
        "endpoint": data["endpoint"].strip(),
        "query": data["query"],
        "headers": data["headers"],
        "remove_nulls": data.get("remove_nulls", False),
        "field_paths": data["field_paths"].strip(),
        "timeout_s": data["timeout_s"],
        "retry": {**kept.get("retry", {}), "attempts": data["retry_attempts"]},
        "follow_redirects": data.get("follow_redirects", True),
        "max_redirects": data.get("max_redirects", REQUEST_DEFAULTS.max_redirects),
    }
    if data["body"] is not None:
        request["body"] = data["body"]
    if data.get("rate_limit_requests"):
        request["rate_limit"] = {
            **(kept.get("rate_limit") or {}),
            "requests": data["rate_limit_requests"],
            "per_ms": data.get("rate_limit_per_ms") or 1000,
        }
    for name in ("max_response_bytes",):
        if name in kept:
            request[name] = kept[name]
    return request


def request_initial(request: dict[str, Any]) -> dict[str, Any]:
    """A form's initial request fields for a saved request config."""
    config = RequestConfig.model_validate(request)
    return {
        "method": config.method.value,
        "endpoint": config.endpoint,
        "query": _pairs_text(config.query),
        "headers": _pairs_text(config.headers),
        "body": json.dumps(config.body, indent=2, ensure_ascii=False) if config.body else "",
        "remove_nulls": config.remove_nulls,
        "field_paths": config.field_paths,
        "timeout_s": config.timeout_s,
        "retry_attempts": config.retry.attempts,
        "rate_limit_requests": config.rate_limit.requests if config.rate_limit else None,
        "rate_limit_per_ms": config.rate_limit.per_ms if config.rate_limit else 1000,
        "follow_redirects": config.follow_redirects,
        "max_redirects": config.max_redirects,
    }


class EnrichmentForm(RequestFieldsMixin, forms.Form):
    label = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"placeholder": "Company profile"})
    )
    account = ObjectChoiceField(
        queryset=Account.objects.none(),
        required=False,
        empty_label="No account (open API)",
        help_text="Credentials are added on the server, just before each request.",
    )
    override_token_settings = forms.BooleanField(
        required=False,
        label="Use other token settings than the account's",
        help_text="Off: the account's token location, type and header apply, and editing the "
        "account changes this column too. On: the column keeps only the settings you change; "
        "the others still follow the account.",
    )
    token_location = forms.CharField(
        required=False,
        help_text="Dot path to the JWT in the token endpoint's answer, e.g. data.access_token.",
    )
    token_type = forms.CharField(
        required=False, help_text="Prefix before the JWT, e.g. Bearer; empty for none."
    )
    auth_header_name = forms.CharField(required=False, help_text="Header for the JWT.")
    method = forms.ChoiceField(choices=[(m.value, m.value) for m in Method], initial="GET")
    endpoint = forms.CharField(
        max_length=4000,
        widget=forms.TextInput(
            attrs={"placeholder": "https://api.example.com/people?email={{ row.email }}"}
        ),
        help_text="The URL; any part may use {{ row.key }} or {{ get_secret('name') }}.",
    )
    query = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=PAIRS_HELP
    )
    headers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=PAIRS_HELP
    )
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='A JSON object or array; strings are templates: {"email": "{{ row.email }}"}. '
        "A string that is exactly one {{ … }} keeps its type (number, list…).",
    )
    remove_nulls = forms.BooleanField(
        required=False, label="Remove null and undefined values from the body"
    )
    field_paths = forms.CharField(
        required=False,
        help_text="Comma-separated dot paths to keep from the answer, e.g. data.person.name, "
        "items.0.id. Empty keeps the whole answer.",
    )
    timeout_s = forms.FloatField(
        initial=REQUEST_DEFAULTS.timeout_s, min_value=0.1, label="Timeout (seconds)"
    )
    retry_attempts = forms.IntegerField(
        initial=RETRY_DEFAULTS.attempts,
        min_value=1,
        max_value=10,
        label="Attempts",
        help_text="Tries in all; 429, 5xx and connection errors are retried with backoff.",
    )
    rate_limit_requests = forms.IntegerField(
        required=False, min_value=1, label="Rate limit: requests", help_text="Empty: no limit."
    )
    rate_limit_per_ms = forms.IntegerField(
        required=False, min_value=1, initial=1000, label="per milliseconds",
        help_text="Shared by every worker.",
    )  # fmt: skip
    follow_redirects = forms.BooleanField(required=False, initial=True)
    max_redirects = forms.IntegerField(
        initial=REQUEST_DEFAULTS.max_redirects, min_value=0, max_value=20
    )
    only_run_if = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"placeholder": 'row.email and row.country == "US"'}),
        help_text="A condition over the row; rows where it is false are skipped. Empty: every row.",
    )
    auto_update = forms.BooleanField(
        required=False, help_text="Re-run a row when a cell this column reads changes."
    )

    def __init__(self, *args: Any, workspace: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = Account.objects.filter(workspace=workspace).order_by("name")
        account_field = self.fields["account"]
        assert isinstance(account_field, ObjectChoiceField)
        account_field.queryset = accounts
        #: What a column inherits from each account whose type lets a column set its token
        #: settings (shown, not secret); the panel shows those fields for these accounts only.
        self.account_token_settings = {
            str(account.pk): account_token_settings(account)
            for account in accounts
            if column_token_fields(account) is not None
        }
        self.fields["override_token_settings"].widget.attrs["data-account-token-settings"] = (
            json.dumps(self.account_token_settings)
        )

    @classmethod
    def initial_for(cls, enrichment: EnrichmentColumn) -> dict[str, Any]:
        """The form's values for an existing column."""
        account = enrichment.account
        inherited = (
            account_token_settings(account)
            if account is not None and column_token_fields(account) is not None
            else {}
        )
        return {
            "label": enrichment.column.label,
            "account": enrichment.account_id,
            "override_token_settings": bool(enrichment.token_fields),
            **inherited,
            **enrichment.token_fields,
            **request_initial(enrichment.request),
            "only_run_if": enrichment.only_run_if,
            "auto_update": enrichment.auto_update,
        }

    def spec(self, *, base: dict[str, Any] | None = None) -> EnrichmentSpec:
        """The cleaned form as a spec (call after ``is_valid()``). Settings the form does not
        show (backoff, retried statuses…) are kept from ``base``, the column's current request."""
        data = self.cleaned_data
        request = request_from(data, base=base)
        return EnrichmentSpec(
            request=request,
            account=data["account"],
            token_fields=self._overridden_token_fields(data),
            only_run_if=data["only_run_if"],
            auto_update=data["auto_update"],
        )

    @staticmethod
    def _overridden_token_fields(data: dict[str, Any]) -> dict[str, str]:
        """The token settings that differ from the account's: those the column keeps. The
        others go on following the account, so changing one field freezes only that one."""
        account = data["account"]
        if not data["override_token_settings"] or account is None:
            return {}
        if column_token_fields(account) is None:
            return {}
        inherited = account_token_settings(account)
        return {name: data[name] for name in TOKEN_FIELDS if data[name] != inherited.get(name)}

    def add_problems(self, problems: EnrichmentProblems) -> None:
        """Show the schema's messages next to the fields they concern."""
        for name, message in problems.errors.items():
            target = FIELD_FOR.get(name.split(".")[0])
            detail = name if "." in name else ""
            text = f"{detail}: {message}" if detail else message
            self.add_error(target if target in self.fields else None, text)


class FormulaForm(forms.Form):
    """The formula panel: a name, an expression over the row and the type of its value."""

    label = forms.CharField(max_length=200, label="Column name")
    expression = forms.CharField(
        label="Formula",
        max_length=10_000,
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "placeholder": "domain(row.email)"}
        ),
        help_text="An expression over the row, e.g. <code>lower(trim(row.name))</code> or "
        '<code>"big" if row.employees &gt; 100 else "small"</code>. A blank cell reads as '
        "empty; the functions are listed beside.",
    )
    output = forms.ChoiceField(
        label="Value type",
        choices=[
            ("auto", "As the formula gives it"),
            ("text", "Text"),
            ("number", "Number"),
            ("boolean", "Yes / no"),
            ("date", "Date"),
            ("json", "JSON"),
        ],
        initial="auto",
        help_text="A value that does not convert is that cell's error.",
    )

    @classmethod
    def initial_for(cls, enrichment: EnrichmentColumn) -> dict[str, Any]:
        return {"label": enrichment.column.label, **enrichment.config}

    def spec(self) -> EnrichmentSpec:
        data = self.cleaned_data
        return EnrichmentSpec(
            kind="formula",
            config={"expression": data["expression"], "output": data["output"]},
        )

    def add_problems(self, problems: EnrichmentProblems) -> None:
        for name, message in problems.errors.items():
            field = name if name in self.fields else "expression"
            self.add_error(field, message)


class WaterfallStepForm(RequestFieldsMixin, forms.Form):
    """One step of a waterfall: a provider's request, its account, condition and validity."""

    label = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "Provider A"})
    )
    account = ObjectChoiceField(
        queryset=Account.objects.none(), required=False, empty_label="No account (open API)"
    )
    method = forms.ChoiceField(choices=[(m.value, m.value) for m in Method], initial="GET")
    endpoint = forms.CharField(
        max_length=4000,
        widget=forms.TextInput(
            attrs={"placeholder": "https://api.provider-a.example/v1/companies"}
        ),
    )
    query = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text=PAIRS_HELP
    )
    headers = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})
    )
    field_paths = forms.CharField(
        required=False, help_text="Dot paths to keep from the answer; empty keeps all of it."
    )
    timeout_s = forms.FloatField(
        initial=REQUEST_DEFAULTS.timeout_s, min_value=0.1, label="Timeout (seconds)"
    )
    retry_attempts = forms.IntegerField(
        initial=RETRY_DEFAULTS.attempts, min_value=1, max_value=10, label="Attempts"
    )
    only_run_if = forms.CharField(
        required=False,
        label="Ask this provider only if",
        widget=forms.TextInput(attrs={"placeholder": 'row.country == "US"'}),
        help_text="Empty: every row.",
    )
    valid_if = forms.CharField(
        required=False,
        label="A valid answer is",
        widget=forms.TextInput(attrs={"placeholder": "result is not none"}),
        help_text="An expression over <code>result</code> (the kept answer) and the row. "
        "Empty: any answer that is not empty. The first valid answer ends the chain.",
    )

    def __init__(self, *args: Any, workspace: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account_field = self.fields["account"]
        assert isinstance(account_field, ObjectChoiceField)
        account_field.queryset = Account.objects.filter(workspace=workspace).order_by("name")

    @classmethod
    def initial_for(cls, step: dict[str, Any]) -> dict[str, Any]:
        return {
            "label": step.get("label", ""),
            "account": step.get("account"),
            **request_initial(step.get("request") or {}),
            "only_run_if": step.get("only_run_if", ""),
            "valid_if": step.get("valid_if", ""),
        }

    def step(self, *, base: dict[str, Any] | None = None) -> dict[str, Any]:
        data = self.cleaned_data
        found: dict[str, Any] = {
            "label": data["label"].strip(),
            "account": data["account"].pk if data["account"] else None,
            "request": request_from(data, base=(base or {}).get("request")),
            "only_run_if": data["only_run_if"].strip(),
            "valid_if": data["valid_if"].strip(),
        }
        if base and base.get("token_fields"):
            found["token_fields"] = base["token_fields"]  # set from the command line
        return found


class BaseStepFormSet(forms.BaseFormSet):
    def kept_forms(self) -> list[WaterfallStepForm]:
        """The step forms in the order chosen, without those marked for removal."""
        forms_in_order = self.ordered_forms if self.can_order else self.forms
        return [
            form
            for form in forms_in_order
            if not (self.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME, False))
        ]

    def ordered_steps(self, *, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The steps as saved (``base``: the steps saved before, by their form's index)."""
        steps = []
        for form in self.kept_forms():
            assert form.prefix is not None  # a formset prefixes each of its forms
            index = int(form.prefix.rsplit("-", 1)[-1])
            steps.append(form.step(base=base[index] if index < len(base) else None))
        return steps


# formset_factory returns a subclass of the `formset` it is given; django-stubs type the result
# as a plain BaseFormSet, which would hide ordered_steps and kept_forms.
WaterfallStepFormSet: type[BaseStepFormSet] = forms.formset_factory(  # type: ignore[assignment]
    WaterfallStepForm,
    formset=BaseStepFormSet,
    extra=0,
    min_num=1,
    max_num=10,
    validate_min=True,
    validate_max=True,
    can_delete=True,
    can_order=True,
)


class WaterfallForm(forms.Form):
    """The waterfall panel's column settings; its steps are a ``WaterfallStepFormSet``."""

    label = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"placeholder": "Company"})
    )
    only_run_if = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "row.email"}),
        help_text="A condition over the row for the whole chain; rows where it is false are "
        "skipped. Empty: every row.",
    )
    auto_update = forms.BooleanField(
        required=False, help_text="Re-run a row when a cell this column reads changes."
    )

    @classmethod
    def initial_for(cls, enrichment: EnrichmentColumn) -> dict[str, Any]:
        return {
            "label": enrichment.column.label,
            "only_run_if": enrichment.only_run_if,
            "auto_update": enrichment.auto_update,
        }

    def spec(self, steps: list[dict[str, Any]]) -> EnrichmentSpec:
        data = self.cleaned_data
        return EnrichmentSpec(
            kind="waterfall",
            config={"steps": steps},
            only_run_if=data["only_run_if"],
            auto_update=data["auto_update"],
        )
