"""The job view in a real browser, on our real server: get_job's answer shows a job's
progress live, then its result with the job's numbers; Cancel stops it and says what was
done before; the recent jobs open one by one; a download is exactly the file written; an
erasure's job shows its receipt, by reference, with no address anywhere."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Host, Stack, open_host, open_stack, screenshot_path
from tests.browser.test_bulk_review import HOSTILE, fact, nonce_of, seed, selection, shoot
from tests.browser.test_forget_review import GONE, KEPT
from tests.server.test_imports import EXAMPLE, EXAMPLE_IMPORTABLE, import_args

# The bar and the progress line, read at once (the job moves on between two reads).
SHOWN = """() => {
    const bar = document.getElementById("bar");
    return [{ value: bar.value, max: bar.max }, document.getElementById("progress").textContent];
}"""

# The screen's own markup as it stands, without its script (whose code is not shown).
MARKUP = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("script").forEach((script) => script.remove());
    return document.title + body.outerHTML;
}"""


def job_now(host: Host, job_id: str, wait: float = 0) -> dict[str, Any]:
    """The job as the server has it now (or once it ends, within `wait` seconds)."""
    answer = host.call_as_screen("get_job", {"job_id": job_id, "wait_seconds": wait})
    assert not answer.get("isError"), answer
    job = answer["structuredContent"]["job"]
    assert isinstance(job, dict)
    return job


def ended(host: Host, job_id: str) -> dict[str, Any]:
    """The job once it has ended (get_job returns as soon as it does)."""
    job = job_now(host, job_id, 50)
    assert job["status"] != "working", job
    return job


def downloaded(host: Host) -> bytes:
    """The file of the screen's last download, read as the host reads it."""
    [request] = host.evaluate("testHost.downloads")
    [link] = request["contents"]
    assert link["type"] == "resource_link"
    assert link["uri"].startswith("contacts-mcp://files/")
    read = host.page.evaluate("uri => testHost.readResource(uri)", link["uri"])
    [content] = read["contents"]
    assert content["_meta"]["contacts-mcp/page"]["pages"] == 1
    return str(content["text"]).encode("utf-8")


def test_a_slow_export_shows_its_progress_then_its_rows_and_file(
    browser: Browser, tmp_path: Path
) -> None:
    # The emulator states 5 requests/s, which the server paces to: a fresh export of 60
    # contacts reads each first (some 12 s), and tools hand back the job after 1 s.
    with open_stack(tmp_path, rate_limit=5, wait_seconds=1) as stack:
        seed(stack, 60, others=0)
        target = tmp_path / "acme.csv"
        with open_host(browser, stack.url) as host:
            search = selection(host)
            started = host.call_as_model(
                "export_contacts", {"search": search, "path": str(target), "fresh": True}
            )
            handle = started["structuredContent"]
            assert handle["status"] == "working", handle
            host.call_as_model("get_job", {"job_id": handle["job_id"], "wait_seconds": 0})
            screen = host.screen

            expect(screen.locator("#title")).to_have_text("Export")
            expect(screen.locator("#job-title")).to_have_text("Running…")
            expect(screen.locator("#job-status")).to_have_text("Running")
            expect(screen.locator("#stop")).to_be_enabled()
            # Live: the step with its count, the bar at that count, and the time left.
            expect(screen.locator("#progress")).to_have_text(
                re.compile(r"^Re-checking contacts: (20|40) of 60$")
            )
            expect(screen.locator("#eta")).to_have_text(re.compile(r"^About .+ left\.$"))
            bar, said = host.page.frames[1].evaluate(SHOWN)
            if said.startswith("Re-checking"):  # not ended meanwhile
                assert (bar["value"], bar["max"]) == (int(said.split(" ")[-3]), 60)
            shoot(host, screenshot_path(tmp_path, "job-view-running-light"))

            expect(screen.locator("#job-title")).to_have_text("Exported 60 contacts")
            job = ended(host, handle["job_id"])
            result = job["result"]
            expect(fact(screen, "Rows", "#result-facts")).to_have_text("60")
            expect(fact(screen, "Columns", "#result-facts")).to_have_text(
                str(len(result["columns"]))
            )
            expect(fact(screen, "API requests", "#result-facts")).to_have_text(
                str(result["requests"])
            )
            expect(screen.locator("#live")).to_be_hidden()
            expect(screen.locator("#rows")).to_be_hidden()  # past 50, rows are not inline
            expect(screen.locator("#file-list li")).to_contain_text(["The export: acme.csv"])
            calls = [(c["name"], c["arguments"]) for c in host.evaluate("testHost.appCalls")]
            assert ("get_job", {"job_id": handle["job_id"], "wait_seconds": 5}) in calls
            assert host.errors == []


