"""A merge of duplicates in the bulk review screen and the job view, in a real browser, on
our real server: `update_contacts(contacts=[…], merge="auto")` previews as a merge (the
kept contact before → after, the others to delete, the conflicts and that opt-outs win);
Approve merges exactly that, Cancel changes nothing; the job view shows a merge's
outcome and its snapshot."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Host, Stack, open_host, screenshot_path
from tests.browser.test_bulk_review import fact, nonce_of, shoot
from tests.browser.test_job_view import downloaded, ended
from tests.browser.test_undo_review import confirmed, put_back
from tests.server.test_bulk import read_csv
from tests.server.test_merge import ADA, OTHER, PROPERTIES, people

ARROW = "\u2192"
# A merge's snapshot, as the screens name it (ui/src/view.ts, MERGE_SNAPSHOT).
SNAPSHOT = "Snapshot of the deleted contacts (an undo restores them)"
GIVES = "copy company, seats, add to 'Beta', opt out of 'News', unsubscribe"
# The kept contact once merged: its own name and plan, the others' values it lacked,
# every segment, and the opt-outs (the unsubscribe of the third, News of the second).
MERGED = {
    "first_name": "Ada",
    "last_name": None,
    "unsubscribed": True,
    "properties": {"plan": "pro", "seats": 3, "company": "Acme"},
    "segments": ["Beta", "VIP"],
    "topics": {"News": "opt_out", "Offers": "opt_out"},
}


def three_adas(stack: Stack) -> None:
    """The three Adas and Grace of tests/server/test_merge.py (`people`), with their
    segments, properties and topics."""
    vip = stack.seed("POST", "/segments", {"name": "VIP"})
    beta = stack.seed("POST", "/segments", {"name": "Beta"})
    for key, kind in PROPERTIES:
        stack.seed("POST", "/contact-properties", {"key": key, "type": kind})
    news = stack.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    stack.seed("POST", "/topics", {"name": "Offers", "default_subscription": "opt_out"})
    for body in people(vip["id"], beta["id"], news["id"]):
        stack.seed("POST", "/contacts", body)


def everything(stack: Stack) -> dict[str, dict[str, Any]]:
    """Each contact as the emulator holds it, by email: fields, property values, segment
    names and each topic's choice (the topic's default where the contact made none)."""
    topics = stack.seed("GET", "/topics")["data"]
    found: dict[str, dict[str, Any]] = {}
    for contact in stack.contacts():
        segments = stack.seed("GET", f"/contacts/{contact['id']}/segments")["data"]
        chosen = stack.seed("GET", f"/contacts/{contact['id']}/topics")["data"]
        choices = {t["name"]: t["subscription"] for t in chosen}
        found[contact["email"]] = {
            "first_name": contact["first_name"],
            "last_name": contact["last_name"],
            "unsubscribed": contact["unsubscribed"],
            "properties": {k: v["value"] for k, v in contact["properties"].items()},
            "segments": sorted(s["name"] for s in segments),
            "topics": {
                t["name"]: choices.get(t["name"], t["default_subscription"]) for t in topics
            },
        }
    return found


def undo_note(job_id: str) -> str:
    """The note a merge's outcome ends with (ui/src/view.ts, mergeUndo)."""
    return (
        f"To undo it, ask the assistant to undo job {job_id}: the deleted contacts are "
        "restored from the snapshot, and the kept one is put back as it was, but for "
        "opt-outs (an undo never opts anyone back in)."
    )


def offered(label: str, path: str) -> re.Pattern[str]:
    """A file's line in a screen's list, with its Download button (file_resources'
    JOB_FILES serves a merge's files)."""
    return re.compile(f"^{re.escape(f'{label}: {Path(path).name}')}Download$")


def latest_merge(host: Host) -> str:
    recent = host.call_as_screen("get_job", {})["structuredContent"]["recent"]
    return str(next(job["job_id"] for job in recent if job["kind"] == "merge"))


