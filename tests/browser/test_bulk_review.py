"""The bulk review screen in a real browser, on our real server: it shows the preview's
numbers, Approve runs exactly the previewed change, Cancel changes nothing, and the
model is never offered the screen's own tool."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, expect

from tests.browser.conftest import Host, Stack, open_host, open_stack, screenshot_path

# The screen writes its page ranges with an en dash (U+2013).
DASH = "\u2013"
ACME = [{"field": "domain", "op": "eq", "value": "acme.com"}]
# Contact data is hostile input: the screen must show it as text, never run it.
HOSTILE = "<img src=x onerror=\"parent.document.title='pwned'\">"
# What a cancelled delete says it did, by where it stood (ui/src/stopped.ts).
STOPPED_AT = re.compile(
    r"^(Nothing was deleted: it stopped (before|while still checking)"
    r"|At least \d+ of the 8 contacts were deleted before the cancel\."
    r"|It stopped as its checks ended)"
)
NAMES = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
    ("Tim", "Berners-Lee"),
    ("Radia", "Perlman"),
    ("Ken", "Thompson"),
    ("Frances", "Allen"),
]


def seed(stack: Stack, acme: int, *, others: int = 2, hostile: bool = False) -> None:
    """`acme` contacts at acme.com (every fourth unsubscribed), and `others` elsewhere."""
    stack.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    for i in range(acme):
        first, last = NAMES[i % len(NAMES)]
        stack.seed(
            "POST",
            "/contacts",
            {
                "email": f"{first.lower()}.{i}@acme.com",
                "first_name": HOSTILE if hostile and i == 0 else first,
                "last_name": last,
                "unsubscribed": i % 4 == 0,
            },
        )
    for i in range(others):
        stack.seed("POST", "/contacts", {"email": f"keep{i}@example.org"})


def selection(host: Host) -> str:
    found = host.call_as_model("search_contacts", {"where": ACME, "count_only": True})
    assert not found.get("isError"), found
    return str(found["structuredContent"]["selection"])


def fact(screen: FrameLocator, label: str, within: str = "#facts") -> Locator:
    return screen.locator(f"{within} .fact").filter(has_text=label).locator("dd")


def plan(contact: dict[str, Any]) -> Any:
    """The contact's `plan` property as the emulator holds it (typed values)."""
    return (contact["properties"].get("plan") or {}).get("value")


def at_acme(contact: dict[str, Any]) -> bool:
    return str(contact["email"]).endswith("@acme.com")


def changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A sample's change as the screen shows it: a `key: before → after` line a field."""

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    return " ".join(
        f"{key}: {text(before[key]) if key in before else '(not known)'} \u2192 {text(value)}"
        for key, value in after.items()
    )


def nonce_of(host: Host, answer: dict[str, Any]) -> str:
    """The approval nonce the host got in the preview's `_meta`: nowhere the model reads."""
    nonce = host.evaluate("testHost.lastMeta()")["contacts-mcp/approval"]["nonce"]
    assert isinstance(nonce, str)
    assert nonce not in json.dumps(answer["content"]) + json.dumps(answer["structuredContent"])
    return nonce


def test_the_model_is_never_offered_the_screens_own_tool(host: Host) -> None:
    everything = host.evaluate("testHost.allToolNames()")
    offered = host.evaluate("testHost.modelToolNames()")
    assert "approve_run" in everything  # listed to this client, which declared MCP Apps
    assert "approve_run" not in offered
    assert {"delete_contacts", "update_contacts", "get_job"} <= set(offered)
    with pytest.raises(Exception, match="the model has no tool approve_run"):
        host.call_as_model("approve_run", {"nonce": "x", "approve": True})


