"""The errors the request engine reports.

Every error carries a one-line ``message`` a user can act on and a stable ``code`` that callers
store (a cell's status, the CLI's debug record). Messages never contain secret values: they are
written without them, and the engine masks every known secret in them once more before a result
leaves the package.
"""

from __future__ import annotations

from collections.abc import Callable


class ConnectorError(Exception):
    """Base of every error the connectors package reports to users."""

    code = "error"
    default_message = "The request failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def mask(self, masker: Callable[[str], str]) -> None:
        """Rewrite the message through ``masker`` (used to hide secret values defensively)."""
        self.message = masker(self.message)
        self.args = (self.message,)


class ConfigError(ConnectorError):
    """The request or auth configuration is invalid."""

    code = "config"
    default_message = "The request configuration is invalid."


class TemplateError(ConnectorError):
    """A template could not be rendered (syntax, a missing value, a sandbox limit)."""

    code = "template"
    default_message = "A template could not be rendered."


class AuthError(ConnectorError):
    """Credentials could not be obtained or were refused (used by the auth types)."""

    code = "auth"
    default_message = "Authentication failed."


class CredentialsRefused(AuthError):
    """The token endpoint refused the credentials, or answered in a shape no retry changes
    (the token is not where the token location says). Held for a while, not retried per row."""


class BlockedAddressError(ConnectorError):
    """The destination is not allowed: a private/reserved address or a non-http(s) URL."""

    code = "blocked_address"
    default_message = "The destination address is not allowed."


class NetworkError(ConnectorError):
    """The connection failed or broke before a complete answer arrived."""

    code = "network"
    default_message = "Could not reach the API."


class RequestTimeoutError(NetworkError):
    """The API did not answer in time."""

    code = "timeout"
    default_message = "The API did not answer in time."


class ResponseTooLargeError(ConnectorError):
    """The answer is larger than ``max_response_bytes``."""

    code = "response_too_large"
    default_message = "The API's answer is too large."

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(
            f"The API's answer is larger than the {limit_bytes:,} byte limit "
            "(raise max_response_bytes or ask for less data)."
        )


class UpstreamStatusError(ConnectorError):
    """The API answered with a status that is not a success."""

    code = "upstream_status"
    default_message = "The API answered with an error."

    def __init__(self, status: int, reason: str = "") -> None:
        self.status = status
        text = f"{status} {reason}".strip()
        hint = _STATUS_HINTS.get(status, "")
        super().__init__(f"The API answered {text}.{hint}")


_STATUS_HINTS = {
    401: " Check the account's credentials.",
    403: " The account is not allowed to do this.",
    404: " Check the endpoint URL.",
    429: " The API's rate limit was hit; lower the column's rate limit.",
}


class TooManyRedirectsError(ConnectorError):
    """The API redirected more often than ``max_redirects`` allows."""

    code = "too_many_redirects"
    default_message = "The API redirected too many times."

    def __init__(self, max_redirects: int) -> None:
        self.max_redirects = max_redirects
        super().__init__(f"The API redirected more than {max_redirects} times (max_redirects).")


class RateLimitTimeoutError(ConnectorError):
    """No rate-limit slot became free within ``rate_limit.max_wait_s``."""

    code = "rate_limit_timeout"
    default_message = "Waited too long for the rate limit."

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        super().__init__(
            f"No rate-limit slot was free within {max_wait_s:g} s (rate_limit.max_wait_s)."
        )
