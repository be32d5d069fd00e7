"""error_from_response: every Resend error name lands in the right exception class."""

import json

import pytest

from contacts_mcp.api.errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    error_from_response,
)


def body(status: int, name: str, message: str = "msg") -> bytes:
    return json.dumps({"statusCode": status, "message": message, "name": name}).encode()


# Every name in shared/reference/resend-contacts-api.md §3.2, with the status Resend uses.
RESEND_ERRORS = [
    (400, "invalid_idempotency_key", InvalidRequestError),
    (400, "validation_error", InvalidRequestError),
    (422, "validation_error", InvalidRequestError),
    (403, "validation_error", AuthenticationError),
    (401, "missing_api_key", AuthenticationError),
    (401, "restricted_api_key", AuthenticationError),
    (403, "restricted_api_key", AuthenticationError),
    (403, "invalid_api_key", AuthenticationError),
    (403, "suspended_api_key", AuthenticationError),
    (403, "invalid_permission", AuthenticationError),
    (403, "email_above_quota", AuthenticationError),
    (403, "invalid_from_address", AuthenticationError),
    (404, "not_found", NotFoundError),
    (405, "method_not_allowed", InvalidRequestError),
    (409, "concurrent_idempotent_requests", ConflictError),
    (409, "invalid_idempotent_request", ConflictError),
    (409, "resource_locked", ConflictError),
    (422, "invalid_attachment", InvalidRequestError),
    (422, "invalid_parameter", InvalidRequestError),
    (422, "invalid_access", InvalidRequestError),
    (422, "invalid_region", InvalidRequestError),
    (422, "missing_required_field", InvalidRequestError),
    (422, "missing_required_fields", InvalidRequestError),
    (422, "missing_required_parameter", InvalidRequestError),
    (429, "daily_quota_exceeded", QuotaExceededError),
    (429, "monthly_quota_exceeded", QuotaExceededError),
    (429, "rate_limit_exceeded", RateLimitError),
    (500, "application_error", ServerError),
    (500, "internal_server_error", ServerError),
    (503, "service_unavailable", ServerError),
    (504, "gateway_timeout", ServerError),
    (500, "security_error", ServerError),
]


@pytest.mark.parametrize(("status", "name", "expected"), RESEND_ERRORS)
def test_each_resend_error_name_maps_to_its_class(
    status: int, name: str, expected: type[APIError]
) -> None:
    error = error_from_response(status, body(status, name, "Something specific"))
    assert type(error) is expected
    assert (error.status_code, error.name, error.message) == (status, name, "Something specific")


def test_invalid_key_reported_as_validation_error_is_an_authentication_error() -> None:
    error = error_from_response(400, body(400, "validation_error", "API key is invalid"))
    assert isinstance(error, AuthenticationError)


@pytest.mark.parametrize(
    ("status", "raw", "expected", "name"),
    [
        (403, b"error code: 1010", AuthenticationError, "invalid_api_key"),
        (502, b"<html>Bad gateway</html>", ServerError, "application_error"),
        (500, b"", ServerError, "application_error"),
        (404, b"[1, 2]", NotFoundError, "not_found"),
        (429, b"{not json", RateLimitError, "rate_limit_exceeded"),
        (418, b"{}", InvalidRequestError, "application_error"),
    ],
)
def test_non_json_bodies_are_classified_by_status(
    status: int, raw: bytes, expected: type[APIError], name: str
) -> None:
    error = error_from_response(status, raw)
    assert type(error) is expected
    assert error.name == name
    assert error.message  # always something readable


def test_retry_after_is_kept_on_the_error() -> None:
    error = error_from_response(429, body(429, "rate_limit_exceeded"), retry_after=2.0)
    assert error.retry_after == 2.0
