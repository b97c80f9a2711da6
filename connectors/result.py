"""The outcome of one request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.debug import DebugRecord
from connectors.errors import ConnectorError


@dataclass
class Result:
    """Every outcome of ``send``: a success, an error answer or a failure before any answer."""

    ok: bool
    #: The final answer's status, or None when no answer arrived.
    status: int | None
    #: The final answer's headers (lower-case names).
    headers: dict[str, str]
    #: The parsed answer: JSON data, else text; None when empty or absent.
    body: Any
    #: ``body`` after ``field_paths``; None unless ``ok``.
    value: Any
    error: ConnectorError | None
    #: Attempts made (1 when the first try settled it).
    attempts: int
    elapsed_ms: float
    debug: DebugRecord = field(repr=False)
    #: HTTP requests sent to the API in all: every attempt and redirect hop, and a request
    #: the auth layer sent again after refreshing a refused token (token endpoints not counted).
    requests: int = 0

    def raise_for_error(self) -> None:
        """Raise the error, if there is one."""
        if self.error is not None:
            raise self.error

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``python -m connectors send``."""
        return {
            "ok": self.ok,
            "status": self.status,
            "value": self.value,
            "error": self.error.message if self.error is not None else None,
            "attempts": self.attempts,
            "requests": self.requests,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "debug": self.debug.to_dict(),
        }
