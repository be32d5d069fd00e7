"""RatePacer: even spacing under the limit, learning the limit, pausing after a 429."""

import anyio
import httpx
import pytest

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.emulator import EmulatorOptions, create_app

pytestmark = pytest.mark.anyio


class VirtualClock:
    """Time that only moves when someone sleeps, so tests never wait."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    best = 0
    for i, start in enumerate(times):
        count = sum(1 for t in times[i:] if t < start + window)
        best = max(best, count)
    return best


async def test_sends_are_spaced_so_no_one_second_window_exceeds_the_limit() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=10, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(100):
        await pacer.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent) <= 10
    # ...and it still uses most of the limit.
    assert 99 / (sent[-1] - sent[0]) >= 9.0


async def test_limit_is_learned_from_ratelimit_headers() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=10, clock=clock, sleep=clock.sleep)
    pacer.observe({"ratelimit-limit": "2", "ratelimit-remaining": "1"})
    assert pacer.rate_limit == 2
    sent = []
    for _ in range(20):
        await pacer.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent) <= 2


@pytest.mark.parametrize("raw", ["", "abc", "0", "-5"])
async def test_unusable_limit_headers_are_ignored(raw: str) -> None:
    pacer = RatePacer(rate_limit=10)
    pacer.observe({"ratelimit-limit": raw})
    assert pacer.rate_limit == 10


async def test_unlimited_pacer_never_waits_until_a_header_sets_a_limit() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=None, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        await pacer.acquire()
    assert clock.now == 1000.0
    pacer.observe({"ratelimit-limit": "5"})
    await pacer.acquire()
    await pacer.acquire()
    assert clock.now > 1000.0


async def test_pause_holds_every_caller_for_the_requested_time() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=None, clock=clock, sleep=clock.sleep)
    pacer.pause(3.0)
    await pacer.acquire()
    assert clock.now == pytest.approx(1003.0)
    pacer.pause(-1)  # a negative wait is no wait
    await pacer.acquire()
    assert clock.now == pytest.approx(1003.0)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        RatePacer(rate_limit=0)
    with pytest.raises(ValueError, match="safety"):
        RatePacer(safety=1.5)


async def test_window_spent_by_someone_else_makes_everyone_wait_for_the_reset() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=10, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pacer.acquire()
    sent_before = clock.now
    # Only 3 of our own requests in this second, yet the server says none are left.
    pacer.observe({"ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "1"})
    await pacer.acquire()
    assert clock.now >= sent_before + 1.0


async def test_spending_the_window_ourselves_does_not_add_a_pause() -> None:
    clock = VirtualClock()
    pacer = RatePacer(rate_limit=10, safety=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        await pacer.acquire()
    last = clock.now
    pacer.observe({"ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "1"})
    await pacer.acquire()
    assert clock.now == pytest.approx(last + 0.1)


async def test_a_probing_pacer_lets_one_request_through_until_the_limit_is_known() -> None:
    pacer = RatePacer(probe=True)
    inside: list[int] = []
    peak = 0

    async def request(answer_headers: dict[str, str]) -> None:
        nonlocal peak
        async with pacer.turn():
            inside.append(1)
            peak = max(peak, len(inside))
            await anyio.sleep(0.01)  # the request is in flight
            pacer.observe(answer_headers)
            inside.pop()

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(request, {})  # no headers: still unknown, still one at a time
    assert peak == 1
    assert pacer.rate_limit is None

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(request, {"ratelimit-limit": "100"})
    assert not pacer.probing
    assert pacer.rate_limit == 100


async def test_once_the_limit_is_known_turns_run_side_by_side() -> None:
    pacer = RatePacer(probe=True)
    pacer.observe({"ratelimit-limit": "1000"})
    inside = 0
    peak = 0

    async def request() -> None:
        nonlocal inside, peak
        async with pacer.turn():
            inside += 1
            peak = max(peak, inside)
            await anyio.sleep(0.05)
            inside -= 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(request)
    assert peak > 1


async def test_an_account_limited_to_2_per_second_draws_no_429_on_its_first_burst() -> None:
    # Recorded accounts ran at 2, 20 and 100 requests/s (resend-node's HAR recordings):
    # a pacer that guessed 10/s would overrun the first of them at once.
    app = create_app(EmulatorOptions(rate_limit=2))
    http = build_http_client(base_url="http://emulator", transport=httpx.ASGITransport(app=app))
    client = ResendClient(http, api_key="re_test", pacer=RatePacer(probe=True), max_retries=0)
    with anyio.fail_after(30):
        async with http, anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(client.create_contact, f"burst{i}@example.com")
    assert client.requests_sent == 5  # no retries: not one 429
    assert client.pacer.rate_limit == 2