def test_a_delete_preview_shows_its_numbers_and_approve_deletes_exactly_those(
    host: Host, stack: Stack
) -> None:
    seed(stack, 4, hostile=True)
    answer = host.call_as_model("delete_contacts", {"search": selection(host)})
    preview = answer["structuredContent"]["preview"]
    nonce = nonce_of(host, answer)
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Delete 4 contacts")
    expect(fact(screen, "To delete")).to_have_text("4")
    expect(fact(screen, "API requests")).to_have_text(str(preview["requests"]))
    expect(fact(screen, "Time")).to_have_text(f"about {preview['estimated_seconds']} s")
    expect(screen.locator("#notes li")).to_have_text(preview["notes"])
    rows = screen.locator("#sample-body tr")
    expect(rows).to_have_count(4)
    shown = {rows.nth(i).locator("td").first.inner_text().splitlines()[0] for i in range(4)}
    assert shown == {contact["email"] for contact in preview["sample"]}
    expect(screen.locator("#pager")).to_be_hidden()  # 4 fit on one page
    # The hostile name is shown as text, and nothing of it ran.
    expect(screen.locator("#sample-body")).to_contain_text(HOSTILE)
    expect(screen.locator("img")).to_have_count(0)
    assert host.page.title() != "pwned"

    # From the keyboard: the table, then Approve, then Cancel.
    screen.locator("#sample-wrap").focus()
    host.page.keyboard.press("Tab")
    expect(screen.locator("#approve")).to_be_focused()
    host.page.keyboard.press("Tab")
    expect(screen.locator("#cancel")).to_be_focused()
    host.page.keyboard.press("Shift+Tab")
    host.page.keyboard.press("Enter")

    expect(screen.locator("#outcome-title")).to_have_text("Deleted 4 of 4 contacts")
    expect(screen.locator("#outcome-title")).to_be_focused()
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("0")
    expect(screen.locator("#file-list")).to_contain_text("Snapshot")
    assert stack.emails() == ["keep0@example.org", "keep1@example.org"]
    calls = host.evaluate("testHost.appCalls")
    assert [(c["name"], c["arguments"]) for c in calls if c["name"] == "approve_run"] == [
        ("approve_run", {"nonce": nonce, "approve": True})
    ]
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "approved" in told
    assert nonce not in told
    assert host.errors == []


def test_cancel_changes_nothing_and_spends_the_approval(host: Host, stack: Stack) -> None:
    seed(stack, 3)
    before = stack.contacts()
    answer = host.call_as_model("delete_contacts", {"search": selection(host)})
    nonce = nonce_of(host, answer)

    host.screen.locator("#cancel").click()

    expect(host.screen.locator("#outcome-title")).to_have_text("Nothing was changed")
    assert stack.contacts() == before
    # The approval was spent: the same nonce cannot approve the run afterwards.
    again = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert stack.contacts() == before
    assert host.errors == []


def test_a_forged_reused_or_foreign_nonce_is_refused_and_writes_nothing(
    host: Host, stack: Stack
) -> None:
    """Through the host's bridge, as a screen calls: only the nonce the server gave for
    this preview runs it, once."""
    seed(stack, 3)
    before = stack.contacts()
    answer = host.call_as_model("delete_contacts", {"search": selection(host)})
    nonce = nonce_of(host, answer)
    forged = nonce[:-4] + ("AAAA" if not nonce.endswith("AAAA") else "BBBB")
    refused = host.call_as_screen("approve_run", {"nonce": forged, "approve": True})
    assert refused["isError"] is True
    assert "not valid" in refused["content"][0]["text"]
    # A nonce the server gave for another preview (an import's) approves no delete.
    host.call_as_model("preview_import", {"csv_text": "email\nzed@example.com\n"})
    other = host.evaluate("testHost.lastMeta()")["contacts-mcp/approval"]["nonce"]
    assert other != nonce
    foreign = host.call_as_screen("approve_run", {"nonce": other, "approve": True})
    assert foreign["isError"] is True
    assert stack.contacts() == before
    # The right one runs the delete, once; used again it is refused.
    approved = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert not approved.get("isError"), approved
    again = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert stack.emails() == ["keep0@example.org", "keep1@example.org"]


