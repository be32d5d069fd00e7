"""The search results screen in a real browser, on our real server: it shows the numbers
of the answer (count, rows, counts per segment, freshness); Next, Previous and the sort
headers call search_contacts and give the right rows; Refresh finds a contact added since;
Export offers the written file, and the download is that file byte for byte; a bulk change
started here is previewed, and Approve changes exactly the matching contacts while Cancel
changes nothing; a group of likely duplicates' Merge… asks the assistant to merge it."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, expect

from tests.browser.conftest import Host, Stack, open_host, open_stack, screenshot_path
from tests.browser.test_bulk_review import HOSTILE, NAMES, shoot

DASH = "\u2013"
ACME = [{"field": "domain", "op": "eq", "value": "acme.com"}]
OTHERS = ["keep0@example.org", "keep1@example.org"]


def seed(stack: Stack, acme: int = 12, *, hostile: bool = False) -> dict[str, str]:
    """`acme` contacts at acme.com (every fourth unsubscribed; the first two in VIP, every
    third in Beta), two elsewhere (one in VIP); the segments' ids by name."""
    segments = {
        name: str(stack.seed("POST", "/segments", {"name": name})["id"])
        for name in ("VIP", "Beta", "Empty")
    }
    for i in range(acme):
        first, last = NAMES[i % len(NAMES)]
        created = stack.seed(
            "POST",
            "/contacts",
            {
                "email": f"{first.lower()}.{i}@acme.com",
                "first_name": HOSTILE if hostile and i == 0 else first,
                "last_name": last,
                "unsubscribed": i % 4 == 0,
            },
        )
        if i < 2:
            stack.seed("POST", f"/contacts/{created['id']}/segments/{segments['VIP']}")
        if i % 3 == 0:
            stack.seed("POST", f"/contacts/{created['id']}/segments/{segments['Beta']}")
    for i, email in enumerate(OTHERS):
        created = stack.seed("POST", "/contacts", {"email": email})
        if i == 0:
            stack.seed("POST", f"/contacts/{created['id']}/segments/{segments['VIP']}")
    return segments


def open_results(host: Host, limit: int = 5, **extra: Any) -> dict[str, Any]:
    """The model searches acme.com (after a full sync, so memberships are known); the
    screen shows the answer."""
    synced = host.call_as_screen(
        "search_contacts", {"where": [], "count_only": True, "refresh": "full"}
    )
    assert not synced.get("isError"), synced
    answer = host.call_as_model("search_contacts", {"where": ACME, "limit": limit, **extra})
    assert not answer.get("isError"), answer
    found = answer["structuredContent"]
    expect(host.screen.locator("#title")).to_have_text(f"{found['count']} contacts match")
    return dict(found)


def emails_shown(screen: FrameLocator) -> list[str]:
    return screen.locator("#rows td.c-email .addr").all_inner_texts()


def expect_rows(screen: FrameLocator, emails: list[str]) -> None:
    """The table shows these contacts, in this order."""
    expect(screen.locator("#rows td.c-email .addr")).to_have_text(emails)


def fact(screen: FrameLocator, label: str) -> Locator:
    return screen.locator("#task-facts .fact").filter(has_text=label).locator("dd")


def acme_emails(stack: Stack) -> list[str]:
    return [c["email"] for c in stack.contacts() if str(c["email"]).endswith("@acme.com")]


def search_calls(host: Host) -> list[dict[str, Any]]:
    calls = host.evaluate("testHost.appCalls")
    return [c["arguments"] for c in calls if c["name"] == "search_contacts"]