def test_cancel_stops_a_bulk_delete_and_says_what_it_deleted_before(
    browser: Browser, tmp_path: Path
) -> None:
    # 100 contacts at 10 requests/s: each is read (10 s), then deleted (10 s). The test
    # waits, through its own get_job calls, for the deleting to be under way, then the
    # person presses Cancel with some 8 s of it still to go.
    with open_stack(tmp_path, rate_limit=10, wait_seconds=1) as stack:
        seed(stack, 100, others=1)
        with open_host(browser, stack.url) as host:
            answer = host.call_as_model("delete_contacts", {"search": selection(host)})
            approved = host.call_as_screen(
                "approve_run", {"nonce": nonce_of(host, answer), "approve": True}
            )
            job_id = approved["structuredContent"]["run"]["job_id"]
            host.call_as_model("get_job", {"job_id": job_id, "wait_seconds": 0})
            screen = host.screen
            expect(screen.locator("#title")).to_have_text("Bulk delete")
            expect(screen.locator("#stop")).to_be_enabled()
            while True:  # each call waits up to 0.5 s for the job to end, never more
                job = job_now(host, job_id, 0.5)
                assert job["status"] == "working", job
                if job["message"].startswith("deleted: "):
                    break

            screen.locator("#stop").focus()
            host.page.keyboard.press("Enter")

            expect(screen.locator("#job-title")).to_have_text("The job was cancelled")
            expect(screen.locator("#job-status")).to_have_text("Cancelled")
            expect(screen.locator("#job-title")).to_be_focused()
            said = screen.locator("#stopped-done")
            expect(said).to_have_text(
                re.compile(r"^At least \d+ of the 100 contacts were deleted before the cancel\.$")
            )
            at_least = int(said.inner_text().split(" ")[2])
            expect(screen.locator("#stopped-rest")).to_contain_text(
                f"The other {100 - at_least} were left as they were"
            )
            expect(fact(screen, "Deleted (at least)", "#result-facts")).to_have_text(str(at_least))
            expect(fact(screen, "Selected", "#result-facts")).to_have_text("100")
            assert job_now(host, job_id)["status"] == "cancelled"
            shoot(host, screenshot_path(tmp_path, "job-view-cancelled-light"))
            calls = [(c["name"], c["arguments"]) for c in host.evaluate("testHost.appCalls")]
            assert ("get_job", {"job_id": job_id, "cancel": True}) in calls
            told = f"The person cancelled job {job_id} (Bulk delete) in the job view."
            host.page.wait_for_function(
                "told => testHost.modelContext.some(u => JSON.stringify(u).includes(told))",
                arg=told,
            )
            assert host.errors == []
        # What the screen said is so: at least that many went, and the run stopped part way.
        left = [email for email in stack.emails() if email.endswith("@acme.com")]
        assert 20 <= at_least <= 100 - len(left) < 100
        assert "keep0@example.org" in stack.emails()


