"""Settings of one emulator instance."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import httpx

__all__ = ["RESEND_DEFAULT_RATE_LIMIT", "EmulatorOptions"]

# Requests/s a team gets by default, as the emulator states (and the standalone one
# enforces) it: 5, the middle of what Resend's docs have said (2 at first, then 5; 10 in
# the newest). Clients must read `ratelimit-limit`, never assume this.
RESEND_DEFAULT_RATE_LIMIT = 5


@dataclass(frozen=True, kw_only=True)
class EmulatorOptions:
    """How an emulator instance stores data, authenticates, throttles and misbehaves.

    The fault knobs exist for reliability tests and benchmarks; the defaults give a
    well-behaved in-memory Resend that states Resend's default limit but enforces none.
    """

    db_path: str = ":memory:"
    """SQLite file path, or ":memory:"."""
    api_key: str | None = None
    """If set, only `Bearer <api_key>` is accepted; otherwise any `Bearer re_...`."""
    rate_limit: int | None = None
    """Team-wide requests per 1-second fixed window, enforced with 429s; None: unlimited."""
    stated_rate_limit: int | None = None
    """The limit the `ratelimit-*` headers state when `rate_limit` is None (not enforced);
    None states `RESEND_DEFAULT_RATE_LIMIT`. Resend sends the headers on every response."""
    fault_429: float = 0.0
    """Probability per request of an injected 429 `rate_limit_exceeded`."""
    fault_500: float = 0.0
    """Probability per request of an injected 500 (the request is not applied)."""
    fault_503: float = 0.0
    """Probability per request of an injected 503 (the request is not applied)."""
    latency: float = 0.0
    """Seconds of delay before each request reaches its handler."""
    drop_after_write: float = 0.0
    """Probability that a successful write is applied but its response is lost."""
    seed: int | None = None
    """Seeds the fault RNG so that runs are reproducible."""
    clock: Callable[[], float] = time.monotonic
    """Drives the rate-limit window; tests inject a fake."""
    imports_api: bool = True
    """Whether `/contacts/imports…` exists. Contact Imports is a beta that not every team
    has; False answers 404 there, as for such a team."""
    import_max_bytes: int = 200 * 1024 * 1024
    """Largest CSV upload accepted. Resend's sources say 200 MB (docs), 100 MB (CLI) and
    50 MB (OpenAPI, Python SDK)."""
    import_default_on_conflict: Literal["upsert", "skip"] = "upsert"
    """`on_conflict` when an import does not send one. Resend's docs say "upsert", its
    OpenAPI spec and Python SDK "skip", so clients should always send it."""
    import_delay: float = 0.0
    """Seconds each import stays `queued` before it is processed, so tests can see it."""
    suppressions_api: bool = True
    """Whether `/suppressions…` exists. Suppressions is a private beta that not every team
    has; False answers 404 there, as for such a team."""
    webhook_sender: httpx.AsyncClient | None = None
    """The client webhook events are posted with, owned by the caller (tests: one over
    `httpx.ASGITransport` to the receiving app); None: the emulator's own client."""
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    """Seconds before each retry of a failed webhook delivery (then it is dropped)."""

    def __post_init__(self) -> None:
        for name in ("fault_429", "fault_500", "fault_503", "drop_after_write"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
        # The three faults share one roll per request, so together they must fit in 1.
        if self.fault_429 + self.fault_500 + self.fault_503 > 1.0:
            raise ValueError("fault_429 + fault_500 + fault_503 must not exceed 1")
        if self.latency < 0:
            raise ValueError(f"latency must not be negative, got {self.latency!r}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate_limit must be at least 1 or None, got {self.rate_limit!r}")
        if self.stated_rate_limit is not None and self.stated_rate_limit < 1:
            raise ValueError(
                f"stated_rate_limit must be at least 1, got {self.stated_rate_limit!r}"
            )
        if self.import_max_bytes < 1:
            raise ValueError(f"import_max_bytes must be at least 1, got {self.import_max_bytes!r}")
        if self.import_default_on_conflict not in ("upsert", "skip"):
            raise ValueError(
                "import_default_on_conflict must be 'upsert' or 'skip', "
                f"got {self.import_default_on_conflict!r}"
            )
        if self.import_delay < 0:
            raise ValueError(f"import_delay must not be negative, got {self.import_delay!r}")
        if any(delay < 0 for delay in self.webhook_retry_delays):
            raise ValueError(
                f"webhook_retry_delays must not be negative: {self.webhook_retry_delays!r}"
            )