def test_an_update_preview_pages_its_sample_and_shows_the_consent_guards_holds(
    host: Host, stack: Stack
) -> None:
    seed(stack, 12)  # 3 of them unsubscribed
    before = stack.contacts()
    change = {"search": selection(host), "unsubscribed": False, "properties": {"plan": "pro"}}
    answer = host.call_as_model("update_contacts", change)
    preview = answer["structuredContent"]["preview"]
    assert (preview["to_change"], preview["refused"]) == (9, 3)
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Update 12 contacts")
    expect(fact(screen, "Selected")).to_have_text("12")
    expect(fact(screen, "To change")).to_have_text("9")
    expect(fact(screen, "Already as asked")).to_have_text("0")
    expect(fact(screen, "Held back")).to_have_text("3")
    expect(screen.locator("#holds-list li")).to_have_text(preview["refused_sample"])
    expect(screen.locator("#sample-caption")).to_have_text("A sample: 10 of the 12 contacts.")
    expect(screen.locator("#page")).to_have_text(f"1{DASH}5 of 10")
    expect(screen.locator("#sample-body tr")).to_have_count(5)
    first = preview["sample"][0]
    expect(screen.locator("#sample-body tr").first.locator("td")).to_have_text(
        [first["email"], changes(first["before"], first["after"])], use_inner_text=True
    )
    expect(screen.locator("#prev")).to_be_disabled()
    screen.locator("#next").click()
    expect(screen.locator("#page")).to_have_text(f"6{DASH}10 of 10")
    expect(screen.locator("#next")).to_be_disabled()
    expect(screen.locator("#sample-body .tag")).to_have_text(["held back"])

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Updated 9 of 12 contacts")
    contacts = stack.contacts()
    changed = [c["email"] for c in contacts if plan(c) == "pro"]
    held = [c["email"] for c in contacts if c["unsubscribed"]]
    assert changed == [c["email"] for c in before if at_acme(c) and not c["unsubscribed"]]
    assert held == sorted(preview["refused_sample"])
    assert all(plan(c) is None for c in contacts if c["email"] in held)
    assert host.errors == []


def test_the_screen_follows_a_long_run_and_cancels_it(browser: Browser, tmp_path: Path) -> None:
    # The emulator states 2 requests/s, which the server paces to, and tools hand back a
    # job after 1 s: the run (some 8 s) outlasts the approval's call, and the screen
    # follows it with get_job until Cancel the run stops it.
    with open_stack(tmp_path, rate_limit=2, wait_seconds=1) as stack:
        seed(stack, 8)
        previewed = [email for email in stack.emails() if email.endswith("@acme.com")]
        with open_host(browser, stack.url) as host:
            host.call_as_model("delete_contacts", {"search": selection(host)})
            screen = host.screen
            expect(screen.locator("#title")).to_have_text("Delete 8 contacts")
            screen.locator("#approve").click()

            expect(screen.locator("#run")).to_be_visible()
            expect(screen.locator("#run-title")).to_have_text("Approved. Deleting…")
            expect(screen.locator("#run-title")).to_be_focused()
            expect(screen.locator("#progress")).not_to_be_empty()
            screen.locator("#stop").click()

            expect(screen.locator("#outcome-title")).to_have_text("The run was cancelled")
            # What it did before the cancel, told from its last progress report.
            said = screen.locator("#outcome-text")
            expect(said).to_have_text(STOPPED_AT)
            expect(screen.locator("#outcome-notes li")).not_to_have_count(0)
            told = said.inner_text()
            # This screen's calls (the search's own screen makes others).
            calls = [
                (c["name"], c["arguments"])
                for c in host.evaluate("testHost.appCalls")
                if c["name"] in ("approve_run", "get_job")
            ]
            assert calls[0][0] == "approve_run"
            job_id = calls[1][1]["job_id"]
            assert ("get_job", {"job_id": job_id, "wait_seconds": 5}) in calls
            assert ("get_job", {"job_id": job_id, "cancel": True}) in calls
            assert host.errors == []
        # The run stopped part way; nothing outside the preview went.
        left = stack.emails()
        assert set(previewed) & set(left)
        assert set(left) <= {*previewed, "keep0@example.org", "keep1@example.org"}
        assert {"keep0@example.org", "keep1@example.org"} <= set(left)
        if told.startswith("Nothing was deleted"):
            assert set(previewed) <= set(left)
        elif told.startswith("At least "):
            assert len(set(previewed) - set(left)) >= int(told.split(" ")[2])