def test_the_recent_jobs_list_and_opens_each(host: Host, stack: Stack, tmp_path: Path) -> None:
    seed(stack, 3)
    search = selection(host)
    host.call_as_model("export_contacts", {"search": search, "path": str(tmp_path / "a.csv")})
    emails = [email for email in stack.emails() if email.endswith("@acme.com")]
    host.call_as_model("update_contacts", {"contacts": emails, "properties": {"plan": "pro"}})

    listed = host.call_as_model("get_job", {})["structuredContent"]["recent"]
    # Newest first; the search's sync of the mirror is a job too.
    assert [job["kind"] for job in listed] == ["update", "export", "sync"]
    screen = host.screen
    expect(screen.locator("#title")).to_have_text("Recent jobs")
    rows = screen.locator("#recent-body tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td").nth(0)).to_have_text(f"Bulk update{listed[0]['job_id']}")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("Completed")

    # From the keyboard: the table, then the first job's button.
    screen.locator("#recent-wrap").focus()
    host.page.keyboard.press("Tab")
    expect(rows.nth(0).locator("button")).to_be_focused()
    host.page.keyboard.press("Tab")
    host.page.keyboard.press("Enter")  # the export

    expect(screen.locator("#title")).to_have_text("Export")
    expect(screen.locator("#job-title")).to_have_text("Exported 3 contacts")
    expect(screen.locator("#job-title")).to_be_focused()
    expect(screen.locator("#job-meta")).to_contain_text(listed[1]["job_id"])
    expect(screen.locator("#file-list li")).to_contain_text(["The export: a.csv"])

    screen.locator("#back").click()
    expect(screen.locator("#title")).to_have_text("Recent jobs")
    rows.nth(0).locator("button").click()
    expect(screen.locator("#job-title")).to_have_text("Updated 3 of 3 contacts")
    expect(fact(screen, "Updated", "#result-facts")).to_have_text("3")
    expect(fact(screen, "Failed", "#result-facts")).to_have_text("0")
    opened = [c["arguments"] for c in host.evaluate("testHost.appCalls") if c["name"] == "get_job"]
    assert opened[-3:] == [
        {"job_id": listed[1]["job_id"], "wait_seconds": 0},
        {},
        {"job_id": listed[0]["job_id"], "wait_seconds": 0},
    ]
    assert host.errors == []


def test_a_download_matches_the_export(host: Host, stack: Stack, tmp_path: Path) -> None:
    seed(stack, 4, hostile=True)
    target = tmp_path / "acme.csv"
    started = host.call_as_model(
        "export_contacts", {"search": selection(host), "path": str(target)}
    )
    job_id = started["structuredContent"]["job_id"]
    host.call_as_model("get_job", {"job_id": job_id})
    screen = host.screen
    expect(screen.locator("#job-title")).to_have_text("Exported 4 contacts")
    job = ended(host, job_id)
    expect(screen.locator("#rows-caption")).to_have_text("All 4 rows.")
    first = job["result"]["contacts"][0]
    expect(screen.locator("#rows-body tr").first.locator("td")).to_have_text(
        [first["email"], f"{first['first_name']} {first['last_name']}"]
    )
    # The hostile name came as text in the export's rows, and nothing of it ran.
    expect(screen.locator("#rows-body")).to_contain_text(HOSTILE)
    expect(screen.locator("img")).to_have_count(0)

    screen.get_by_role("button", name="Download acme.csv").click()

    host.page.wait_for_function("testHost.downloads.length === 1")
    assert downloaded(host) == target.read_bytes()
    assert host.errors == []


def test_an_import_and_the_resend_import_it_ran(host: Host, tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "contacts.csv")
    arguments = import_args(path=str(tmp_path / "contacts.csv"), strategy="api")
    started = host.call_as_model("import_contacts", arguments)
    job_id = started["structuredContent"]["job_id"]
    summary = ended(host, job_id)["result"]
    host.call_as_model("get_job", {"job_id": job_id})
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Import")
    imported = summary["created"] + summary["updated"]
    expect(screen.locator("#job-title")).to_have_text(
        f"Imported {imported} contacts from {summary['rows']} rows"
    )
    for label, key in [("Created", "created"), ("Failed", "failed"), ("Duplicates", "duplicates")]:
        expect(fact(screen, label, "#result-facts")).to_have_text(str(summary[key]))
    expect(screen.locator("#file-list li")).to_contain_text(["Not done, with the reasons: "])

    [import_id] = summary["import_ids"]
    host.call_as_model("get_job", {"job_id": import_id})
    expect(screen.locator("#title")).to_have_text("Resend import")
    expect(screen.locator("#api-import-status")).to_have_text("completed")
    expect(fact(screen, "Created", "#api-import-facts")).to_have_text(str(EXAMPLE_IMPORTABLE))
    expect(screen.locator("#api-import-meta")).to_contain_text("Started")
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_the_job_view_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    seed(stack, 12)
    with open_host(browser, stack.url, theme) as host:
        started = host.call_as_model(
            "export_contacts", {"search": selection(host), "path": str(tmp_path / "acme.csv")}
        )
        host.call_as_model("get_job", {"job_id": started["structuredContent"]["job_id"]})
        screen = host.screen
        expect(screen.locator("#job-title")).to_have_text("Exported 12 contacts")
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"job-view-{theme}"))

        host.call_as_model("get_job", {})
        expect(screen.locator("#title")).to_have_text("Recent jobs")
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"job-view-recent-{theme}"))
        assert host.errors == []


