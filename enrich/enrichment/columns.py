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

from accounts.connection_accounts import account_allow_hosts
from accounts.models import Account
from connectors import (
    ConfigError,
    TemplateError,
    auth_types,
    check_template,
    template_column_keys,
)
from connectors.auth import host_allowed
from connectors.auth.token_response import parse_path
from connectors.templating import CONDITION_SECRET_MESSAGE, uses_secrets
from connectors.url_parts import endpoint_host
from enrich.columns import column_add, columns_for_table
from enrich.enrichment.dependencies import forget_graph, graph_of
from enrich.enrichment.formulas import recompute
from enrich.enrichment.kinds import kind_named
from enrich.enrichment.kinds.http_api import column_token_fields
from enrich.enrichment.models import ColumnAccount, EnrichmentColumn, ResultField, Run
from enrich.exceptions import TableError
from enrich.models import Column, ColumnKind, Table


@dataclass
class EnrichmentProblems(Exception):
    """Field name → message, for the form to show next to each field."""

    errors: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors.items())


@dataclass(frozen=True)
class EnrichmentSpec:
    """What a user configures for a computed column (the panel, the CLI, the API).

    ``kind`` names the registered kind; an ``http_api`` column is described by ``request``,
    ``account`` and ``token_fields``, other kinds by their ``config``."""

    request: Mapping[str, Any] = field(default_factory=dict)
    account: Account | None = None
    token_fields: Mapping[str, str] = field(default_factory=dict)
    only_run_if: str = ""
    auto_update: bool = False
    #: Whether a workspace owner writes the column. Owners decide where an account's
    #: credentials may go: an owner's column adds its host to the account's allowed hosts, a
    #: member's must stay within them.
    by_owner: bool = True
    kind: str = "http_api"
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CheckedColumn:
    """A spec that passed every check: what is saved."""

    kind: str
    config: dict[str, Any]
    account: Account | None
    account_ids: list[int]
    dependencies: list[str]
    hosts_to_allow: dict[Account, list[str]]


def enrichment_check(*, table: Table, spec: EnrichmentSpec, own_key: str = "") -> CheckedColumn:
    """Validate ``spec`` for ``table``: the kind's own checks, then what every kind shares
    (the condition, the columns read, where credentials go). Raises ``EnrichmentProblems``
    naming each field at fault."""
    problems: dict[str, str] = {}
    try:
        kind = kind_named(spec.kind)
    except KeyError:
        raise EnrichmentProblems({"kind": f"“{spec.kind}” is no kind of column."}) from None
    checked = kind.check(table=table, spec=spec, problems=problems)
    for account, _, _ in checked.credentials:
        if account.workspace_id != table.workspace_id:
            problems.setdefault("account", "Pick an account of this workspace.")
    hosts_to_allow = _credential_hosts(spec, checked.credentials, problems)
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
    known = {column.key for column in columns_for_table(table=table)} - {own_key}
    # Each unknown key is reported where it was typed: the condition, or the kind's field.
    for name, keys in (("only_run_if", condition_keys), *checked.keys_by_field.items()):
        unknown = sorted(keys - known)
        if unknown and name not in problems:
            what = "The condition reads" if name == "only_run_if" else "The templates read"
            names = ", ".join(f"row.{key}" for key in unknown)
            problems[name] = f"{what} {names}, which this table has no column for" + (
                " (a column cannot read its own results)." if own_key in unknown else "."
            )
    dependencies = condition_keys | checked.dependencies
    if own_key and not problems:
        _refuse_cycle(table, own_key, dependencies, checked.keys_by_field, problems)
    if problems:
        raise EnrichmentProblems(problems)
    accounts = {account.pk for account, _, _ in checked.credentials}
    return CheckedColumn(
        kind=kind.type,
        config=checked.config,
        account=checked.account,
        account_ids=sorted(accounts),
        dependencies=sorted(dependencies),
        hosts_to_allow=hosts_to_allow,
    )


