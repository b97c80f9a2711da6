"""How each auth type's fields are presented, read off the registered type.

The config model says which fields exist, their types, defaults, descriptions and which are
secret; the type's ``field_presentation`` adds what a form needs besides: a readable label, an
example, which fields are advanced. A field added to a model appears in the form without
touching this file, and a new type brings its own presentation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args, get_origin

from pydantic import HttpUrl
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from connectors import auth_types
from connectors.auth import FieldPresentation


class FieldKind(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    URL = "url"
    NUMBER = "number"
    CHOICE = "choice"
    JSON = "json"
    LIST = "list"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class FieldSpec:
    """One field of an auth type as a form shows it."""

    key: str  # the auth document's key (the alias where there is one)
    label: str
    kind: FieldKind
    required: bool
    secret: bool
    advanced: bool
    help_text: str
    example: str
    default: Any
    choices: tuple[str, ...] = ()

    def display(self, value: Any) -> str:
        """A non-secret value as text in a form or a read-only view."""
        if value is None or value is PydanticUndefined:
            return ""
        if self.kind == FieldKind.JSON:
            return json.dumps(value, indent=2, ensure_ascii=False) if value else ""
        if self.kind == FieldKind.LIST:
            return ", ".join(str(item) for item in value)
        return str(value)


def _kind(info: FieldInfo, shown: FieldPresentation) -> tuple[FieldKind, tuple[str, ...]]:
    annotation = info.annotation
    origin = get_origin(annotation)
    if shown.choices:
        return FieldKind.CHOICE, shown.choices
    if origin is Literal:
        return FieldKind.CHOICE, tuple(str(arg) for arg in get_args(annotation))
    if origin is dict:
        return FieldKind.JSON, ()
    if origin is tuple or origin is list:
        return FieldKind.LIST, ()
    if annotation is bool:
        return FieldKind.BOOLEAN, ()
    if annotation is int or annotation is float:
        return FieldKind.NUMBER, ()
    if annotation is HttpUrl:
        return FieldKind.URL, ()
    return (FieldKind.LONG_TEXT if shown.long_text else FieldKind.TEXT), ()


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def field_specs(auth_type: str) -> list[FieldSpec]:
    """The type's fields in the model's order, the common ``allowed_hosts`` last."""
    auth_class = auth_types.get(auth_type)
    model = auth_class.config_model
    secret = set(model.secret_fields())
    specs = []
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        shown = auth_class.presented_field(name)
        kind, choices = _kind(info, shown)
        specs.append(
            FieldSpec(
                key=info.alias or name,
                label=shown.label or name.replace("_", " ").capitalize(),
                kind=kind,
                required=info.is_required(),
                secret=name in secret,
                advanced=shown.advanced,
                help_text=info.description or shown.help,
                example=shown.example,
                default=_default(info),
                choices=choices,
            )
        )
    specs.sort(key=lambda spec: spec.key == "allowed_hosts")
    return specs
