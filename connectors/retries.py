"""How long to wait before trying a request again."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

import httpx

from connectors.config import RetryConfig


def backoff_delay(retry: RetryConfig, failures: int) -> float:
    """Exponential backoff after ``failures`` failed attempts, with full jitter.

    Full jitter (a uniform wait between 0 and the exponential delay) spreads the retries of many
    workers that failed together, instead of sending them back in synchronised waves.
    """
    ceiling = min(retry.max_backoff_s, retry.backoff_s * 2 ** (failures - 1))
    return random.uniform(0, ceiling) if retry.jitter else ceiling  # noqa: S311 - not crypto


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date (RFC 9110
    section 10.2.3). None if the value is neither; a date in the past means 0."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means no zone was given
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def retry_delay(retry: RetryConfig, failures: int, response: httpx.Response | None) -> float:
    """The wait before the next attempt: ``Retry-After`` when the answer has a usable one
    (capped at ``max_retry_after_s``), else the backoff delay."""
    if response is not None and retry.respect_retry_after:
        header = response.headers.get("retry-after")
        if header is not None:
            asked = parse_retry_after(header)
            if asked is not None:
                return min(asked, retry.max_retry_after_s)
    return backoff_delay(retry, failures)