def _refuse_cycle(
    table: Table,
    own_key: str,
    reads: set[str],
    keys_by_field: dict[str, set[str]],
    problems: dict[str, str],
) -> None:
    """A column may not read itself through other computed columns: name the cycle where
    its first step was typed."""
    cycle = graph_of(table_id=table.pk).cycle_through(own_key, reads)
    if cycle is None:
        return
    labels = dict(Column.objects.filter(table=table).values_list("key", "label"))
    path = " → ".join(labels.get(key, key) for key in cycle)
    where = next((name for name, keys in keys_by_field.items() if cycle[1] in keys), "only_run_if")
    problems[where] = f"This would make the column read its own value: {path}."


def _credential_hosts(
    spec: EnrichmentSpec,
    credentials: list[tuple[Account, str, str]],
    problems: dict[str, str],
) -> dict[Account, list[str]]:
    """The hosts an owner's column adds to its accounts' allowed hosts; for a member's
    column, a problem when it would send an account's credentials outside them.

    A host a template writes (``{{ row.url }}``) is checked when each request is sent.
    """
    to_allow: dict[Account, list[str]] = {}
    for account, endpoint, field_name in credentials:
        if not auth_types.get(account.auth_type).capabilities.sends_credentials:
            continue
        allowed = tuple(account.config.get("allowed_hosts") or ())
        host = endpoint_host(endpoint)
        if host is None and not allowed:
            # The row writes the host: with nothing allowed, whoever edits the row would
            # choose where the credentials go. The owners say first which hosts may get them.
            problems.setdefault(
                field_name,
                f"The row writes this endpoint's host, and “{account.name}” has no allowed "
                "hosts yet: an owner sets them on the account first (e.g. api.example.com or "
                "*.example.com), so its credentials go only where the owners decide.",
            )
        elif spec.by_owner:
            if host and not host_allowed(host, allowed):
                to_allow.setdefault(account, []).append(host)
        elif not allowed:
            problems.setdefault(
                "account",
                f"“{account.name}” has no allowed hosts yet, so only an owner can say where its "
                "credentials may go: ask an owner to add this column or to set the account's "
                "allowed hosts.",
            )
        elif host and not host_allowed(host, allowed):
            problems.setdefault(
                field_name,
                f"“{account.name}” may only send its credentials to {', '.join(allowed)}, not "
                f"to {host}. Ask an owner to add the host to the account's allowed hosts.",
            )
    return to_allow


def _allow_hosts(hosts: dict[Account, list[str]]) -> None:
    # The owner's column is the owner's decision: its hosts join the allowed ones.
    for account, added in hosts.items():
        account_allow_hosts(account=account, hosts=added)


def account_token_settings(account: Account) -> dict[str, str]:
    """The settings a column may set for itself with ``account`` as the account has them (a
    JWT-token-endpoint account's token location, type and header): the defaults of every
    column that uses it, none of them secret. Empty for a type without such settings."""
    fields = column_token_fields(account)
    if fields is None:
        return {}
    saved = {name: account.config[name] for name in fields.model_fields if name in account.config}
    return fields.model_validate(saved).model_dump()


def _save(enrichment: EnrichmentColumn, checked: CheckedColumn, spec: EnrichmentSpec) -> None:
    """Save the checked settings and the accounts the column uses."""
    enrichment.kind = checked.kind
    enrichment.config = checked.config
    enrichment.account = checked.account
    enrichment.only_run_if = spec.only_run_if.strip()
    enrichment.auto_update = spec.auto_update
    enrichment.dependencies = checked.dependencies
    enrichment.save()
    column = enrichment.column
    uses = set(checked.account_ids) | ({checked.account.pk} if checked.account else set())
    ColumnAccount.objects.filter(column=column).exclude(account_id__in=uses).delete()
    ColumnAccount.objects.bulk_create(
        [ColumnAccount(column=column, account_id=account_id) for account_id in sorted(uses)],
        ignore_conflicts=True,
    )
    forget_graph(table_id=column.table_id)


def _computed_now(enrichment: EnrichmentColumn) -> EnrichmentColumn:
    """A kind that sends no request (a formula) is computed over the table once saved, a
    chunk of rows per transaction: not inside the save's, which would hold the whole table
    locked while it runs."""
    if not kind_named(enrichment.kind).sends_requests:
        recompute_column(enrichment=enrichment)
    return enrichment


