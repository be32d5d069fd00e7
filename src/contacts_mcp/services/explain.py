"""Errors for the model to read: what went wrong and what to do next.

Services raise `UserFacingError`; the MCP layer passes its text on as a tool error. Client
exceptions are rewritten by `explain` so no raw API body, traceback or key ever shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from contacts_mcp.api.errors import (
    APIError,
    AuthenticationError,
    ListTooLongError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResendError,
    ServerError,
    TransportError,
    UnexpectedResponseError,
)
from contacts_mcp.text.sanitize import clean

__all__ = [
    "MAX_CONTACTS_SETTING",
    "NothingFoundError",
    "UserFacingError",
    "api_errors",
    "explain",
    "show",
]

# Where the server's `max_contacts` bound is set (`BackendConfig.max_contacts`), for the
# error that a listing went past it.
MAX_CONTACTS_SETTING = "CONTACTS_MCP_MAX_CONTACTS"


class UserFacingError(Exception):
    """A failure explained for the model or person at the other end, with a next step."""


class NothingFoundError(UserFacingError):
    """What was asked for (a contact, segment, topic, property) does not exist."""


def show(value: object, limit: int = 80) -> str:
    """A user-supplied value quoted safely for an error message."""
    return repr(clean(value, limit))


def explain(error: ResendError) -> UserFacingError:
    """Rewrite a client error for the model: what happened and what to do next.

    Resend's own message is included only cleaned and shortened, never the raw body.
    """
    if isinstance(error, TransportError):
        return UserFacingError(
            f"Could not get an answer from Resend ({error.message.rstrip('.')}, "
            f"{_attempts(error.attempts)}). Nothing is known to have changed; try again shortly."
        )
    if isinstance(error, AuthenticationError):
        return UserFacingError(
            f"Resend rejected the API key ({error.name}). Set RESEND_API_KEY to a "
            "full-access key; sending-only keys cannot manage contacts."
        )
    if isinstance(error, RateLimitError):
        wait = f"{error.retry_after:.0f} seconds" if error.retry_after else "a few seconds"
        return UserFacingError(
            f"Resend's rate limit is still exceeded after {_attempts(error.attempts)}. "
            f"Wait {wait}, then try again."
        )
    if isinstance(error, QuotaExceededError):
        return UserFacingError(
            f"Resend reports the account's quota is used up ({error.name}); waiting a few "
            "seconds will not help. Check the plan's limits in the Resend dashboard."
        )
    if isinstance(error, ServerError):
        return UserFacingError(
            f"Resend failed with a server error (HTTP {error.status_code}) after "
            f"{_attempts(error.attempts)}. Nothing is known to have changed; try again in a minute."
        )
    if isinstance(error, ListTooLongError):
        text = (
            f"Resend's list at {error.endpoint} went on past {error.bound}, the most this "
            "server reads of one list, so reading stopped there: nothing was changed, and "
            "what was read is not taken for the whole list."
        )
        if error.of == "contacts":
            text += (
                " If the account really holds more contacts than that, restart the server with "
                f"a higher bound ({MAX_CONTACTS_SETTING}=<number>) and try again: a sync "
                "goes on from where it stopped. Otherwise Resend is answering without end; "
                "try again later."
            )
        else:
            text += " Resend is answering without end; try again later."
        return UserFacingError(text)
    if isinstance(error, UnexpectedResponseError):
        return UserFacingError(
            f"{clean(error.message, 300)} This server may need an update for it. A read "
            "changed nothing; after a change, read the item again to see whether it happened."
        )
    if isinstance(error, NotFoundError):
        return UserFacingError(f"Resend could not find it: {clean(error.message, 200)}")
    if isinstance(error, APIError):
        return UserFacingError(f"Resend refused the request: {clean(error.message, 200)}")
    return UserFacingError("The request to Resend failed.")


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


@contextmanager
def api_errors(*, not_found: Callable[[], UserFacingError] | None = None) -> Iterator[None]:
    """Turn client exceptions raised inside the block into `UserFacingError`s.

    `not_found` words a 404 for what the block was looking for ("No contact 'x'...").
    """
    try:
        yield
    except NotFoundError as exc:
        raise (not_found() if not_found is not None else explain(exc)) from None
    except ResendError as exc:
        raise explain(exc) from None
