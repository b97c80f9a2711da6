"""Creating and changing enrichment columns, and "Add as column" on a field of their results.

Everything is checked on save, so a mistake is a message next to its field instead of an
error on every row: the request config (one pydantic schema), the templates' syntax, column
keys the templates name that the table does not have, the condition, and the token fields of
a JWT-token-endpoint account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from pydantic import ValidationError

from accounts.connection_accounts import account_allow_hosts
from accounts.models import Account
from connectors import (
    ConfigError,
    RequestConfig,
    TemplateError,
    check_template,
    template_column_keys,
)
from connectors.auth import ColumnTokenFields, host_allowed
from connectors.auth.token_response import parse_path
from connectors.templating import CONDITION_SECRET_MESSAGE, uses_secrets
from connectors.url_parts import endpoint_host
from enrich.columns import column_add, columns_for_table
from enrich.enrichment.models import EnrichmentColumn, ResultField
from enrich.exceptions import TableError
from enrich.models import ColumnKind, Table

TOKEN_FIELDS = ("token_location", "token_type", "auth_header_name")


@dataclass
class EnrichmentProblems(Exception):
    """Field name → message, for the form to show next to each field."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


@dataclass(frozen=True)
class EnrichmentSpec:
    """What a user configures for an enrichment column (the panel, the CLI, the API)."""

    request: Mapping[str, Any]
    account: Account | None = None
    token_fields: Mapping[str, str] = field(default_factory=dict)
    only_run_if: str = ""
    auto_update: bool = False
    #: Whether a workspace owner writes the column. Owners decide where an account's
    #: credentials may go: an owner's column adds its host to the account's allowed hosts, a
    #: member's must stay within them.
    by_owner: bool = True


def enrichment_check(*, table: Table, spec: EnrichmentSpec, own_key: str = "") -> dict[str, Any]:
    """Validate ``spec`` for ``table``; returns the cleaned request, token fields and the
    dependency keys, or raises ``EnrichmentProblems`` naming each field at fault."""
    problems: dict[str, str] = {}
    try:
        config = RequestConfig.model_validate(dict(spec.request))
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in error["loc"]) or "request"
            problems.setdefault(name, error["msg"].removeprefix("Value error, "))
        config = None
    if spec.account is not None and spec.account.workspace_id != table.workspace_id:
        problems["account"] = "Pick an account of this workspace."
    token_fields = _token_fields(spec, problems)
    hosts_to_allow = _credential_hosts(spec, config, problems)
    condition_keys: set[str] = set()
    condition = spec.only_run_if.strip()
    if condition:
        try:
            check_template("{{ " + condition + " }}")
            condition_keys = template_column_keys("{{ " + condition + " }}")
            if uses_secrets("{{ " + condition + " }}"):
                problems["only_run_if"] = CONDITION_SECRET_MESSAGE
        except TemplateError as exc:
            problems["only_run_if"] = exc.message
    request_keys = config.column_keys() if config is not None else set()
    dependencies = condition_keys | request_keys
    known = {column.key for column in columns_for_table(table=table)} - {own_key}
    # Each unknown key is reported where it was typed: the condition, or the request.
    for name, what, keys in (
        ("only_run_if", "The condition reads", condition_keys),
        ("request", "The templates read", request_keys),
    ):
        unknown = sorted(keys - known)
        if unknown and name not in problems:
            names = ", ".join(f"row.{key}" for key in unknown)
            problems[name] = f"{what} {names}, which this table has no column for" + (
                " (a column cannot read its own results)." if own_key in unknown else "."
            )
    if problems:
        raise EnrichmentProblems(problems)
    assert config is not None
    return {
        "request": config.model_dump(mode="json", exclude_defaults=True),
        "token_fields": token_fields,
        "dependencies": sorted(dependencies),
        "hosts_to_allow": hosts_to_allow,
    }