def test_the_screen_shows_the_answers_numbers(host: Host, stack: Stack) -> None:
    seed(stack, hostile=True)
    found = open_results(host)
    screen = host.screen

    expect(screen.locator("#where li")).to_have_text(["Domain is acme.com"])
    expect(screen.locator("#page")).to_have_text(f"1{DASH}5 of 12")
    expect_rows(screen, [c["email"] for c in found["contacts"]])
    expect(screen.locator("#rows td.c-sub")).to_have_text(
        ["No" if c["unsubscribed"] else "Yes" for c in found["contacts"]]
    )
    # Counts per segment, most first: among the 12 matches, not the whole account.
    assert [(s["name"], s["count"]) for s in found["segments"]] == [
        ("Beta", 4),
        ("VIP", 2),
        ("Empty", 0),
    ]
    expect(screen.locator("#segments li")).to_have_text(
        ["Beta4", "VIP2", "Empty0"], use_inner_text=False
    )
    # Freshness, in the host's time zone (UTC) and locale (en-US).
    synced_at = found["mirror"]["synced_at"]
    expect(screen.locator("#fresh")).to_contain_text("Synced from Resend")
    expect(screen.locator("#fresh")).to_contain_text(
        f"{found['mirror']['contacts']} contacts in all"
    )
    expect(screen.locator("#fresh-note")).to_have_text(found["mirror"]["note"])
    day = host.page.evaluate(
        "(iso) => new Intl.DateTimeFormat('en-US', {dateStyle: 'medium', timeStyle: 'short',"
        " timeZone: 'UTC'}).format(new Date(iso))",
        synced_at,
    )
    expect(screen.locator("#fresh")).to_contain_text(day)
    expect(screen.locator("#refresh-note")).to_be_hidden()
    # The sort the answer is in is the one the headers show.
    expect(screen.locator("th.c-created")).to_have_attribute("aria-sort", "descending")
    # Hostile contact data is text, never markup.
    host.call_as_model("search_contacts", {"where": ACME, "limit": 100})
    expect(screen.locator("#rows tr")).to_have_count(12)
    expect(screen.locator("#rows")).to_contain_text(HOSTILE)
    expect(screen.locator("img")).to_have_count(0)
    assert host.page.title() != "pwned"
    assert host.errors == []


def test_a_count_only_answer_is_shown_with_its_first_page(host: Host, stack: Stack) -> None:
    seed(stack)
    host.call_as_screen("search_contacts", {"where": [], "count_only": True, "refresh": "full"})
    host.call_as_model("search_contacts", {"where": ACME, "count_only": True, "sort": "email"})
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("12 contacts match")
    expect(screen.locator("#page")).to_have_text(f"1{DASH}12 of 12")
    expect_rows(screen, acme_emails(stack))  # the asked order: by email
    expect(screen.locator("#next")).to_be_disabled()
    assert search_calls(host)[-1] == {"where": ACME, "limit": 50, "sort": "email"}
    assert host.errors == []


def test_paging_and_sorting_give_the_right_rows(host: Host, stack: Stack) -> None:
    seed(stack)
    everyone = acme_emails(stack)  # by email
    found = open_results(host)
    screen = host.screen
    newest = [c["email"] for c in found["contacts"]]

    screen.locator("#next").click()
    expect(screen.locator("#page")).to_have_text(f"6{DASH}10 of 12")
    second = emails_shown(screen)
    assert len(second) == 5
    screen.locator("#next").click()
    expect(screen.locator("#page")).to_have_text(f"11{DASH}12 of 12")
    third = emails_shown(screen)
    expect(screen.locator("#next")).to_be_disabled()
    # Each contact once, newest first: the oldest (the first seeded) last.
    assert sorted(newest + second + third) == everyone
    assert third[-1] == "ada.0@acme.com"
    screen.locator("#prev").click()
    expect(screen.locator("#page")).to_have_text(f"6{DASH}10 of 12")
    expect_rows(screen, second)
    screen.locator("#prev").click()
    expect(screen.locator("#page")).to_have_text(f"1{DASH}5 of 12")
    expect_rows(screen, newest)
    expect(screen.locator("#prev")).to_be_disabled()

    # Sort by email from the keyboard: the header is a button.
    screen.locator("#sort-email").focus()
    host.page.keyboard.press("Enter")
    expect(screen.locator("th.c-email")).to_have_attribute("aria-sort", "ascending")
    expect(screen.locator("#caption")).to_have_text("Sorted by email.")
    expect_rows(screen, everyone[:5])
    expect(screen.locator("#sort-email")).to_be_focused()
    screen.locator("#next").click()
    expect(screen.locator("#page")).to_have_text(f"6{DASH}10 of 12")
    expect_rows(screen, everyone[5:10])

    # Created: newest first (the default order), then, pressed again, oldest first.
    screen.locator("#sort-created").click()
    expect(screen.locator("th.c-created")).to_have_attribute("aria-sort", "descending")
    expect(screen.locator("#page")).to_have_text(f"1{DASH}5 of 12")
    expect_rows(screen, newest)
    screen.locator("#sort-created").click()
    expect(screen.locator("th.c-created")).to_have_attribute("aria-sort", "ascending")
    expect_rows(screen, (newest + second + third)[::-1][:5])
    expect(screen.locator("th.c-email")).not_to_have_attribute("aria-sort", "ascending")

    # By name: first names as shown (Ada, Alan, Barbara, Donald, Edsger, …).
    screen.locator("#sort-name").click()
    expect(screen.locator("th.c-name")).to_have_attribute("aria-sort", "ascending")
    expect(screen.locator("#rows td.c-name")).to_have_text(
        ["Ada Lovelace", "Alan Turing", "Barbara Liskov", "Donald Knuth", "Edsger Dijkstra"]
    )

    calls = search_calls(host)
    assert {
        "where": ACME,
        "limit": 5,
        "sort": "email",
        "after": f"email:{_id(stack, everyone[4])}",
    } in calls
    assert {"where": ACME, "limit": 5, "sort": "oldest"} in calls
    assert host.errors == []


