"""Connection accounts: create, edit, delete, generate key pairs; list them with their uses.

The auth type's pydantic model (``connectors.auth_types``) validates every change, once;
``InvalidAccountConfig`` carries its messages by field. Secret fields (the ones the model marks
secret) are split off and stored encrypted; everything else is plain JSON in ``config``.
Field keys are the auth document's keys, as in ``python -m connectors send``'s ``auth``
(an alias such as ``in`` where the model has one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import IntegrityError, models, transaction
from django.db.models import Prefetch, ProtectedError
from pydantic import ValidationError

from accounts import crypto
from accounts.exceptions import (
    AccountInUse,
    AccountNameTaken,
    AccountNotFound,
    DecryptionError,
    InvalidAccountConfig,
    KeyPairNotSupported,
)
from accounts.key_pairs import KEY_PAIR_ALGORITHMS, generate_key_pair, public_jwk
from accounts.models import Account, Workspace
from accounts.object_ids import parse_id
from connectors import AuthConfig, ConfigError, RequestConfig, auth_types
from connectors.auth import SigningKeyConfig
from connectors.auth.signing import HMAC_ALGORITHMS
from connectors.url_parts import endpoint_host

_NAME_MAX = Account.NAME_MAX_LENGTH


@dataclass(frozen=True)
class AccountChange:
    """A saved account and the warnings worth showing (e.g. a weak signing key)."""

    account: Account
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ColumnUse:
    """A column that uses an account, for the list and for refusals."""

    label: str
    table_id: int | None
    table_name: str

    def __str__(self) -> str:
        return f"{self.label} ({self.table_name})" if self.table_name else self.label


@dataclass(frozen=True)
class AccountListItem:
    account: Account
    uses: list[ColumnUse]


# --- The document: config + secrets -------------------------------------------------------


def document_key(name: str, info: Any) -> str:
    """A field's key in the auth document: its alias when it has one (``in``), else its name."""
    return info.alias or name


def secret_keys(auth_type: str) -> frozenset[str]:
    """The document keys of the type's secret fields."""
    model = auth_types.get(auth_type).config_model
    return frozenset(document_key(name, model.model_fields[name]) for name in model.secret_fields())


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def account_document(*, account: Account) -> dict[str, Any]:
    """The account's complete auth document (``type``, config and decrypted secrets)."""
    document: dict[str, Any] = {"type": account.auth_type, **account.config}
    if account.secrets_ciphertext:
        try:
            plaintext = crypto.decrypt(account.secrets_ciphertext, binding=account.secrets_binding)
        except DecryptionError as error:
            raise error.about(f"The secrets of the account “{account.name}”") from None
        document.update(json.loads(plaintext))
    return document


#: Keys (API keys, client secrets, HMAC secrets) shorter than this are refused on save.
MIN_KEY_LENGTH = 8


def _validate(auth_type: str, document: Mapping[str, Any]) -> AuthConfig:
    try:
        auth_class = auth_types.get(auth_type)
    except ConfigError as exc:
        raise InvalidAccountConfig({"type": [exc.message.removeprefix("auth.type: ")]}) from None
    try:
        config = auth_class.config_model.model_validate({**document, "type": auth_type})
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        # Input values are left out of the messages: they may be secrets.
        for error in exc.errors(include_input=False, include_url=False):
            location = error["loc"]
            # A message about the whole config goes next to the field the type says it is about.
            key = str(location[0]) if location else auth_class.model_error_field
            message = error["msg"].removeprefix("Value error, ")
            if len(location) > 1:
                message = f"{'.'.join(str(part) for part in location[1:])}: {message}"
            errors.setdefault(key, []).append(message)
        raise InvalidAccountConfig(errors) from None
    short = {
        name: [
            f"Use at least {MIN_KEY_LENGTH} characters: a shorter key is not a real credential, "
            "and could not be masked safely wherever it comes back."
        ]
        for name, value in config.key_credentials().items()
        if len(value) < MIN_KEY_LENGTH
    }
    if short:
        raise InvalidAccountConfig(short)
    return config