def _credential_hosts(
    spec: EnrichmentSpec, config: RequestConfig | None, problems: dict[str, str]
) -> list[str]:
    """The hosts an owner's column adds to its account's allowed hosts; for a member's
    column, a problem when it would send the account's credentials outside them.

    A host a template writes (``{{ row.url }}``) is checked when each request is sent.
    """
    account = spec.account
    if account is None or config is None or account.auth_type == "none":
        return []
    allowed = tuple(account.config.get("allowed_hosts") or ())
    host = endpoint_host(config.endpoint)
    if host is None and not allowed:
        # The row writes the host: with nothing allowed, whoever edits the row would choose
        # where the credentials go. The owners say first which hosts may receive them.
        problems["endpoint"] = (
            f"The row writes this endpoint's host, and “{account.name}” has no allowed hosts "
            "yet: an owner sets them on the account first (e.g. api.example.com or "
            "*.example.com), so its credentials go only where the owners decide."
        )
        return []
    if spec.by_owner:
        return [host] if host and not host_allowed(host, allowed) else []
    if not allowed:
        problems["account"] = (
            f"“{account.name}” has no allowed hosts yet, so only an owner can say where its "
            "credentials may go: ask an owner to add this column or to set the account's "
            "allowed hosts."
        )
    elif host and not host_allowed(host, allowed):
        problems["endpoint"] = (
            f"“{account.name}” may only send its credentials to {', '.join(allowed)}, not to "
            f"{host}. Ask an owner to add the host to the account's allowed hosts."
        )
    return []


def _allow_hosts(spec: EnrichmentSpec, hosts: list[str]) -> None:
    if spec.account is not None and hosts:
        # The owner's column is the owner's decision: its host joins the allowed ones.
        account_allow_hosts(account=spec.account, hosts=hosts)


def account_token_settings(account: Account) -> dict[str, str]:
    """A JWT-token-endpoint account's token location, type and header: the defaults of every
    column that uses the account (none of them is secret)."""
    saved = {name: account.config[name] for name in TOKEN_FIELDS if name in account.config}
    return ColumnTokenFields.model_validate(saved).model_dump()


def _token_fields(spec: EnrichmentSpec, problems: dict[str, str]) -> dict[str, str]:
    """The token settings the column overrides, checked by the account type's own rules.

    Only the fields given are kept: every other one is read from the account when a request
    is sent, so editing the account changes every column that does not override it.
    """
    if spec.account is None or spec.account.auth_type != "jwt_token_endpoint":
        return {}
    given = {
        name: str(value)
        for name, value in spec.token_fields.items()
        if name in TOKEN_FIELDS and value is not None
    }
    try:
        return ColumnTokenFields.model_validate(given).model_dump(include=set(given))
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            problems[str(error["loc"][0])] = error["msg"].removeprefix("Value error, ")
        return given


@transaction.atomic
def enrichment_column_create(*, table: Table, label: str, spec: EnrichmentSpec) -> EnrichmentColumn:
    """Add an enrichment column at the right end of ``table``."""
    cleaned = enrichment_check(table=table, spec=spec)
    try:
        column = column_add(table=table, label=label, kind=ColumnKind.ENRICHMENT)
    except TableError as refused:  # the table is full, or the label is blank
        raise EnrichmentProblems({"label": str(refused)}) from None
    _allow_hosts(spec, cleaned["hosts_to_allow"])
    return EnrichmentColumn.objects.create(
        column=column,
        account=spec.account,
        request=cleaned["request"],
        token_fields=cleaned["token_fields"],
        only_run_if=spec.only_run_if.strip(),
        auto_update=spec.auto_update,
        dependencies=cleaned["dependencies"],
    )


@transaction.atomic
def enrichment_column_update(
    *, enrichment: EnrichmentColumn, spec: EnrichmentSpec
) -> EnrichmentColumn:
    """Change the request or run settings; results stay until the cells run again."""
    table = enrichment.column.table
    cleaned = enrichment_check(table=table, spec=spec, own_key=enrichment.column.key)
    _allow_hosts(spec, cleaned["hosts_to_allow"])
    enrichment.account = spec.account
    enrichment.request = cleaned["request"]
    enrichment.token_fields = cleaned["token_fields"]
    enrichment.only_run_if = spec.only_run_if.strip()
    enrichment.auto_update = spec.auto_update
    enrichment.dependencies = cleaned["dependencies"]
    enrichment.save()
    return enrichment


@transaction.atomic
def result_field_add(*, source: EnrichmentColumn, path: str, label: str = "") -> ResultField:
    """A column that shows ``path`` of ``source``'s results ("Add as column")."""
    segments = parse_path(path)
    if not segments:
        raise ConfigError("Give the path of the field to show, e.g. data.name.")
    try:
        column = column_add(
            table=source.column.table,
            label=label.strip() or f"{source.column.label} · {'.'.join(segments)}",
            kind=ColumnKind.RESULT_FIELD,
        )
    except TableError as refused:  # the table is full
        raise ConfigError(str(refused)) from None
    return ResultField.objects.create(column=column, source=source, path=".".join(segments))
