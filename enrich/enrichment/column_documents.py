"""A computed column described as a JSON document: what ``add_column`` reads from a file (and
what the JSON API will take), turned into the ``EnrichmentSpec`` the panels build.

    {"kind": "http_api", "request": {…}, "account": "CRM", "token_type": "JWT", …}
    {"kind": "formula", "expression": "domain(row.email)", "output": "text"}
    {"kind": "waterfall", "steps": [{"label": "A", "account": "CRM", "request": {…},
                                     "only_run_if": "…", "valid_if": "…"}, …]}

Every kind also takes ``only_run_if`` and ``auto_update``. Accounts are named (or given by
id) within the column's workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import Account, Workspace
from enrich.enrichment.columns import EnrichmentSpec
from enrich.enrichment.kinds import kind_named

TOKEN_KEYS = ("token_location", "token_type", "auth_header_name")
COMMON_KEYS = {"kind", "only_run_if", "auto_update"}
KEYS_BY_KIND = {
    "http_api": {"request", "account", *TOKEN_KEYS},
    "formula": {"expression", "output"},
    "waterfall": {"steps"},
}
STEP_KEYS = {"label", "account", "request", "only_run_if", "valid_if", *TOKEN_KEYS}


class DocumentError(ValueError):
    """The document does not describe a column; the message says what to change."""


def spec_from_document(*, workspace: Workspace, document: Mapping[str, Any]) -> EnrichmentSpec:
    """The spec ``document`` describes; ``DocumentError`` names what is wrong with it."""
    kind = str(document.get("kind") or "http_api")
    try:
        kind_named(kind)
    except KeyError:
        known = ", ".join(sorted(KEYS_BY_KIND))
        raise DocumentError(f"Unknown kind “{kind}”; the kinds are {known}.") from None
    unknown = sorted(set(document) - COMMON_KEYS - KEYS_BY_KIND.get(kind, set()))
    if unknown:
        raise DocumentError(f"Unknown keys for a {kind} column: {', '.join(unknown)}.")
    only_run_if = str(document.get("only_run_if") or "")
    auto_update = bool(document.get("auto_update", False))
    if kind == "http_api":
        return EnrichmentSpec(
            request=document.get("request") or {},
            account=_account(workspace, document.get("account")),
            token_fields={key: document[key] for key in TOKEN_KEYS if key in document},
            only_run_if=only_run_if,
            auto_update=auto_update,
        )
    if kind == "formula":
        config = {"expression": str(document.get("expression") or "")}
        if "output" in document:
            config["output"] = document["output"]
        return EnrichmentSpec(
            kind=kind, config=config, only_run_if=only_run_if, auto_update=auto_update
        )
    steps = document.get("steps")
    if not isinstance(steps, list):
        raise DocumentError("A waterfall needs “steps”: a list of steps.")
    return EnrichmentSpec(
        kind=kind,
        config={"steps": [_step(workspace, s) for s in steps]},
        only_run_if=only_run_if,
        auto_update=auto_update,
    )


def _step(workspace: Workspace, step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise DocumentError("Each waterfall step is an object with at least a “request”.")
    unknown = sorted(set(step) - STEP_KEYS)
    if unknown:
        raise DocumentError(f"Unknown keys in a waterfall step: {', '.join(unknown)}.")
    account = _account(workspace, step.get("account"))
    found = {
        key: step[key] for key in ("label", "request", "only_run_if", "valid_if") if key in step
    }
    found["account"] = account.pk if account else None
    found["token_fields"] = {key: step[key] for key in TOKEN_KEYS if key in step}
    return found


def _account(workspace: Workspace, name: Any) -> Account | None:
    if name in (None, ""):
        return None
    accounts = Account.objects.filter(workspace=workspace)
    found = accounts.filter(name=str(name)).first()
    if found is None and str(name).isdigit():
        found = accounts.filter(pk=int(str(name))).first()
    if found is None:
        raise DocumentError(f"No account named “{name}” in that workspace.")
    return found
