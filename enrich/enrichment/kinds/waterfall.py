"""``waterfall``: providers asked in order until one gives a valid answer.

Each step is a whole HTTP request with its own account, field paths and condition, plus a
"valid result" expression (default: not empty). A cell runs the steps in order and stops at
the first valid answer — a match always ends the chain, so no provider is paid for a row
another already answered. The cell records which step answered, every step's outcome and
the requests spent; the column's header shows how often each step answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accounts.models import Account
from connectors import TemplateError, template_column_keys
from connectors.functions import is_empty
from connectors.templating import (
    CONDITION_SECRET_MESSAGE,
    FORMULA_SECRET_MESSAGE,
    compile_formula,
)
from enrich.enrichment.kinds.base import (
    Checked,
    ComputedKind,
    Estimate,
    record_problems,
    register,
)
from enrich.enrichment.kinds.http_api import (
    endpoint_estimate,
    request_problems,
    send,
    token_fields_checked,
)

if TYPE_CHECKING:
    from connectors import TemplateContext
    from enrich.enrichment.columns import EnrichmentSpec
    from enrich.enrichment.models import EnrichmentColumn
    from enrich.enrichment.pipeline import Outcome
    from enrich.models import Row, Table

MAX_STEPS = 10
#: How much of each step's value a cell keeps in its record of the chain.
STEP_VALUE_CHARS = 500


class WaterfallStep(BaseModel):
    """One provider of the chain."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=100)
    account: int | None = None
    request: dict[str, Any]
    token_fields: dict[str, str] = Field(default_factory=dict)
    only_run_if: str = Field(default="", max_length=10_000)
    valid_if: str = Field(
        default="",
        max_length=10_000,
        description="An expression over result (the step's value) and row; empty: the value "
        "is not empty.",
    )


class WaterfallConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[WaterfallStep] = Field(min_length=1, max_length=MAX_STEPS)


def step_label(step: WaterfallStep | Mapping[str, Any], index: int) -> str:
    label = step.label if isinstance(step, WaterfallStep) else str(step.get("label") or "")
    return label or f"Step {index + 1}"