def _id(stack: Stack, email: str) -> str:
    return str(next(c["id"] for c in stack.contacts() if c["email"] == email))


def test_refresh_picks_up_a_contact_added_in_the_emulator(host: Host, stack: Stack) -> None:
    seed(stack)
    open_results(host)
    screen = host.screen
    screen.locator("#sort-email").click()
    expect(screen.locator("th.c-email")).to_have_attribute("aria-sort", "ascending")
    stack.seed("POST", "/contacts", {"email": "aaron.new@acme.com", "first_name": "Aaron"})

    screen.locator("#refresh").click()

    expect(screen.locator("#title")).to_have_text("13 contacts match")
    expect(screen.locator("#rows td.c-email").first).to_contain_text("aaron.new@acme.com")
    expect(screen.locator("#fresh")).to_contain_text("Refreshed: 1 new contact.")
    expect(screen.locator("#refresh")).to_be_enabled()
    expect(screen.locator("#refresh")).to_have_text("Refresh")
    assert {"where": ACME, "limit": 5, "sort": "email", "refresh": "new"} in search_calls(host)
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "refreshed" in told
    assert "13 contacts match now" in told
    assert host.errors == []


def wait_for_sync(host: Host, job_id: str) -> None:
    """Wait (boundedly) for a sync job to complete, as a screen would with get_job."""
    for _ in range(20):
        answer = host.call_as_screen("get_job", {"job_id": job_id, "wait_seconds": 50})
        job = answer["structuredContent"]["job"]
        if job["status"] != "working":
            assert job["status"] == "completed", job
            return
    pytest.fail(f"the sync {job_id} did not end")


def test_a_refresh_still_running_is_said(browser: Browser, tmp_path: Path) -> None:
    # The emulator states 2 requests/s, which the server paces to, and tools hand back a
    # job after 1 s: a refresh reading 250 new contacts (3 list pages and their segments)
    # outlasts the call, and the screen says its results predate it.
    with open_stack(tmp_path, rate_limit=2, wait_seconds=1) as stack:
        seed(stack)
        with open_host(browser, stack.url) as host:
            first = host.call_as_screen("search_contacts", {"where": [], "count_only": True})
            if first.get("isError"):  # the first fill outlasted the call: wait for it
                [job_id] = re.findall(r"job_[0-9a-f]{12}", first["content"][0]["text"])[:1]
                wait_for_sync(host, job_id)
            host.call_as_model("search_contacts", {"where": ACME, "limit": 5})
            screen = host.screen
            expect(screen.locator("#title")).to_have_text("12 contacts match")
            for i in range(250):
                stack.seed("POST", "/contacts", {"email": f"new{i:03}@acme.com"})

            screen.locator("#refresh").click()

            expect(screen.locator("#refresh-note")).to_contain_text(
                "A refresh is still running: these results are from the previous sync."
            )
            expect(screen.locator("#title")).to_have_text("12 contacts match")
            expect(screen.locator("#refresh")).to_be_enabled()
            told = json.dumps(host.evaluate("testHost.modelContext"))
            assert "the refresh goes on in the background" in told
            # Once it ended, Refresh shows what it read.
            listed = host.call_as_screen("get_job", {})["structuredContent"]["recent"]
            for job in listed:  # (it may have ended already)
                if job["kind"] == "sync" and job["status"] == "working":
                    wait_for_sync(host, job["job_id"])
            screen.locator("#refresh").click()
            expect(screen.locator("#title")).to_have_text("262 contacts match")
            assert host.errors == []


