"""Settings of one emulator instance."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EmulatorOptions"]


@dataclass(frozen=True, kw_only=True)
class EmulatorOptions:
    """How an emulator instance stores data, authenticates, throttles and misbehaves.

    The fault knobs exist for reliability tests and benchmarks; the defaults give a
    well-behaved, unlimited, in-memory Resend.
    """

    db_path: str = ":memory:"
    """SQLite file path, or ":memory:"."""
    api_key: str | None = None
    """If set, only `Bearer <api_key>` is accepted; otherwise any `Bearer re_...`."""
    rate_limit: int | None = None
    """Team-wide requests per 1-second fixed window; None means unlimited and no
    `ratelimit-*` headers."""
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
