"""Reading settings from the environment: typed values and the embedded default's dev keys.

Every variable is read once, by ``enrich.settings``; this module only knows how to parse
them, so the rules (what counts as true, what a list looks like) live in one place.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def env_bool(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    """Parse a yes/no variable; anything but the usual spellings is a start-up error."""
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off (got {raw!r})."
    )


def env_int(environ: Mapping[str, str], name: str, *, default: int, minimum: int = 0) -> int:
    """Parse a whole-number variable with a lower bound."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {raw!r}).") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (got {value}).")
    return value


def env_list(environ: Mapping[str, str], name: str, *, default: list[str]) -> list[str]:
    """Parse a comma-separated variable into its non-empty, stripped items."""
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def dev_key(path: Path, generate: Callable[[], str]) -> str:
    """Return the key stored at ``path``, creating it on first use (embedded default only).

    The file is created with mode 0600 and never committed (``var/`` is ignored).
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    # O_EXCL: when web and worker start together, one of them writes and the other reads.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def new_secret_key() -> str:
    """A Django SECRET_KEY for local development."""
    return secrets.token_urlsafe(50)


def new_encryption_key() -> str:
    """A Fernet key (32 url-safe base64 bytes) for local development."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def require(environ: Mapping[str, str], name: str, *, why: str) -> str:
    """Return a variable that production cannot run without, or stop with a clear message."""
    value = environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} is not set: {why}")
    return value