def test_a_download_matches_the_export(host: Host, stack: Stack, tmp_path: Path) -> None:
    seed(stack)
    found = open_results(host)
    screen = host.screen

    screen.locator("#export").click()

    expect(screen.locator("#task-title")).to_have_text("Exported 12 contacts")
    [exported] = [c for c in host.evaluate("testHost.appCalls") if c["name"] == "export_contacts"]
    assert exported["arguments"]["search"] == found["selection"]
    name = exported["arguments"]["path"]
    written = (tmp_path / name).read_bytes()
    expect(screen.locator("#task-files")).to_contain_text(name)
    screen.get_by_role("button", name=f"Download {name}").click()
    host.page.wait_for_function("testHost.downloads.length === 1")

    [request] = host.evaluate("testHost.downloads")
    [link] = request["contents"]
    assert (link["type"], link["name"], link["mimeType"]) == ("resource_link", name, "text/csv")
    assert link["uri"].startswith("contacts-mcp://files/")
    read = host.page.evaluate("(uri) => testHost.readResource(uri)", link["uri"])
    [contents] = read["contents"]
    assert contents["text"].encode("utf-8") == written  # the export, byte for byte
    assert written.count(b"\r\n") == 13  # the header and the 12 contacts
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "exported the 12 contacts" in told
    assert host.errors == []


def test_unsubscribe_approved_changes_exactly_the_matching_contacts(
    host: Host, stack: Stack
) -> None:
    seed(stack)
    open_results(host)
    screen = host.screen

    screen.locator("#unsubscribe").click()

    expect(screen.locator("#task-title")).to_have_text("Update 12 contacts?")
    expect(fact(screen, "Selected")).to_have_text("12")
    expect(screen.locator("#task-text")).to_have_text("Change: unsubscribe")
    expect(screen.locator("#task-title")).to_be_focused()
    nonce = host.evaluate("testHost.lastMeta()")  # the model's search: no approval in it
    assert nonce is None or "contacts-mcp/approval" not in nonce
    screen.locator("#task-approve").click()

    expect(screen.locator("#task-title")).to_have_text(re.compile(r"Updated \d+ of 12 contacts"))
    contacts = stack.contacts()
    assert all(c["unsubscribed"] for c in contacts if str(c["email"]).endswith("@acme.com"))
    assert not any(c["unsubscribed"] for c in contacts if c["email"] in OTHERS)
    # The screen shows the results as they are now.
    expect(screen.locator("#rows td.c-sub")).to_have_text(["No"] * 5)
    calls = [c for c in host.evaluate("testHost.appCalls") if c["name"] == "update_contacts"]
    assert [c["arguments"] for c in calls] == [
        {"search": calls[0]["arguments"]["search"], "unsubscribed": True}
    ]
    told = host.evaluate("testHost.modelContext")
    assert "approved the previewed unsubscribe of 12 contacts" in json.dumps(told)
    [approved] = [c for c in host.evaluate("testHost.appCalls") if c["name"] == "approve_run"]
    assert approved["arguments"]["approve"] is True
    assert approved["arguments"]["nonce"] not in json.dumps(told)
    assert host.errors == []


