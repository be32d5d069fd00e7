"""A person's erasure (forget_contacts) on the bulk review screen, in a real browser on our
real server: the preview shows the people and what holds them, Approve forgets exactly
the one named and shows the receipt, Cancel changes nothing."""

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Host, Stack, open_host, open_stack, screenshot_path
from tests.browser.test_bulk_review import fact, nonce_of, shoot

GONE = "ada.lovelace@example.com"
KEPT = "grace.hopper@example.com"


def seed(stack: Stack, host: Host) -> None:
    """Two contacts, and a local copy of them: the search mirror, read by a search."""
    stack.seed("POST", "/contacts", {"email": GONE, "first_name": "Ada", "last_name": "Lovelace"})
    stack.seed("POST", "/contacts", {"email": KEPT, "first_name": "Grace", "last_name": "Hopper"})
    found = host.call_as_model("search_contacts", {"where": [], "count_only": True})
    assert not found.get("isError"), found


def forget(host: Host) -> dict[str, Any]:
    """The model asks to forget one person: the screen shows the preview."""
    answer = host.call_as_model("forget_contacts", {"emails": [GONE]})
    assert not answer.get("isError"), answer
    expect(host.screen.locator("#title")).to_have_text("Forget 1 person")
    return answer  # type: ignore[no-any-return]


def held(local: dict[str, int]) -> str:
    """A person's local copies as the screen words them: "mirror 1, snapshot 2"."""
    return ", ".join(f"{kind} {n}" for kind, n in local.items())


def test_a_forget_preview_shows_the_people_and_approve_forgets_exactly_them(
    host: Host, stack: Stack
) -> None:
    seed(stack, host)
    answer = forget(host)
    preview = answer["structuredContent"]["preview"]
    nonce = nonce_of(host, answer)
    [person] = preview["people"]
    assert (person["email"], person["at_resend"]) == (GONE, True)
    assert person["local"], person  # the mirror holds her
    screen = host.screen

    expect(screen.locator("#warning")).to_be_visible()
    expect(screen.locator("#warning")).to_contain_text("cannot be undone")
    expect(fact(screen, "People")).to_have_text("1")
    expect(fact(screen, "At Resend")).to_have_text("1")
    expect(fact(screen, "Local records")).to_have_text(str(preview["local_records"]))
    expect(fact(screen, "API requests")).to_have_text(str(preview["requests"]))
    expect(fact(screen, "Time")).to_have_text(f"about {preview['estimated_seconds']} s")
    expect(screen.locator("#missing")).to_be_hidden()
    expect(screen.locator("#sample-title")).to_have_text("People to forget")
    rows = screen.locator("#sample-body tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(
        [GONE, f"Resend: a contact Here: {held(person['local'])}"], use_inner_text=True
    )
    expect(screen.locator("#notes li")).to_have_text(preview["notes"])
    expect(screen.locator("#approve")).to_have_class("danger")

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Forgot 1 of 1 person")
    expect(screen.locator("#outcome-title")).to_be_focused()
    expect(fact(screen, "Forgotten", "#outcome-facts")).to_have_text("1")
    expect(fact(screen, "Not completely", "#outcome-facts")).to_have_text("0")
    receipt = screen.locator("#receipt-body tr")
    expect(receipt).to_have_count(1)
    cells = receipt.first.locator("td")
    expect(cells.first).to_contain_text(GONE)
    expect(cells.first).to_contain_text("Reference hmac:")
    expect(cells.last).to_contain_text("Resend: deleted (contact ")
    expect(cells.last).to_contain_text("mirror: ")
    expect(cells.last).to_contain_text("Suppressed: not asked")
    expect(cells.last).to_contain_text("Forgotten: yes")
    expect(screen.locator("#outcome-notes li").last).to_contain_text("are not covered")
    expect(screen.locator("#files")).to_be_hidden()
    assert stack.emails() == [KEPT]
    calls = host.evaluate("testHost.appCalls")
    assert [(c["name"], c["arguments"]) for c in calls if c["name"] == "approve_run"] == [
        ("approve_run", {"nonce": nonce, "approve": True})
    ]
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "approved the previewed erasure of 1 person" in told
    assert "1 of 1 person forgotten" in told
    assert nonce not in told
    assert host.errors == []


def test_cancel_forgets_nobody_and_spends_the_approval(host: Host, stack: Stack) -> None:
    seed(stack, host)
    before = stack.contacts()
    answer = forget(host)
    nonce = nonce_of(host, answer)

    host.screen.locator("#cancel").click()

    expect(host.screen.locator("#outcome-title")).to_have_text("Nothing was changed")
    assert stack.contacts() == before
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "cancelled the previewed erasure of 1 person" in told
    # The approval was spent: the same nonce cannot approve the erasure afterwards.
    again = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert stack.contacts() == before
    assert host.errors == []


def test_the_screen_follows_a_long_erasure_to_its_receipt(browser: Browser, tmp_path: Path) -> None:
    # The emulator states 2 requests/s, which the server paces to, and tools hand back a
    # job after 1 s: three people (a read and a delete each) outlast the approval's call,
    # and the screen follows the run with get_job. A job read later holds no address: the
    # receipt names the people the screen previewed, in the run's order.
    people = [f"person{i}@example.com" for i in range(3)]
    with open_stack(tmp_path, rate_limit=2, wait_seconds=1) as stack:
        for email in [*people, KEPT]:
            stack.seed("POST", "/contacts", {"email": email})
        with open_host(browser, stack.url) as host:
            answer = host.call_as_model("forget_contacts", {"emails": people})
            assert not answer.get("isError"), answer
            screen = host.screen
            expect(screen.locator("#title")).to_have_text("Forget 3 people")
            expect(screen.locator("#sample-caption")).to_have_text("All 3 people.")
            screen.locator("#approve").click()

            expect(screen.locator("#run-title")).to_have_text("Approved. Forgetting…")
            expect(screen.locator("#outcome-title")).to_have_text("Forgot 3 of 3 people")
            rows = screen.locator("#receipt-body tr")
            expect(rows).to_have_count(3)
            for i, email in enumerate(people):
                expect(rows.nth(i).locator("td").first).to_contain_text(email)
                expect(rows.nth(i).locator("td").last).to_contain_text("Resend: deleted")
            calls = [(c["name"], c["arguments"]) for c in host.evaluate("testHost.appCalls")]
            assert calls[0][0] == "approve_run"
            job_id = calls[1][1]["job_id"]
            done = host.call_as_screen("get_job", {"job_id": job_id})["structuredContent"]
            receipts = done["job"]["result"]["people"]
            assert [r["email"] for r in receipts] == [None, None, None]
            for i, receipt in enumerate(receipts):
                expect(rows.nth(i).locator("td").first).to_contain_text(receipt["person"])
            assert host.errors == []
        assert stack.emails() == [KEPT]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_forget_screenshots_at_phone_width_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    with open_host(browser, stack.url, theme) as host:
        seed(stack, host)
        forget(host)
        screen = host.screen
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        expect(screen.locator("#sample-body tr")).to_have_count(1)
        # Nothing is wider than the phone: no sideways scrolling.
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"bulk-review-forget-{theme}"))
        screen.locator("#approve").click()
        expect(screen.locator("#outcome-title")).to_have_text("Forgot 1 of 1 person")
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"bulk-review-forget-done-{theme}"))
        assert host.errors == []