def test_a_deletes_snapshot_download_matches_the_snapshot(host: Host, stack: Stack) -> None:
    seed(stack, 5, hostile=True)
    host.call_as_model("delete_contacts", {"search": selection(host)})
    screen = host.screen
    screen.locator("#approve").click()
    expect(screen.locator("#outcome-title")).to_have_text("Deleted 5 of 5 contacts")
    [run] = [
        job
        for job in host.call_as_screen("get_job", {})["structuredContent"]["recent"]
        if job["kind"] == "delete"
    ]
    done = host.call_as_screen("get_job", {"job_id": run["job_id"]})["structuredContent"]
    snapshot = Path(done["job"]["result"]["snapshot_file"])

    screen.locator("#file-list li").filter(has_text="Snapshot").get_by_role(
        "button", name=f"Download {snapshot.name}"
    ).click()

    host.page.wait_for_function("testHost.downloads.length === 1")
    [request] = host.evaluate("testHost.downloads")
    [link] = request["contents"]
    assert (link["type"], link["uri"]) == (
        "resource_link",
        done["job"]["file_uris"]["snapshot_file"],
    )
    read = host.page.evaluate("uri => testHost.readResource(uri)", link["uri"])
    [content] = read["contents"]
    assert content["_meta"]["contacts-mcp/page"]["pages"] == 1
    assert str(content["text"]).encode("utf-8") == snapshot.read_bytes()
    assert 'ada.0@acme.com,"<img src=x' in snapshot.read_text(encoding="utf-8")  # as they were
    assert host.errors == []


# In the screen's frame: whether the host sized the iframe to the content, measured as the
# App class measures it for its size-changed notifications.
FITS = """() => {
    const root = document.documentElement;
    const height = root.style.height;
    root.style.height = "max-content";
    const content = Math.ceil(root.getBoundingClientRect().height);
    root.style.height = height;
    return Math.abs(innerHeight - content) <= 1;
}"""


def shoot(host: Host, path: Path) -> None:
    """A screenshot of the screen once it has settled: the host's iframe sized to the
    screen's content, and two shots in a row alike (the first of a page may be taken
    before the frame's first paint)."""
    host.page.frames[1].wait_for_function(FITS)
    iframe = host.page.locator("iframe")
    shot = iframe.screenshot()
    for _ in range(10):
        again = iframe.screenshot()
        if again == shot:
            break
        shot = again
    else:
        pytest.fail(f"the screen did not settle for a screenshot ({path.name})")
    path.write_bytes(shot)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_at_phone_width_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    seed(stack, 12)
    with open_host(browser, stack.url, theme) as host:
        search = selection(host)
        host.call_as_model("delete_contacts", {"search": search})
        screen = host.screen
        expect(screen.locator("#title")).to_have_text("Delete 12 contacts")
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        # Nothing is wider than the phone: no sideways scrolling.
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"bulk-review-delete-{theme}"))

        change = {"search": search, "unsubscribed": False, "properties": {"plan": "pro"}}
        host.call_as_model("update_contacts", change)
        expect(screen.locator("#title")).to_have_text("Update 12 contacts")
        expect(screen.locator("#holds")).to_be_visible()
        shoot(host, screenshot_path(tmp_path, f"bulk-review-update-{theme}"))
        screen.locator("#approve").click()
        expect(screen.locator("#outcome-title")).to_have_text("Updated 9 of 12 contacts")
        shoot(host, screenshot_path(tmp_path, f"bulk-review-done-{theme}"))
        assert host.errors == []
