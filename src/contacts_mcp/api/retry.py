"""Which failures are retried, and how long to wait before the next attempt.

Pure functions so the decision table can be tested exhaustively without a network.
Figures follow the Stainless-generated SDKs (0.5 s base, doubling, 8 s cap, jitter of
[0.75, 1.0]) and Resend's error names (see shared/reference/reliability-and-security.md §1).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping

from contacts_mcp.api.errors import APIError, ConflictError, RateLimitError, ServerError

__all__ = [
    "INITIAL_RETRY_DELAY",
    "MAX_RETRY_DELAY",
    "backoff_delay",
    "is_retryable",
    "parse_retry_after",
]

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0

# 409s that mean "try again shortly" rather than "your request is wrong".
_TRANSIENT_CONFLICTS = frozenset({"concurrent_idempotent_requests", "resource_locked"})
# 5xx-range statuses that a retry can fix; 501 and 505 cannot be fixed by waiting.
_TRANSIENT_SERVER_STATUSES = frozenset({500, 502, 503, 504})


def is_retryable(error: APIError) -> bool:
    """True when the same request may succeed if sent again after a pause.

    Quota 429s, validation, auth and not-found errors are final.
    """
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, ServerError):
        return error.status_code in _TRANSIENT_SERVER_STATUSES
    if isinstance(error, ConflictError):
        return error.name in _TRANSIENT_CONFLICTS
    return error.status_code == 408


def backoff_delay(retries_taken: int, jitter: float) -> float:
    """Delay before retry number `retries_taken + 1`, given `jitter` drawn from [0, 1)."""
    exponent = min(retries_taken, 32)  # keeps 2**n finite for absurd counts
    base = min(INITIAL_RETRY_DELAY * 2.0**exponent, MAX_RETRY_DELAY)
    return base * (1.0 - 0.25 * jitter)


def parse_retry_after(
    headers: Mapping[str, str],
    *,
    now: Callable[[], float] = time.time,
) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (usably).

    Reads `retry-after-ms`, then `retry-after` as seconds or as an HTTP-date, then
    `ratelimit-reset` (seconds until the window resets). Negative, infinite, NaN and
    unparsable values count as "not said"; zero is a valid "retry now".
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        seconds = _parse_seconds(raw)
        if seconds is not None:
            return seconds * scale
        if name == "retry-after":
            seconds = _parse_http_date(raw, now)
            if seconds is not None:
                return seconds
    raw_reset = headers.get("ratelimit-reset")
    if raw_reset is not None:
        return _parse_seconds(raw_reset)
    return None


def _parse_seconds(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _parse_http_date(raw: str, now: Callable[[], float]) -> float | None:
    try:
        parsed = email.utils.parsedate_tz(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed is None:
        return None
    try:
        timestamp = email.utils.mktime_tz(parsed)
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, timestamp - now())
