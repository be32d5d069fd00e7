"""Exceptions raised by the Resend client, and the one function that builds them.

    ResendError
    ├── TransportError            no usable response: connect/read failure, timeout
    └── APIError                  Resend answered with an error status
        ├── AuthenticationError   missing, invalid, restricted or suspended API key
        ├── InvalidRequestError   the request itself is wrong (400/405/422)
        ├── NotFoundError         404
        ├── ConflictError         409
        ├── RateLimitError        429 rate_limit_exceeded (retried before it is raised)
        ├── QuotaExceededError    429 daily/monthly quota (never retried)
        ├── ServerError           5xx
        └── UnexpectedResponseError  a success whose body has a shape we cannot read
            └── ListTooLongError      a list that goes on past the bound this client reads

"No response" and "bad response" stay apart on purpose: after a transport failure a
write may or may not have happened, after an API error it did not.

No exception here ever holds the API key: the client never passes request headers in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "ListTooLongError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "ResendError",
    "ServerError",
    "TransportError",
    "UnexpectedResponseError",
    "error_from_response",
]


class ResendError(Exception):
    """Base class of every error the Resend client raises."""


class TransportError(ResendError):
    """The request got no usable response (connection failure, timeout, cut-off body).

    `sent` is False when the request surely never reached the server (it could not
    connect), True when it may have been received and acted on.
    """

    def __init__(self, message: str, *, attempts: int = 1, sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.sent = sent


class APIError(ResendError):
    """Resend answered with an error status.

    `name` is Resend's machine-readable error name (`not_found`, `validation_error`, ...);
    `message` is Resend's human text; `retry_after` is the server's requested wait in
    seconds when it gave one.
    """

    def __init__(
        self,
        status_code: int,
        name: str,
        message: str,
        *,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{name} ({status_code}): {message}")
        self.status_code = status_code
        self.name = name
        self.message = message
        self.retry_after = retry_after
        self.attempts = attempts


class AuthenticationError(APIError):
    """The API key is missing, invalid, lacks permission, or is suspended."""


class InvalidRequestError(APIError):
    """The request is malformed or fails Resend's validation; retrying cannot help."""


class NotFoundError(APIError):
    """The endpoint or the resource does not exist."""


class ConflictError(APIError):
    """A concurrent request or an idempotency conflict blocked this one."""


class RateLimitError(APIError):
    """The team's per-second request limit was exceeded."""


class QuotaExceededError(APIError):
    """A daily or monthly quota is used up; waiting seconds will not help."""


class ServerError(APIError):
    """Resend failed on its side (5xx)."""


class UnexpectedResponseError(APIError):
    """Resend answered with success, but in a shape this client cannot read.

    `endpoint` is the call as a template (`GET /contacts/{id}`), never with the ids or
    emails of the actual request. A write that got such an answer may have happened.
    """

    def __init__(self, status_code: int, endpoint: str, problem: str) -> None:
        super().__init__(
            status_code,
            "unexpected_response",
            f"The answer to {endpoint} has an unexpected shape ({problem}).",
        )
        self.endpoint = endpoint


class ListTooLongError(UnexpectedResponseError):
    """A list that went on past the most this client reads of one listing.

    `bound` says how far that is, in words ("1,000 pages", "1,000,000 contacts"); `of`
    names what was listed ("contacts" for the account's or a segment's contact list,
    whose bound is a setting; None for every other list).
    """

    def __init__(self, endpoint: str, bound: str, *, of: str | None = None) -> None:
        super().__init__(200, endpoint, f"the list goes on past {bound}")
        self.bound = bound
        self.of = of


_AUTH_NAMES = frozenset(
    {
        "missing_api_key",
        "invalid_api_key",
        "restricted_api_key",
        "suspended_api_key",
        "invalid_permission",
    }
)
_QUOTA_NAMES = frozenset({"daily_quota_exceeded", "monthly_quota_exceeded"})
# Resend reports a bad key as a 400 validation_error on non-sending endpoints
# (resend-node PR #617); the message is the only thing that tells it apart.
_INVALID_KEY_MESSAGE = "api key is invalid"

_FALLBACK_NAMES = {
    400: "validation_error",
    401: "missing_api_key",
    403: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "rate_limit_exceeded",
}


def error_from_response(
    status_code: int,
    body: bytes,
    *,
    retry_after: float | None = None,
) -> APIError:
    """Turn an error response into the matching `APIError` subclass.

    Keys on the HTTP status first and Resend's `name` second, because non-JSON bodies
    (Cloudflare, proxies, HTML 5xx pages) carry no name at all. Never raises.
    """
    name, message = _parse_error_body(body)
    if name is None:
        name = _FALLBACK_NAMES.get(status_code, "application_error")
    if message is None:
        message = _default_message(status_code)
    cls = _error_class(status_code, name, message)
    return cls(status_code, name, message, retry_after=retry_after)


def _parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    name = data.get("name")
    message = data.get("message")
    return (
        name if isinstance(name, str) and name else None,
        message if isinstance(message, str) and message else None,
    )


def _default_message(status_code: int) -> str:
    if status_code == 403:
        return "Request blocked before reaching the API (check the User-Agent and API key)."
    if status_code >= 500:
        return "The API failed with an unexpected server error."
    return f"The API answered HTTP {status_code} without details."


def _error_class(status_code: int, name: str, message: str) -> type[APIError]:
    if name in _AUTH_NAMES or status_code == 401:
        return AuthenticationError
    if name == "validation_error" and message.lower().startswith(_INVALID_KEY_MESSAGE):
        return AuthenticationError
    if name in _QUOTA_NAMES:
        return QuotaExceededError
    if status_code == 429:
        return RateLimitError
    if status_code == 404:
        return NotFoundError
    if status_code == 409:
        return ConflictError
    if status_code >= 500:
        return ServerError
    if status_code == 403:
        return AuthenticationError
    return InvalidRequestError