def test_a_merge_preview_reads_as_a_merge_and_approve_merges_exactly_that(
    host: Host, stack: Stack
) -> None:
    three_adas(stack)
    before = everything(stack)
    answer = host.call_as_model("update_contacts", {"contacts": ADA, "merge": "auto"})
    preview = answer["structuredContent"]["preview"]
    nonce = nonce_of(host, answer)
    assert preview["change"].startswith(f"merge 3 contacts into {ADA[0]} ({GIVES})")
    kept, *deleted = preview["sample"]
    assert [s["after"] for s in deleted] == [{"deleted": True}] * 2
    screen = host.screen

    expect(screen.locator("#title")).to_have_text(f"Merge 3 contacts into {ADA[0]}")
    expect(screen.locator("#lead")).to_have_text(
        f"{ADA[0]} is kept, and takes what the others hold: {GIVES}. Then the other 2 are deleted."
    )
    expect(screen.locator("#facts .fact dt")).to_have_text(
        ["Contacts", "To delete", "Changes to the kept one", "API requests", "Time"]
    )
    expect(fact(screen, "Contacts")).to_have_text("3")
    expect(fact(screen, "To delete")).to_have_text("2")
    expect(fact(screen, "Changes to the kept one")).to_have_text(str(len(kept["after"])))
    expect(fact(screen, "API requests")).to_have_text(str(preview["requests"]))
    expect(fact(screen, "Time")).to_have_text(f"about {preview['estimated_seconds']} s")
    # The kept contact, before → after: only it is in the table.
    expect(screen.locator("#sample-title")).to_have_text(f"Kept: before {ARROW} after")
    expect(screen.locator("#sample-head th")).to_have_text(["Contact", f"Before {ARROW} after"])
    row = screen.locator("#sample-body tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_contain_text(ADA[0])
    expect(row.locator(".tag")).to_have_text(["kept"])
    expect(row.locator("td").nth(1)).to_have_text(
        put_back(kept["before"], kept["after"]), use_inner_text=True
    )
    expect(screen.locator("#pager")).to_be_hidden()
    # The others, listed to delete, each with what it holds.
    expect(screen.locator("#deleting-title")).to_have_text("To delete")
    items = screen.locator("#deleting-list li")
    expect(items).to_have_count(2)
    for i, sample in enumerate(deleted):
        expect(items.nth(i)).to_contain_text(sample["email"])
    assert [s["email"] for s in deleted] == ADA[1:]
    expect(screen.locator("#deleting-list .sub")).to_have_text(
        ["Subscribed · in Beta", "Unsubscribed · in no segment"]
    )
    # The notes: the conflict, that opt-outs win, the snapshot and the undo.
    expect(screen.locator("#rechecks-title")).to_have_text("Before you approve")
    expect(screen.locator("#notes li")).to_have_text(preview["notes"])
    notes = " ".join(preview["notes"])
    assert "plan: keeps 'pro' (a.da+news@googlemail.com has 'free')" in notes
    assert "Opt-outs always win" in notes
    assert "undo=" in notes
    for hidden in ("#missing", "#holds", "#since", "#warning"):
        expect(screen.locator(hidden)).to_be_hidden()
    expect(screen.locator("#approve")).to_have_class("danger")
    assert everything(stack) == before  # a preview writes nothing

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Merged 3 contacts into one")
    expect(screen.locator("#outcome-title")).to_be_focused()
    expect(screen.locator("#outcome-text")).to_have_text(
        "2 deleted after the kept one took what they held."
    )
    expect(screen.locator("#outcome-facts .fact dt")).to_have_text(
        ["Contacts", "Deleted", "Failed", "API requests", "Took"]
    )
    expect(fact(screen, "Contacts", "#outcome-facts")).to_have_text("3")
    expect(fact(screen, "Deleted", "#outcome-facts")).to_have_text("2")
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("0")
    job = ended(host, latest_merge(host))
    outcome = job["result"]
    assert (outcome["action"], outcome["selected"], outcome["done"]) == ("merge", 3, 2)
    expect(fact(screen, "API requests", "#outcome-facts")).to_have_text(str(outcome["requests"]))
    expect(screen.locator("#outcome-notes li")).to_have_text(
        [*outcome["notes"], undo_note(job["job_id"])]
    )
    assert outcome["notes"][0].startswith(f"Kept {ADA[0]}")
    assert outcome["failures_file"] is None
    expect(screen.locator("#file-list li")).to_have_text(
        [offered(SNAPSHOT, outcome["snapshot_file"])]
    )
    # Exactly the previewed merge: the kept one holds what the others did; they are gone.
    after = everything(stack)
    assert sorted(after) == [ADA[0], OTHER]
    assert after[ADA[0]] == MERGED
    assert after[OTHER] == before[OTHER]
    calls = host.evaluate("testHost.appCalls")
    assert [(c["name"], c["arguments"]) for c in calls if c["name"] == "approve_run"] == [
        ("approve_run", {"nonce": nonce, "approve": True})
    ]
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert f"The person approved the previewed merge of 3 contacts into {ADA[0]}" in told
    assert (
        f"The approved merge finished (job {job['job_id']}): 3 contacts merged into one, "
        "2 deleted after the kept one took what they held, 0 could not be deleted."
    ) in told
    assert nonce not in told
    assert host.errors == []


def test_cancel_on_a_merge_preview_changes_nothing(host: Host, stack: Stack) -> None:
    three_adas(stack)
    before = everything(stack)
    # The one to keep named: here the one on the misspelt domain (the person's choice).
    answer = host.call_as_model("update_contacts", {"contacts": ADA, "merge": ADA[2]})
    nonce = nonce_of(host, answer)
    screen = host.screen
    expect(screen.locator("#title")).to_have_text(f"Merge 3 contacts into {ADA[2]}")
    expect(screen.locator("#deleting-list li")).to_have_count(2)
    expect(screen.locator("#deleting-list")).not_to_contain_text(ADA[2])

    screen.locator("#cancel").click()

    expect(screen.locator("#outcome-title")).to_have_text("Nothing was changed")
    assert everything(stack) == before
    recent = host.call_as_screen("get_job", {})["structuredContent"]["recent"]
    assert all(job["kind"] != "merge" for job in recent)
    # The approval was spent: the same nonce cannot run the merge afterwards.
    again = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert everything(stack) == before
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert f"The person cancelled the previewed merge of 3 contacts into {ADA[2]}" in told
    assert host.errors == []


def test_the_job_view_shows_a_merges_outcome(host: Host, stack: Stack) -> None:
    three_adas(stack)
    # Merged in the conversation: no review screen.
    job_id = confirmed(host, "update_contacts", {"contacts": ADA, "merge": "auto"})
    job = ended(host, job_id)
    outcome = job["result"]
    assert (outcome["action"], outcome["done"], outcome["failed"]) == ("merge", 2, 0)
    assert everything(stack)[ADA[0]] == MERGED

    host.call_as_model("get_job", {"job_id": job_id})
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Merge of duplicates")
    expect(screen.locator("#job-title")).to_have_text("Merged 3 contacts into one")
    expect(screen.locator("#job-status")).to_have_text("Completed")
    expect(screen.locator("#ended-text")).to_have_text(
        "2 deleted after the kept one took what they held."
    )
    expect(screen.locator("#ended-text")).to_have_class("ok")
    expect(screen.locator("#result-facts .fact dt")).to_have_text(
        ["Contacts", "Deleted", "Failed", "API requests", "Took"]
    )
    for label, key in [
        ("Contacts", "selected"),
        ("Deleted", "done"),
        ("Failed", "failed"),
        ("API requests", "requests"),
    ]:
        expect(fact(screen, label, "#result-facts")).to_have_text(str(outcome[key]))
    expect(screen.locator("#result-notes li")).to_have_text([*outcome["notes"], undo_note(job_id)])
    assert any(note.startswith("Gave it: ") for note in outcome["notes"])
    expect(screen.locator("#stopped")).to_be_hidden()
    # Its snapshot, served as a resource: the download is the file written.
    snapshot = Path(outcome["snapshot_file"])
    expect(screen.locator("#file-list li")).to_have_text([offered(SNAPSHOT, str(snapshot))])
    screen.get_by_role("button", name=f"Download {snapshot.name}").click()
    host.page.wait_for_function("testHost.downloads.length === 1")
    assert downloaded(host) == snapshot.read_bytes()
    # The deleted ones, as they were.
    assert sorted(row["email"] for row in read_csv(snapshot)) == sorted(ADA[1:])
    # The recent jobs name it.
    host.call_as_model("get_job", {})
    row = screen.locator("#recent-body tr").filter(has_text=job_id)
    expect(row.locator("td").first).to_have_text(f"Merge of duplicates{job_id}")
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_a_merge_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    with open_host(browser, stack.url, theme) as host:
        three_adas(stack)
        host.call_as_model("update_contacts", {"contacts": ADA, "merge": "auto"})
        screen = host.screen
        expect(screen.locator("#title")).to_have_text(f"Merge 3 contacts into {ADA[0]}")
        expect(screen.locator("#deleting-list li")).to_have_count(2)
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        # Nothing is wider than the phone: no sideways scrolling.
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"merge-review-{theme}"))

        screen.locator("#approve").click()
        expect(screen.locator("#outcome-title")).to_have_text("Merged 3 contacts into one")
        expect(screen.locator("#file-list li")).to_have_count(1)
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"merge-review-done-{theme}"))
        assert host.errors == []
