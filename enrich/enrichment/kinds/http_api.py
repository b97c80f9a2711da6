"""``http_api``: one HTTP request per row, authenticated with the column's account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from accounts import connections
from connectors import ConnectorError, RequestConfig, auth_types
from enrich.enrichment.kinds.base import (
    Checked,
    ComputedKind,
    Estimate,
    record_problems,
    register,
)

if TYPE_CHECKING:
    from accounts.models import Account
    from connectors import TemplateContext
    from enrich.enrichment.columns import EnrichmentSpec
    from enrich.enrichment.models import EnrichmentColumn
    from enrich.enrichment.pipeline import Outcome
    from enrich.models import Row, Table

TOKEN_FIELDS = ("token_location", "token_type", "auth_header_name")


def request_problems(
    request: Mapping[str, Any], problems: dict[str, str], *, prefix: str = ""
) -> RequestConfig | None:
    """``request`` validated by the one request schema, or None with each problem recorded
    under its field (``prefix`` names a step of a chain)."""
    try:
        return RequestConfig.model_validate(dict(request))
    except ValidationError as exc:
        record_problems(exc, problems, prefix=prefix, default="request")
        return None


def column_token_fields(account: Account) -> type[BaseModel] | None:
    """The settings a column may set for itself with ``account`` (its type says: a
    JWT-token-endpoint account's token location, type and header), or None."""
    return auth_types.get(account.auth_type).capabilities.column_fields


def token_fields_checked(
    account: Account | None, token_fields: Mapping[str, Any], problems: dict[str, str]
) -> dict[str, str]:
    """The token settings a column overrides, checked by the account type's own rules.

    Only the fields given are kept: every other one is read from the account when a request
    is sent, so editing the account changes every column that does not override it.
    """
    fields = column_token_fields(account) if account is not None else None
    if fields is None:
        return {}
    given = {
        name: str(value)
        for name, value in token_fields.items()
        if name in fields.model_fields and value is not None
    }
    try:
        return fields.model_validate(given).model_dump(include=set(given))
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            problems[str(error["loc"][0])] = error["msg"].removeprefix("Value error, ")
        return given


def send(
    *,
    account: Account | None,
    request: Mapping[str, Any],
    token_fields: Mapping[str, Any],
    context: TemplateContext,
    rate_limit_key: str,
) -> Outcome:
    """Render and send one request through ``account``'s auth: the outcome, never raising."""
    from enrich.enrichment.models import CellResult
    from enrich.enrichment.pipeline import Outcome

    try:
        config = RequestConfig.model_validate(dict(request))
        auth = connections.account_auth(
            account=account, context=context, column_fields=token_fields
        )
    except ConnectorError as exc:
        return Outcome(status=CellResult.Status.ERROR, error=exc.message, error_code=exc.code)
    rate_key = rate_limit_key if config.rate_limit else None
    result = connections.engine().send(config, context=context, auth=auth, rate_limit_key=rate_key)
    return Outcome(
        status=CellResult.Status.DONE if result.ok else CellResult.Status.ERROR,
        value=result.value if result.ok else None,
        error=result.error.message if result.error else "",
        error_code=result.error.code if result.error else "",
        http_status=result.status,
        requests=result.requests,
        elapsed_ms=round(result.elapsed_ms),
        debug=result.debug.to_dict(),
    )


def endpoint_estimate(request: Mapping[str, Any]) -> tuple[int, str]:
    """Tries per request (the first included) and the fixed host of the endpoint, if any."""
    config = RequestConfig.model_validate(dict(request))
    netloc = urlsplit(config.endpoint).netloc
    return config.retry.attempts, "" if "{" in netloc else netloc


@register
class HttpApi(ComputedKind):
    type = "http_api"
    label = "HTTP API"
    description = "One request per row to any HTTP API, authenticated with a workspace account."

    def check(self, *, table: Table, spec: EnrichmentSpec, problems: dict[str, str]) -> Checked:
        config = request_problems(spec.request, problems)
        token_fields = token_fields_checked(spec.account, spec.token_fields, problems)
        keys = config.column_keys() if config is not None else set()
        saved: dict[str, Any] = {
            "request": config.model_dump(mode="json", exclude_defaults=True) if config else {}
        }
        if token_fields:
            saved["token_fields"] = token_fields
        return Checked(
            config=saved,
            dependencies=keys,
            keys_by_field={"request": keys},
            credentials=(
                [(spec.account, config.endpoint, "endpoint")]
                if spec.account is not None and config is not None
                else []
            ),
            account=spec.account,
        )

    def hash_inputs(self, enrichment: EnrichmentColumn) -> dict[str, Any]:
        # The same inputs as before kinds existed, so no cell counts as changed on upgrade.
        account = enrichment.account
        return {
            "request": enrichment.request,
            "token_fields": enrichment.token_fields,
            "account": [account.pk, account.updated_at.isoformat()] if account else None,
        }

    def execute(
        self, *, enrichment: EnrichmentColumn, row: Row, context: TemplateContext
    ) -> Outcome:
        return send(
            account=enrichment.account,
            request=enrichment.request,
            token_fields=enrichment.token_fields,
            context=context,
            rate_limit_key=f"enrichment-column:{enrichment.pk}",
        )

    def estimate(self, enrichment: EnrichmentColumn) -> Estimate:
        attempts, host = endpoint_estimate(enrichment.request)
        return Estimate(requests_per_row=1, most_per_row=attempts, host=host)

    def accounts(self, config: Mapping[str, Any]) -> list[int]:
        return []  # the column's account is ``EnrichmentColumn.account``