def test_add_to_a_segment_approved_adds_exactly_the_matching_contacts(
    host: Host, stack: Stack
) -> None:
    segments = seed(stack)
    open_results(host)
    screen = host.screen

    screen.locator("#add-segment").click()
    expect(screen.locator("#segment-choice")).to_be_focused()
    expect(screen.locator("#segment-choice option")).to_have_count(3)
    assert sorted(screen.locator("#segment-choice option").all_inner_texts()) == [
        "Beta",
        "Empty",
        "VIP",
    ]
    screen.locator("#segment-choice").select_option(label="Empty")
    screen.locator("#segment-go").click()

    expect(screen.locator("#task-title")).to_have_text("Update 12 contacts?")
    expect(screen.locator("#task-text")).to_contain_text("Empty")
    screen.locator("#task-approve").click()

    expect(screen.locator("#task-title")).to_have_text("Updated 12 of 12 contacts")
    members = stack.seed("GET", f"/segments/{segments['Empty']}/contacts?limit=100")["data"]
    assert sorted(str(m["email"]) for m in members) == acme_emails(stack)
    # The counts per segment follow: all 12 in Empty now.
    expect(screen.locator("#segments li").first).to_have_text("Empty12", use_inner_text=False)
    assert host.errors == []


def test_cancel_changes_nothing_and_approve_deletes_exactly_the_matches(
    host: Host, stack: Stack
) -> None:
    seed(stack)
    before = stack.contacts()
    open_results(host)
    screen = host.screen

    screen.locator("#delete").click()
    expect(screen.locator("#task-title")).to_have_text("Delete 12 contacts?")
    expect(screen.locator("#task-approve")).to_have_class("danger")
    screen.locator("#task-cancel").click()

    expect(screen.locator("#task-title")).to_have_text("Nothing was changed")
    assert stack.contacts() == before
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "cancelled the previewed delete of 12 contacts" in told
    expect(screen.locator("#delete")).to_be_enabled()

    screen.locator("#delete").click()
    expect(screen.locator("#task-title")).to_have_text("Delete 12 contacts?")
    screen.locator("#task-approve").click()

    expect(screen.locator("#task-title")).to_have_text("Deleted 12 of 12 contacts")
    expect(screen.locator("#task-files")).to_contain_text("Snapshot")
    assert stack.emails() == OTHERS
    expect(screen.locator("#title")).to_have_text("No contacts match")
    decisions = [
        c["arguments"]["approve"]
        for c in host.evaluate("testHost.appCalls")
        if c["name"] == "approve_run"
    ]
    assert decisions == [False, True]
    assert host.errors == []


def test_a_small_change_is_asked_about_by_the_screen_first(host: Host, stack: Stack) -> None:
    # Up to 10 contacts, update_contacts changes them at once: the screen asks first.
    seed(stack, acme=4)
    before = stack.contacts()
    open_results(host)
    screen = host.screen

    screen.locator("#unsubscribe").click()
    expect(screen.locator("#task-title")).to_have_text("Unsubscribe: 4 contacts?")
    screen.locator("#task-cancel").click()
    expect(screen.locator("#task-title")).to_have_text("Nothing was changed")
    assert stack.contacts() == before
    assert not [c for c in host.evaluate("testHost.appCalls") if c["name"] == "update_contacts"]

    screen.locator("#unsubscribe").click()
    screen.locator("#task-approve").click()
    expect(screen.locator("#task-title")).to_have_text(re.compile(r"Updated \d of 4 contacts"))
    assert all(c["unsubscribed"] for c in stack.contacts() if str(c["email"]).endswith("@acme.com"))
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_at_phone_width_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    seed(stack)
    with open_host(browser, stack.url, theme) as host:
        open_results(host)
        screen = host.screen
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        # At phone width the Subscribed column gives way to a tag on the unsubscribed.
        expect(screen.locator("th.c-sub")).to_be_hidden()
        expect(screen.locator("#sort-name")).to_be_visible()
        screen.locator("#sort-created").click()  # newest → oldest: ada.0 first
        expect(screen.locator("th.c-created")).to_have_attribute("aria-sort", "ascending")
        first = screen.locator("#rows tr").first
        expect(first).to_contain_text("ada.0@acme.com")
        expect(first.locator(".sub-inline")).to_be_visible()
        expect(screen.locator("#rows .sub-inline")).to_have_count(2)  # ada.0 and edsger.4
        host.page.mouse.move(0, 0)  # no hover in the picture
        shoot(host, screenshot_path(tmp_path, f"search-results-{theme}"))

        screen.locator("#delete").click()
        expect(screen.locator("#task-title")).to_have_text("Delete 12 contacts?")
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"search-results-preview-{theme}"))
        assert host.errors == []