@register
class Waterfall(ComputedKind):
    type = "waterfall"
    label = "Waterfall"
    description = (
        "Several providers in order: the first valid answer wins, the rest are not called."
    )
    panel_template = "enrichment/waterfall_panel.html"

    def check(self, *, table: Table, spec: EnrichmentSpec, problems: dict[str, str]) -> Checked:
        try:
            config = WaterfallConfig.model_validate(_with_account_ids(spec.config))
        except ValidationError as exc:
            record_problems(exc, problems, default="steps")
            return Checked(config=dict(spec.config))
        accounts = {
            account.pk: account
            for account in Account.objects.filter(
                workspace_id=table.workspace_id,
                pk__in=[step.account for step in config.steps if step.account],
            )
        }
        saved_steps = []
        credentials = []
        keys_by_field: dict[str, set[str]] = {}
        for index, step in enumerate(config.steps):
            prefix = f"steps.{index}."
            account = accounts.get(step.account) if step.account else None
            if step.account and account is None:
                problems[prefix + "account"] = "Pick an account of this workspace."
            request = request_problems(step.request, problems, prefix=prefix)
            token_fields = token_fields_checked(account, step.token_fields, problems)
            keys = request.column_keys() if request is not None else set()
            keys_by_field[prefix + "request"] = keys
            for name, source in (("only_run_if", step.only_run_if), ("valid_if", step.valid_if)):
                keys_by_field[prefix + name] = _expression_keys(
                    source, prefix + name, problems, result=name == "valid_if"
                )
            if account is not None and request is not None:
                credentials.append((account, request.endpoint, prefix + "endpoint"))
            saved = {
                "label": step.label.strip(),
                "account": account.pk if account else None,
                "request": (
                    request.model_dump(mode="json", exclude_defaults=True) if request else {}
                ),
            }
            if token_fields:
                saved["token_fields"] = token_fields
            for name in ("only_run_if", "valid_if"):
                if getattr(step, name).strip():
                    saved[name] = getattr(step, name).strip()
            saved_steps.append(saved)
        return Checked(
            config={"steps": saved_steps},
            dependencies=set().union(*keys_by_field.values()) if keys_by_field else set(),
            keys_by_field=keys_by_field,
            credentials=credentials,
        )

    def hash_inputs(self, enrichment: EnrichmentColumn) -> dict[str, Any]:
        accounts = _step_accounts(enrichment)
        return {
            "kind": self.type,
            "config": enrichment.config,
            "accounts": sorted([a.pk, a.updated_at.isoformat()] for a in accounts.values()),
        }

    def execute(
        self, *, enrichment: EnrichmentColumn, row: Row, context: TemplateContext
    ) -> Outcome:
        from enrich.enrichment.models import CellResult
        from enrich.enrichment.pipeline import Outcome

        accounts = _step_accounts(enrichment)
        steps: list[dict[str, Any]] = []
        spent = 0
        last: Outcome | None = None
        failures: list[str] = []
        for index, step in enumerate(enrichment.config.get("steps") or []):
            label = step_label(step, index)
            record: dict[str, Any] = {"label": label, "requests": 0}
            steps.append(record)
            condition = step.get("only_run_if") or ""
            if condition:
                try:
                    wanted = compile_formula(condition).evaluate(context.row)
                except TemplateError as exc:
                    record.update(status="error", error=f"Only run if: {exc.message}")
                    failures.append(f"{label}: {exc.message}")
                    continue
                if not wanted:
                    record["status"] = "skipped"
                    continue
            account = accounts.get(step.get("account")) if step.get("account") else None
            step_context = context.for_account(
                {"name": account.name, "type": account.auth_type} if account else {}
            )
            outcome = send(
                account=account,
                request=step.get("request") or {},
                token_fields=step.get("token_fields") or {},
                context=step_context,
                rate_limit_key=f"enrichment-column:{enrichment.pk}:step:{index}",
            )
            last = outcome
            spent += outcome.requests
            record["requests"] = outcome.requests
            if outcome.status != CellResult.Status.DONE:
                record.update(status="error", error=outcome.error)
                failures.append(f"{label}: {outcome.error}")
                continue
            try:
                valid = _valid(step.get("valid_if") or "", outcome.value, context)
            except TemplateError as exc:
                record.update(status="error", error=f"Valid if: {exc.message}")
                failures.append(f"{label}: {exc.message}")
                continue
            record.update(status="answered" if valid else "no_match", value=_short(outcome.value))
            if valid:
                return Outcome(
                    status=CellResult.Status.DONE,
                    value=outcome.value,
                    http_status=outcome.http_status,
                    requests=spent,
                    elapsed_ms=outcome.elapsed_ms,
                    debug=outcome.debug,
                    details={"answered_by": index, "answered_label": label, "steps": steps},
                )
        details = {"answered_by": None, "steps": steps}
        if steps and all(step.get("status") == "skipped" for step in steps):
            return Outcome(
                status=CellResult.Status.SKIPPED,
                skipped_reason="No step's condition is met for this row.",
                details=details,
            )
        if failures and not any(step.get("status") == "no_match" for step in steps):
            return Outcome(
                status=CellResult.Status.ERROR,
                error="No step answered. " + "; ".join(failures),
                error_code="waterfall_failed",
                http_status=last.http_status if last else None,
                requests=spent,
                debug=last.debug if last else None,
                details=details,
            )
        # Every provider answered and none had a valid value: the row has none to find.
        return Outcome(
            status=CellResult.Status.DONE,
            value=None,
            requests=spent,
            debug=last.debug if last else None,
            details=details,
        )

    def estimate(self, enrichment: EnrichmentColumn) -> Estimate:
        most = 0
        for step in enrichment.config.get("steps") or []:
            attempts, _ = endpoint_estimate(step.get("request") or {})
            most += attempts
        return Estimate(requests_per_row=1, most_per_row=max(most, 1))

    def accounts(self, config: Mapping[str, Any]) -> list[int]:
        return [step["account"] for step in config.get("steps") or [] if step.get("account")]


def _with_account_ids(config: Mapping[str, Any]) -> dict[str, Any]:
    """A spec's steps may name their account by the model (the panel) or by id (the CLI)."""
    steps = []
    for step in config.get("steps") or []:
        step = dict(step)
        if isinstance(step.get("account"), Account):
            step["account"] = step["account"].pk
        steps.append(step)
    return {**config, "steps": steps}


def _expression_keys(
    source: str, field: str, problems: dict[str, str], *, result: bool
) -> set[str]:
    """Check a step's condition or validity expression; the columns it reads."""
    source = source.strip()
    if not source:
        return set()
    try:
        compile_formula(source, ("result",) if result else ())
    except TemplateError as exc:
        secret = exc.message == FORMULA_SECRET_MESSAGE
        problems[field] = CONDITION_SECRET_MESSAGE if secret else exc.message
        return set()
    return template_column_keys("{{ " + source + " }}")


def _valid(source: str, value: Any, context: TemplateContext) -> bool:
    if not source:
        return not is_empty(value)
    return bool(compile_formula(source, ("result",)).evaluate(context.row, result=value))


def _step_accounts(enrichment: EnrichmentColumn) -> dict[int, Account]:
    """The steps' accounts, read once per loaded column (a worker keeps it for a run)."""
    cached = getattr(enrichment, "_step_accounts", None)
    if cached is None:
        ids = [
            step["account"] for step in enrichment.config.get("steps") or [] if step.get("account")
        ]
        cached = {
            account.pk: account
            for account in Account.objects.filter(
                pk__in=ids, workspace_id=enrichment.column.table.workspace_id
            ).select_related("workspace")
        }
        enrichment._step_accounts = cached
    return cached


def _short(value: Any) -> Any:
    """A step's value as its record keeps it: small values whole, large ones cut."""
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= STEP_VALUE_CHARS else text[: STEP_VALUE_CHARS - 1] + "…"