def forgotten_job(host: Host, stack: Stack) -> dict[str, Any]:
    """Two contacts and a local copy of them (the search mirror), then one of them
    forgotten through the MCP client, with no screen: a preview, and its confirmation.
    The run, as the call that ran it got it (the addresses are in that answer only)."""
    stack.seed("POST", "/contacts", {"email": GONE, "first_name": "Ada", "last_name": "Lovelace"})
    stack.seed("POST", "/contacts", {"email": KEPT, "first_name": "Grace", "last_name": "Hopper"})
    found = host.call_as_screen("search_contacts", {"where": [], "count_only": True})
    assert not found.get("isError"), found
    answer = host.call_as_screen("forget_contacts", {"emails": [GONE]})
    assert not answer.get("isError"), answer
    confirm = answer["structuredContent"]["preview"]["confirm"]
    answer = host.call_as_screen("forget_contacts", {"emails": [GONE], "confirm": confirm})
    assert not answer.get("isError"), answer
    run = answer["structuredContent"]["run"]
    assert run["status"] == "completed", run
    assert [p["email"] for p in run["result"]["people"]] == [GONE]
    assert stack.emails() == [KEPT]
    return run  # type: ignore[no-any-return]


def test_a_forget_job_shows_its_receipt_by_reference_only(host: Host, stack: Stack) -> None:
    job_id = forgotten_job(host, stack)["job_id"]

    answer = host.call_as_model("get_job", {"job_id": job_id})
    result = answer["structuredContent"]["job"]["result"]
    [receipt] = result["people"]
    assert receipt["email"] is None  # the job keeps people by reference only
    assert receipt["person"].startswith("hmac:")
    assert receipt["local"], receipt  # the mirror held her
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Forget people")
    expect(screen.locator("#job-title")).to_have_text("Forgot 1 of 1 person")
    expect(screen.locator("#job-status")).to_have_text("Completed")
    expect(screen.locator("#ended-text")).to_have_text(
        "Finished: everyone named is forgotten here."
    )
    records = sum(place["records"] for place in receipt["local"])
    expect(fact(screen, "Forgotten", "#result-facts")).to_have_text("1")
    expect(fact(screen, "Not completely", "#result-facts")).to_have_text("0")
    expect(fact(screen, "Local records", "#result-facts")).to_have_text(str(records))
    expect(fact(screen, "API requests", "#result-facts")).to_have_text(str(result["requests"]))
    # Said once, above the receipt: the job holds references, not addresses.
    expect(screen.locator("#receipt-note")).to_have_text(
        "This job keeps people by reference only (a keyed hash of the address): their "
        "addresses were shown only to the call that ran it."
    )
    expect(screen.locator("#receipt-who")).to_have_text("Reference")
    expect(screen.locator("#receipt-caption")).to_contain_text("1 person.")
    rows = screen.locator("#receipt-body tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.first).to_have_text(receipt["person"])
    done = cells.last
    expect(done).to_contain_text(f"Resend: deleted ({receipt['resend_detail']})")
    for place in receipt["local"]:
        expect(done).to_contain_text(f"{place['kind']}: ")
    expect(done).to_contain_text("Suppressed: not asked")
    expect(done).to_contain_text("Forgotten: yes")
    notes = screen.locator("#result-notes li")
    expect(notes).to_have_text([*result["notes"], result["not_covered"]])
    expect(screen.locator("#files")).to_be_hidden()
    expect(screen.locator("#stopped")).to_be_hidden()
    # No address anywhere on the screen: not the one forgotten, not any other.
    markup = host.page.frames[1].evaluate(MARKUP)
    assert receipt["person"] in markup
    assert GONE not in markup
    assert KEPT not in markup
    assert "@" not in markup

    # The recent jobs name it, and open it again.
    host.call_as_model("get_job", {})
    expect(screen.locator("#title")).to_have_text("Recent jobs")
    row = screen.locator("#recent-body tr").filter(has_text=job_id)
    expect(row.locator("td").first).to_have_text(f"Forget people{job_id}")
    row.locator("button").click()
    expect(screen.locator("#job-title")).to_have_text("Forgot 1 of 1 person")
    expect(screen.locator("#receipt-body tr").first.locator("td").first).to_have_text(
        receipt["person"]
    )
    assert "@" not in host.page.frames[1].evaluate(MARKUP)
    assert host.errors == []


def test_cancel_stops_a_forget_and_says_how_far_it_got(browser: Browser, tmp_path: Path) -> None:
    # 8 people at 2 requests/s: each is read and deleted at Resend (1 s a person) before
    # any local copy is removed. The person cancels once the first are done at Resend.
    people = [f"person{i}@example.com" for i in range(8)]
    with open_stack(tmp_path, rate_limit=2, wait_seconds=1) as stack:
        for email in [*people, KEPT]:
            stack.seed("POST", "/contacts", {"email": email})
        with open_host(browser, stack.url) as host:
            answer = host.call_as_screen("forget_contacts", {"emails": people})
            confirm = answer["structuredContent"]["preview"]["confirm"]
            answer = host.call_as_screen("forget_contacts", {"emails": people, "confirm": confirm})
            run = answer["structuredContent"]["run"]
            assert run["status"] == "working", run
            job_id = run["job_id"]
            host.call_as_model("get_job", {"job_id": job_id, "wait_seconds": 0})
            screen = host.screen
            expect(screen.locator("#title")).to_have_text("Forget people")
            expect(screen.locator("#stop")).to_be_enabled()
            while True:  # each call waits up to 0.5 s for the job to end, never more
                job = job_now(host, job_id, 0.5)
                assert job["status"] == "working", job
                if job["message"].startswith("forgot "):
                    break

            screen.locator("#stop").click()

            expect(screen.locator("#job-title")).to_have_text("The job was cancelled")
            said = screen.locator("#stopped-done")
            expect(said).to_have_text(
                re.compile(
                    r"^At least \d+ of the 8 people (was|were) handled at Resend before the "
                    r"cancel \(their contacts deleted there\); no copy of them here had been "
                    r"removed yet\.$"
                )
            )
            at_least = int(said.inner_text().split(" ")[2])
            expect(screen.locator("#stopped-rest")).to_contain_text(
                "Run forget_contacts again for the same people to finish it"
            )
            expect(fact(screen, "Handled at Resend (at least)", "#result-facts")).to_have_text(
                str(at_least)
            )
            expect(fact(screen, "People", "#result-facts")).to_have_text("8")
            assert "@" not in host.page.frames[1].evaluate(MARKUP)
            assert job_now(host, job_id)["status"] == "cancelled"
            assert host.errors == []
        left = [email for email in stack.emails() if email in people]
        assert 1 <= at_least <= len(people) - len(left) < len(people)
        assert KEPT in stack.emails()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_a_forget_job_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    with open_host(browser, stack.url, theme) as host:
        job_id = forgotten_job(host, stack)["job_id"]
        host.call_as_model("get_job", {"job_id": job_id})
        screen = host.screen
        expect(screen.locator("#job-title")).to_have_text("Forgot 1 of 1 person")
        expect(screen.locator("#receipt-body tr")).to_have_count(1)
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"job-view-forget-{theme}"))
        assert host.errors == []