# Two groups of likely duplicates (one mailbox; a misspelt domain) and a contact alone.
# bob@gmial.com comes first, the oldest of its group: still never the one to keep.
HIGH = ["ada.lovelace@gmail.com", "adalovelace+news@googlemail.com"]
MEDIUM = ["bob@gmial.com", "bob@gmail.com"]
LONER = "carol@example.org"
REASON_WORDS = {
    "case": "same letters, other case",
    "googlemail": "googlemail.com is gmail.com",
    "plus_tag": "a +tag the provider ignores",
    "gmail_dots": "Gmail ignores dots",
    "domain_typo": "misspelt domain",
    "same_name": "same name at one company",
    "same_address": "the same address",
}


def open_duplicates(host: Host, stack: Stack) -> dict[str, Any]:
    """The model asks for the likely duplicates; the screen shows them."""
    for email in [*HIGH, *MEDIUM, LONER]:
        stack.seed("POST", "/contacts", {"email": email, "unsubscribed": email == MEDIUM[0]})
    answer = host.call_as_model("search_contacts", {"where": [], "duplicates": True})
    assert not answer.get("isError"), answer
    found = answer["structuredContent"]
    expect(host.screen.locator("#title")).to_have_text(
        "2 groups of likely duplicates among 5 contacts"
    )
    return dict(found)


def test_duplicates_are_shown_as_groups(host: Host, stack: Stack) -> None:
    found = open_duplicates(host, stack)
    screen = host.screen
    groups = found["duplicates"]
    assert [g["confidence"] for g in groups] == ["high", "medium"]
    assert found["duplicate_groups"] == 2

    shown = screen.locator("#duplicates > li")
    expect(shown).to_have_count(2)
    for i, (group, emails) in enumerate(zip(groups, [HIGH, MEDIUM], strict=True)):
        block = shown.nth(i)
        expect(block.locator(".conf")).to_have_text(f"{group['confidence']} confidence")
        expect(block.locator(".why")).to_have_text(
            " · ".join(REASON_WORDS[r] for r in group["reasons"])
        )
        expect(block.locator(".addr")).to_have_text([c["email"] for c in group["contacts"]])
        assert sorted(c["email"] for c in group["contacts"]) == sorted(emails)
        kept = next(c["email"] for c in group["contacts"] if c["id"] == group["keep"])
        expect(block.locator(".tag.keep")).to_have_count(1)
        expect(block.locator("li.kept .addr")).to_have_text(kept)
    expect(shown.nth(0).locator(".why")).to_contain_text("googlemail.com is gmail.com")
    # The misspelt address is marked, and never the one to keep, though the oldest.
    bob = shown.nth(1)
    expect(bob.locator("li.kept .addr")).to_have_text("bob@gmail.com")
    typo = bob.locator("li").filter(has_text="bob@gmial.com")
    expect(typo.locator(".tag.typo")).to_have_text("misspelt domain")
    expect(typo.locator(".tag")).to_have_text(["misspelt domain", "unsubscribed"])
    expect(typo.locator(".tag.keep")).to_have_count(0)
    expect(screen.locator("#duplicates")).not_to_contain_text(LONER)
    expect(screen.locator("#duplicates-note")).to_be_hidden()
    # No page, sort, set or export here; the freshness and Refresh stay.
    for hidden in ("#table-section", "#segments-section", "#actions", "#where"):
        expect(screen.locator(hidden)).to_be_hidden()
    expect(screen.locator("#fresh")).to_contain_text("Synced from Resend")

    screen.locator("#refresh").click()

    expect(screen.locator("#refresh")).to_have_text("Refresh")
    expect(screen.locator("#refresh")).to_be_enabled()
    expect(screen.locator("#duplicates > li")).to_have_count(2)
    assert {"where": [], "duplicates": True, "refresh": "new"} in search_calls(host)
    assert "2 groups of likely duplicates among 5 contacts now" in json.dumps(
        host.evaluate("testHost.modelContext")
    )
    assert host.errors == []