def enrichment_column_create(*, table: Table, label: str, spec: EnrichmentSpec) -> EnrichmentColumn:
    """Add a computed column of ``spec.kind`` at the right end of ``table``."""
    checked = enrichment_check(table=table, spec=spec)
    with transaction.atomic():
        try:
            column = column_add(table=table, label=label, kind=kind_named(checked.kind).column_kind)
        except TableError as refused:  # the table is full, or the label is blank
            raise EnrichmentProblems({"label": str(refused)}) from None
        _allow_hosts(checked.hosts_to_allow)
        enrichment = EnrichmentColumn(column=column)
        _save(enrichment, checked, spec)
    return _computed_now(enrichment)


def enrichment_column_update(
    *, enrichment: EnrichmentColumn, spec: EnrichmentSpec
) -> EnrichmentColumn:
    """Change the column's settings; results stay until the cells run again (a formula's are
    computed again at once)."""
    table = enrichment.column.table
    checked = enrichment_check(table=table, spec=spec, own_key=enrichment.column.key)
    with transaction.atomic():
        _allow_hosts(checked.hosts_to_allow)
        _save(enrichment, checked, spec)
    return _computed_now(enrichment)


def recompute_column(*, enrichment: EnrichmentColumn) -> int:
    """Compute a formula column over its table, then what reads it (``recompute_downstream``).
    Returns how many of its cells changed."""
    changed = recompute_downstream(table=enrichment.column.table, keys={enrichment.column.key})
    return len(changed.get(enrichment.column.key, ()))


def recompute_downstream(
    *, table: Table, keys: set[str], rows: set[int] | None = None
) -> dict[str, set[int]]:
    """After ``keys`` changed in bulk (in ``rows``; None: any row), compute the formulas
    downstream over the table and queue each auto-update enrichment that reads a changed
    column for the rows that changed (their inputs changed; the planner skips the others).
    Enrichments further down run when those cells are written. Returns the changed rows of
    each formula."""
    from enrich.enrichment.auto_update import auto_update_enabled
    from enrich.enrichment.runs import run_queue

    changed = recompute(table=table, keys=keys)
    if not auto_update_enabled(table_id=table.pk):
        return changed
    graph = graph_of(table_id=table.pk)
    # A formula's changed rows are known; a typed column changed in bulk, in ``rows``.
    moved: dict[str, set[int] | None] = {key: rows for key in keys if key not in changed}
    moved.update({key: row_ids for key, row_ids in changed.items() if row_ids})
    for node in graph.order:
        if node.kind != ColumnKind.ENRICHMENT or not node.auto_update:
            continue
        read = [moved[key] for key in node.reads if key in moved]
        if not read:
            continue
        enrichment = EnrichmentColumn.objects.get(pk=node.column_id)
        known = [row_ids for row_ids in read if row_ids is not None]
        if len(known) < len(read):
            run_queue(enrichment=enrichment, scope=Run.Scope.ALL)
        elif row_ids := set().union(*known):
            run_queue(enrichment=enrichment, scope=Run.Scope.ROWS, row_ids=row_ids)
    return changed


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


def formula_preview_rows(
    *, table: Table, expression: str, output: str, own_key: str = "", limit: int = 5
) -> list[tuple[Any, Any, str]]:
    """A formula as typed, computed on the first ``limit`` rows: (row, value, error) each.
    Checked as on save (``EnrichmentProblems``); writes nothing."""
    from connectors import TemplateError
    from connectors.template_values import RowView
    from connectors.templating import compile_formula
    from enrich.enrichment.grid import computed_values_by_row
    from enrich.enrichment.kinds.formula import evaluate
    from enrich.grid import visible_rows

    spec = EnrichmentSpec(kind="formula", config={"expression": expression, "output": output})
    checked = enrichment_check(table=table, spec=spec, own_key=own_key)
    formula = compile_formula(checked.config["expression"])
    rows = list(visible_rows(table=table).order_by("position", "pk")[:limit])
    computed = computed_values_by_row(
        table_id=table.pk, row_ids=[row.pk for row in rows], keys=checked.dependencies
    )
    columns = frozenset(Column.objects.filter(table=table).values_list("key", flat=True))
    results = []
    for row in rows:
        values = {**row.values, **computed.get(row.pk, {})}
        try:
            value = evaluate(formula, checked.config["output"], RowView(values, columns))
        except TemplateError as exc:
            results.append((row, None, exc.message))
        else:
            results.append((row, value, ""))
    return results
