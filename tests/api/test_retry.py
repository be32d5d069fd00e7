"""Retry classification, backoff and Retry-After parsing (pure functions)."""

import email.utils
import json

import pytest

from contacts_mcp.api.errors import error_from_response
from contacts_mcp.api.retry import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_DELAY,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)

NOW = 1_696_004_797.0


def fixed_now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "20"}, 20.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 3 "}, 3.0),
        ({"retry-after": "-10"}, None),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "121"}, 121.0),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "garbage"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "1" * 35}, float("1" * 35)),
        ({"retry-after": email.utils.formatdate(NOW + 10)}, 10.0),
        ({"retry-after": email.utils.formatdate(NOW - 10)}, 0.0),
        ({"retry-after": "Fri, 29 Sep 100000 16:26:57 GMT"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "x", "retry-after": "9"}, 9.0),
        ({"ratelimit-reset": "1"}, 1.0),
        ({"retry-after": "2", "ratelimit-reset": "1"}, 2.0),
        ({"ratelimit-reset": "soon"}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    result = parse_retry_after(headers, now=fixed_now)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, rel=1e-9, abs=1.0)


def resend_error(status: int, name: str) -> bytes:
    return json.dumps({"statusCode": status, "name": name, "message": "m"}).encode()


@pytest.mark.parametrize(
    ("status", "name", "retry"),
    [
        (429, "rate_limit_exceeded", True),
        (429, "daily_quota_exceeded", False),
        (429, "monthly_quota_exceeded", False),
        (500, "application_error", True),
        (500, "internal_server_error", True),
        (502, "application_error", True),
        (503, "service_unavailable", True),
        (504, "gateway_timeout", True),
        (501, "application_error", False),
        (409, "concurrent_idempotent_requests", True),
        (409, "resource_locked", True),
        (409, "invalid_idempotent_request", False),
        (408, "request_timeout", True),
        (400, "validation_error", False),
        (401, "missing_api_key", False),
        (403, "invalid_api_key", False),
        (404, "not_found", False),
        (405, "method_not_allowed", False),
        (422, "missing_required_field", False),
        (422, "validation_error", False),
    ],
)
def test_only_transient_failures_are_retried(status: int, name: str, retry: bool) -> None:
    assert is_retryable(error_from_response(status, resend_error(status, name))) is retry


def test_every_status_without_a_body_is_classified_without_error() -> None:
    retried = {
        status for status in range(400, 600) if is_retryable(error_from_response(status, b""))
    }
    assert retried == {408, 429, 500, 502, 503, 504}


@pytest.mark.parametrize("retries_taken", [0, 1, 2, 3, 4, 5, 10, 1000])
def test_backoff_doubles_up_to_the_cap_with_bounded_jitter(retries_taken: int) -> None:
    base = min(INITIAL_RETRY_DELAY * 2 ** min(retries_taken, 32), MAX_RETRY_DELAY)
    samples = [backoff_delay(retries_taken, i / 1000) for i in range(1000)]
    assert all(0.75 * base <= s <= base for s in samples)
    assert len(set(samples)) >= 50
