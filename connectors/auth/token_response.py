"""Reading a token endpoint's answer: where the token is and how long it lives.

Shared by every type that fetches a token (OAuth client credentials, RFC 7523 JWT bearer,
JWT from a token endpoint), so the error messages and lifetimes agree across them.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from connectors.errors import CredentialsRefused
from connectors.filtering import get_path

#: Lifetime assumed when neither the JWT nor the answer says (Clay uses the same default).
DEFAULT_LIFETIME_S = 55 * 60
#: Never cache a token for less than this, so a clock off by a little cannot cause a loop.
MIN_LIFETIME_S = 1.0


def parse_path(path: str) -> tuple[str, ...]:
    """``"data.token"`` → ``("data", "token")``; list indices are segments too (``items.0``)."""
    return tuple(segment.strip() for segment in path.strip().split(".") if segment.strip())


def token_at_path(payload: Any, path: str, *, endpoint: str) -> str:
    """The token found at ``path`` in a parsed answer, or the error that helps fix the path.

    The hint names the path tried and the top-level keys that did come back — never their
    values, which may be the very secrets this avoids printing.
    """
    value = get_path(payload, parse_path(path))
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(payload, dict):
        keys = ", ".join(sorted(str(key) for key in payload)) or "none"
        found = f"the answer's top-level keys are: {keys}"
    else:
        found = f"the answer is {_json_kind(payload)}, not an object"
    raise CredentialsRefused(
        f"Please fill out your auth fields: the token location “{path}” found "
        f"{_json_kind(value)} in the answer of {endpoint}; {found}."
    )


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words, without showing it."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return "an empty string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT read without verifying it (it is ours to send, not to trust)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def expires_in(payload: Any) -> float | None:
    """The answer's ``expires_in`` in seconds (number or numeric text), if it has one."""
    if not isinstance(payload, dict):
        return None
    value = payload.get("expires_in")
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def token_lifetime(
    token: str, payload: Any, *, fallback_s: float = DEFAULT_LIFETIME_S, now: float | None = None
) -> float:
    """How long to trust ``token``: its own ``exp`` if it is a JWT with one, else the
    answer's ``expires_in``, else ``fallback_s``."""
    now = time.time() if now is None else now
    exp = jwt_expiry(token)
    if exp is not None:
        return max(MIN_LIFETIME_S, exp - now)
    seconds = expires_in(payload)
    if seconds is not None:
        return max(MIN_LIFETIME_S, seconds)
    return fallback_s