def test_merge_asks_the_assistant_to_merge_a_group(host: Host, stack: Stack) -> None:
    found = open_duplicates(host, stack)
    high, medium = found["duplicates"]
    screen = host.screen
    shown = screen.locator("#duplicates > li")
    first = shown.nth(0).locator("button.merge")
    second = shown.nth(1).locator("button.merge")
    expect(first).to_have_text("Merge…")
    expect(second).to_be_enabled()

    first.click()

    # The person's own message to the assistant, naming the group and the one to keep.
    expect(first).to_be_disabled()
    expect(first).to_have_text("Asked the assistant")
    host.page.wait_for_function("testHost.messages.length === 1")
    emails = [c["email"] for c in high["contacts"]]
    kept = next(c["email"] for c in high["contacts"] if c["id"] == high["keep"])
    assert sorted(emails) == sorted(HIGH)
    assert host.evaluate("testHost.messages") == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": f"Merge these duplicates, keeping {kept}: {', '.join(emails)}",
                }
            ],
        }
    ]
    expect(second).to_be_enabled()
    # A refresh shows the groups again: the one asked about stays asked.
    screen.locator("#refresh").click()
    expect(screen.locator("#refresh")).to_have_text("Refresh")
    expect(screen.locator("#refresh")).to_be_enabled()
    expect(first).to_have_text("Asked the assistant")
    expect(first).to_be_disabled()

    second.click()

    expect(second).to_have_text("Asked the assistant")
    host.page.wait_for_function("testHost.messages.length === 2")
    message = host.evaluate("testHost.messages")[1]
    bobs = ", ".join(c["email"] for c in medium["contacts"])
    assert message["content"][0]["text"] == (
        f"Merge these duplicates, keeping bob@gmail.com: {bobs}"
    )
    # The screen merges nothing itself: the assistant does, with a preview.
    names = {c["name"] for c in host.evaluate("testHost.appCalls")}
    assert names <= {"search_contacts"}
    assert stack.emails() == sorted([*HIGH, *MEDIUM, LONER])
    assert host.errors == []


def test_merge_of_a_group_with_none_to_keep_asks_to_choose(host: Host, stack: Stack) -> None:
    # Both on a misspelt domain: neither is clearly the one to keep.
    typos = ["bob@gmial.com", "bob@gmil.com"]
    for email in typos:
        stack.seed("POST", "/contacts", {"email": email})
    answer = host.call_as_model("search_contacts", {"where": [], "duplicates": True})
    [group] = answer["structuredContent"]["duplicates"]
    assert group["keep"] is None
    screen = host.screen
    expect(screen.locator("#duplicates .tag.keep")).to_have_count(0)

    screen.locator("#duplicates button.merge").click()

    host.page.wait_for_function("testHost.messages.length === 1")
    [message] = host.evaluate("testHost.messages")
    emails = ", ".join(c["email"] for c in group["contacts"])
    assert sorted(c["email"] for c in group["contacts"]) == typos
    assert message["content"] == [
        {"type": "text", "text": f"Merge these duplicates (choose the one to keep): {emails}"}
    ]
    expect(screen.locator("#duplicates button.merge")).to_be_disabled()
    assert host.errors == []


def test_no_duplicates_is_said(host: Host, stack: Stack) -> None:
    stack.seed("POST", "/contacts", {"email": LONER})
    host.call_as_model("search_contacts", {"where": [], "duplicates": True})
    screen = host.screen
    expect(screen.locator("#title")).to_have_text("No likely duplicates among 1 contact")
    expect(screen.locator("#duplicates-section")).to_be_hidden()
    expect(screen.locator("#table-section")).to_be_hidden()
    expect(screen.locator("#actions")).to_be_hidden()
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_duplicates_screenshots_at_phone_width(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    with open_host(browser, stack.url, theme) as host:
        open_duplicates(host, stack)
        screen = host.screen
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        expect(screen.locator("#duplicates > li")).to_have_count(2)
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        host.page.mouse.move(0, 0)  # no hover in the picture
        shoot(host, screenshot_path(tmp_path, f"search-duplicates-{theme}"))
        assert host.errors == []
