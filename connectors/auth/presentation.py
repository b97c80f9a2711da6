"""How an auth type describes itself, as plain data: how its fields are shown, what it can do,
and what "Test connection" found when it exercised the credentials.

The account form, the type picker, the account page and the column form read these off the
registered class (``auth_types.get(name)``), so a new type brings its own presentation and
nothing outside its module needs an ``if auth_type == …``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class FieldPresentation:
    """How one config field is shown. Whether it is secret (write-only) is the config model's
    to say (``secret_field``); its type, default and description come from the model too."""

    #: The form label; empty: the field name, capitalised, with spaces.
    label: str = ""
    #: Help shown under the field when the model gives it no description.
    help: str = ""
    #: The placeholder, and the "e.g. …" after the help.
    example: str = ""
    #: Tucked under "Advanced": the default suits most accounts.
    advanced: bool = False
    #: A multi-line text area (a PEM key, a canonical-string template).
    long_text: bool = False
    #: The values to choose from when the model's type does not list them (a ``Literal`` does).
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a type does besides adding credentials, for the pages and services that differ."""

    #: False only for a type that sends nothing (``none``): no allowed hosts to guard.
    sends_credentials: bool = True
    #: Fetches a token from an endpoint and caches it ("Test connection" fetches a fresh one).
    fetches_token: bool = False
    #: Signs with a key pair its config holds as ``private_key``/``algorithm``/``jwt_headers``
    #: (``SigningKeyConfig``): Enrich can generate the pair and publish the public key (JWKS).
    signs_with_key_pair: bool = False
    #: The fields a column may set for itself (they default to the account's), or None.
    column_fields: type[BaseModel] | None = None


@dataclass(frozen=True)
class ExerciseResult:
    """What "Test connection" found before any test request: a sentence for the user, debug
    entries for the result panel (never a secret), and whether only a test URL can tell if an
    API accepts the credentials (nothing was checked with a server)."""

    message: str
    debug: Mapping[str, Any] = field(default_factory=dict)
    needs_test_url: bool = False