def _checked_name(workspace: Workspace, name: str, *, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidAccountConfig({"name": ["Give the account a name."]})
    if "\x00" in name:
        raise InvalidAccountConfig({"name": ["The name holds a NUL character (\\x00)."]})
    if len(name) > _NAME_MAX:
        raise InvalidAccountConfig({"name": [f"Use at most {_NAME_MAX} characters."]})
    taken = Account.objects.filter(workspace=workspace, name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise AccountNameTaken(name)
    return name


def _checked_test_url(test_url: str) -> str:
    test_url = (test_url or "").strip()
    if test_url:
        try:
            RequestConfig(endpoint=test_url)
        except ValidationError as exc:
            messages = [e["msg"].removeprefix("Value error, ") for e in exc.errors()]
            raise InvalidAccountConfig({"test_url": messages}) from None
    return test_url


def signs_with_key_pair(auth_type: str) -> bool:
    """Whether accounts of ``auth_type`` sign with a key pair Enrich can generate and publish."""
    return auth_types.get(auth_type).capabilities.signs_with_key_pair


def _public_jwk(config: AuthConfig) -> dict[str, Any] | None:
    if not signs_with_key_pair(config.type):
        return None
    signing = cast(SigningKeyConfig, config)
    if signing.algorithm in HMAC_ALGORITHMS:
        return None
    kid = signing.jwt_headers.get("kid")
    # The JWKS names the key by the kid the JWTs carry, so an API can pick it out.
    return public_jwk(signing.private_key, signing.algorithm, kid=str(kid) if kid else None)


def _store(account: Account, config: AuthConfig) -> None:
    """Split a validated config into the account's plain and encrypted parts."""
    model = type(config)
    secret_names = set(model.secret_fields())
    account.config = config.model_dump(mode="json", by_alias=True, exclude={"type", *secret_names})
    secrets = {
        document_key(name, model.model_fields[name]): value
        for name, value in config.model_dump(mode="json", include=secret_names).items()
        if not _is_empty(value)
    }
    account.secret_fields_set = sorted(secrets)
    account.secrets_ciphertext = (
        crypto.encrypt(json.dumps(secrets), binding=account.secrets_binding) if secrets else ""
    )
    account.public_jwk = _public_jwk(config)


def _with_generated_key(document: dict[str, Any], algorithm: str) -> dict[str, Any]:
    if algorithm not in KEY_PAIR_ALGORITHMS:
        raise InvalidAccountConfig(
            {"generate_key": [f"Choose one of {', '.join(KEY_PAIR_ALGORITHMS)}."]}
        )
    pair = generate_key_pair(algorithm)
    headers = dict(document.get("jwt_headers") or {})
    headers["kid"] = pair.public_jwk["kid"]
    return {
        **document,
        "private_key": pair.private_pem,
        "algorithm": algorithm,
        "jwt_headers": headers,
    }


def _saved(account: Account) -> None:
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        # Two saves raced past the name check; the constraint decides.
        raise AccountNameTaken(account.name) from None


# --- Services ---------------------------------------------------------------------------


def _all_valid(**checks: Callable[[], Any]) -> dict[str, Any]:
    """Run every check, so a form shows every problem at once; return their results."""
    results: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for label, check in checks.items():
        try:
            results[label] = check()
        except InvalidAccountConfig as exc:
            for key, messages in exc.field_errors.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise InvalidAccountConfig(errors)
    return results


def account_create(
    *,
    workspace: Workspace,
    name: str,
    auth_type: str,
    fields: Mapping[str, Any],
    created_by: User | None = None,
    test_url: str = "",
    generate_key: str = "",
) -> AccountChange:
    """Validate and save a new account; ``generate_key`` (RS256, ES256, EdDSA) makes its
    signing key pair instead of a pasted one."""
    document = {key: value for key, value in fields.items() if key != "type"}
    if generate_key:
        if not signs_with_key_pair(auth_type):
            raise KeyPairNotSupported(auth_type)
        document = _with_generated_key(document, generate_key)
    valid = _all_valid(
        name=lambda: _checked_name(workspace, name),
        test_url=lambda: _checked_test_url(test_url),
        config=lambda: _validate(auth_type, document),
    )
    valid["config"] = _with_proposed_hosts(valid["config"], test_url=valid["test_url"])
    account = Account(
        workspace=workspace,
        name=valid["name"],
        auth_type=auth_type,
        test_url=valid["test_url"],
        created_by=created_by,
        updated_by=created_by,
    )
    _store(account, valid["config"])
    _saved(account)
    return AccountChange(account, valid["config"].save_warnings())


def _with_proposed_hosts(config: AuthConfig, *, test_url: str) -> AuthConfig:
    """``config`` with allowed hosts proposed when the owner gave none: the hosts its token
    endpoint and test URL name, where the credentials evidently go. The account page shows
    them; the owner edits them, and an owner's first column adds its own host."""
    if config.allowed_hosts:
        return config
    proposed: list[str] = []
    for url in (*config.endpoint_urls(), test_url):
        host = endpoint_host(url) if url else None
        if host and host not in proposed:
            proposed.append(host)
    if not proposed:
        return config
    try:
        return type(config).model_validate(
            {**config.model_dump(mode="json", by_alias=True), "allowed_hosts": proposed}
        )
    except ValidationError:  # e.g. an IPv6 literal, which is no host name to allow
        return config


def account_allow_hosts(
    *, account: Account, hosts: Collection[str], updated_by: User | None = None
) -> AccountChange:
    """Add ``hosts`` to where the account's credentials may be sent (an owner's column that
    points the account at a new host): the list is the owners' decision, made as they go."""
    allowed = list(account.config.get("allowed_hosts") or [])
    added = [host for host in hosts if host and host not in allowed]
    if not added:
        return AccountChange(account)
    return account_update(
        account=account, fields={"allowed_hosts": [*allowed, *added]}, updated_by=updated_by
    )


def account_update(
    *,
    account: Account,
    fields: Mapping[str, Any],
    name: str | None = None,
    test_url: str | None = None,
    clear: Collection[str] = (),
    updated_by: User | None = None,
) -> AccountChange:
    """Change an account's fields. An empty secret field keeps its value; ``clear`` removes
    optional secret values. Every column using the account sees the change on its next run."""
    secrets = secret_keys(account.auth_type)
    document = account_document(account=account)
    for key, value in fields.items():
        if key == "type" or (key in secrets and _is_empty(value)):
            continue
        document[key] = value
    for key in clear:
        if key in secrets:
            document.pop(key, None)
    valid = _all_valid(
        name=lambda: (
            account.name
            if name is None
            else _checked_name(account.workspace, name, exclude_pk=account.pk)
        ),
        test_url=lambda: account.test_url if test_url is None else _checked_test_url(test_url),
        config=lambda: _validate(account.auth_type, document),
    )
    account.name, account.test_url = valid["name"], valid["test_url"]
    account.updated_by = updated_by
    _store(account, valid["config"])
    _saved(account)
    return AccountChange(account, valid["config"].save_warnings())


def account_generate_key_pair(
    *, account: Account, algorithm: str, updated_by: User | None = None
) -> AccountChange:
    """Give a signed-JWT account a new key pair (the private key replaces the current one and
    is stored encrypted; the JWT header ``kid`` becomes the new key's thumbprint)."""
    if not signs_with_key_pair(account.auth_type):
        raise KeyPairNotSupported(account.auth_type)
    document = _with_generated_key(account_document(account=account), algorithm)
    config = _validate(account.auth_type, document)
    account.updated_by = updated_by
    _store(account, config)
    _saved(account)
    return AccountChange(account, config.save_warnings())


def account_delete(*, account: Account) -> None:
    """Delete an account no column uses; ``AccountInUse`` names the columns otherwise."""
    uses = account_column_uses(account=account)
    if uses:
        raise AccountInUse(account.name, [str(use) for use in uses])
    try:
        account.delete()
    except ProtectedError as exc:
        # A column started using the account after the check above.
        raise account_in_use(account, exc) from None


def account_in_use(account: Account, exc: ProtectedError) -> AccountInUse:
    """The user's message for a delete the database refused (columns still point at it)."""
    return AccountInUse(account.name, [str(_column_use(obj)) for obj in exc.protected_objects])


# --- Selectors ----------------------------------------------------------------------------


def _columns_relation() -> models.ForeignObjectRel | None:
    """The reverse relation named ``columns`` from what columns keep their account on (the
    enrichment column), once it exists."""
    for relation in Account._meta.related_objects:
        if relation.get_accessor_name() == "columns":
            return relation
    return None


def _table_path(model: type[models.Model]) -> str | None:
    """How to reach the table from the related object: ``table``, or ``column__table`` when
    it wraps a table column."""
    names = {f.name for f in model._meta.get_fields()}
    if "table" in names:
        return "table"
    if "column" in names:
        return "column__table"
    return None


def _column_use(related: Any) -> ColumnUse:
    inner = getattr(related, "column", None)
    column = inner if inner is not None and hasattr(inner, "table") else related
    table = getattr(column, "table", None)
    return ColumnUse(
        label=str(getattr(column, "label", column)),
        table_id=getattr(table, "pk", None),
        table_name=str(getattr(table, "name", "")),
    )


def _uses_queryset(relation: models.ForeignObjectRel, queryset: Any) -> Any:
    path = _table_path(relation.related_model)
    if path is None:
        return queryset
    return queryset.select_related(path).order_by(f"{path}__name", "pk")


def account_column_uses(*, account: Account) -> list[ColumnUse]:
    """The columns that use ``account``, with their tables: one query."""
    relation = _columns_relation()
    if relation is None:
        return []
    return [_column_use(c) for c in _uses_queryset(relation, account.columns.all())]


def accounts_for_list(*, workspace: Workspace) -> list[AccountListItem]:
    """The workspace's accounts by name with the columns using each: two queries."""
    queryset = Account.objects.filter(workspace=workspace).select_related("updated_by")
    relation = _columns_relation()
    if relation is not None:
        uses = _uses_queryset(relation, relation.related_model._default_manager.all())
        queryset = queryset.prefetch_related(Prefetch("columns", queryset=uses))
    items = []
    for account in queryset.order_by("name"):
        uses = [_column_use(c) for c in account.columns.all()] if relation is not None else []
        items.append(AccountListItem(account=account, uses=uses))
    return items


def account_named(*, workspace: Workspace, name: str) -> Account:
    """The workspace's account called ``name`` (or with that id); ``AccountNotFound`` else."""
    accounts = Account.objects.filter(workspace=workspace).select_related("workspace")
    found = accounts.filter(name=name).first()
    if found is None and (account_id := parse_id(name)):
        found = accounts.filter(pk=account_id).first()
    if found is None:
        raise AccountNotFound(name)
    return found
