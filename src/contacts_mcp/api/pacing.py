"""Client-side pacing that keeps bulk work under the account's rate limit.

Resend limits each team to N requests per fixed one-second window with no burst, and
answers the excess with 429s. Retrying 429s works but wastes requests and time, so the
client spaces its own requests evenly at slightly under the limit instead: with even
spacing no one-second window can hold more than the limit, wherever the server's
window boundaries fall.

The limit is learned from the `ratelimit-limit` header Resend sends on every response.
It is never guessed: accounts run at 2, 10, 20 or 100 requests/s, so until the first
header arrives a probing pacer lets one request through at a time (spaced by a limit the
user configured, if any). `ratelimit-remaining: 0` while we sent
fewer than `limit` requests in the last second means someone else (another process with a
key of the same team) is spending the budget, so everyone waits for `ratelimit-reset`.
A 429 pauses every caller sharing the pacer for the wait the server asked for.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import anyio

__all__ = ["PACING_SAFETY", "RatePacer"]

logger = logging.getLogger("contacts_mcp.api.client")

# Share of the limit actually used: leaves room for network jitter that could bunch two
# evenly sent requests into one server window.
PACING_SAFETY = 0.95


class RatePacer:
    """Hands out send times spaced at `limit * safety` requests per second.

    `rate_limit=None` means unlimited until a `ratelimit-limit` header says otherwise.
    `probe=True` means the limit is not known yet: `turn()` lets one request through at
    a time until a response's headers have been observed.
    One pacer is shared by everything that talks to the same account.
    """

    def __init__(
        self,
        *,
        rate_limit: float | None = None,
        probe: bool = False,
        safety: float = PACING_SAFETY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if rate_limit is not None and rate_limit <= 0:
            raise ValueError("rate_limit must be positive or None")
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        self._limit = rate_limit
        self._safety = safety
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._probing = probe
        self._probe = anyio.Lock()
        # Our own recent send times, to tell our use of the window from someone else's.
        self._recent: deque[float] = deque(maxlen=self._history_size())

    @property
    def rate_limit(self) -> float | None:
        """The limit in force, in requests per second (None: unlimited)."""
        return self._limit

    @property
    def interval(self) -> float:
        """Seconds between two consecutive sends."""
        if self._limit is None:
            return 0.0
        return 1.0 / (self._limit * self._safety)

    @property
    def probing(self) -> bool:
        """Whether the limit is still unknown (requests go one at a time)."""
        return self._probing

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A turn to send one request; observe its response's headers before leaving.

        While probing, turns are taken one at a time, so the first answer's
        `ratelimit-limit` is known before a second request leaves.
        """
        if self._probing:
            async with self._probe:
                if self._probing:
                    await self.acquire()
                    yield
                    return
        await self.acquire()
        yield

    async def acquire(self) -> None:
        """Wait until this caller may send its request."""
        while True:
            now = self._clock()
            # No await between reading and moving the slot, so concurrent callers on
            # one event loop each get their own slot.
            slot = max(now, self._next_slot, self._paused_until)
            self._next_slot = slot + self.interval
            if slot > now:
                await self._sleep(slot - now)
            if self._paused_until <= self._clock():
                self._recent.append(self._clock())
                return

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's `ratelimit-*` headers (see the module docstring)."""
        limit = _number(headers.get("ratelimit-limit"))
        if limit is not None and limit > 0:
            self._probing = False
            if limit != self._limit:
                logger.debug("rate limit is now %g requests/s (was %s)", limit, self._limit)
                self._limit = limit
                self._recent = deque(self._recent, maxlen=self._history_size())
                if self._recent:
                    # The next send keeps the new spacing from the last one, or two sends
                    # could share the window the limit was learned in.
                    self._next_slot = max(self._next_slot, self._recent[-1] + self.interval)
        remaining = _number(headers.get("ratelimit-remaining"))
        reset = _number(headers.get("ratelimit-reset"))
        if remaining == 0 and reset is not None and self._limit is not None:
            now = self._clock()
            own = sum(1 for sent in self._recent if sent > now - 1.0)
            if own < self._limit:
                logger.debug("rate limit window spent by another client; waiting %gs", reset)
                self.pause(min(reset, 1.0))

    def _history_size(self) -> int:
        return 1 if self._limit is None else math.ceil(self._limit) + 1

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds`, e.g. after a 429 with `retry-after`."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
