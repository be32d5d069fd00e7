"""An undo in the bulk review screen and the job view, in a real browser, on our real
server: `update_contacts(undo=<job id>)` previews what it puts back (now → put back),
which contacts changed again since and are left alone, and who stays unsubscribed;
Approve puts back exactly that, Cancel changes nothing; a delete's undo restores its
contacts; an import's puts back what it changed and deletes again what it created; the
job view shows an undo's outcome."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, expect

from tests.browser.conftest import Host, Stack, open_host, screenshot_path
from tests.browser.test_bulk_review import HOSTILE, fact, nonce_of, seed, selection, shoot
from tests.browser.test_job_view import ended
from tests.server.test_bulk import read_csv

# The contact changed elsewhere between the job and its undo (seed's second contact).
CHANGED = "grace.1@acme.com"
ARROW = "\u2192"
DASH = "\u2014"
# The snapshot of what an undo deleted, as the screens name it (ui/src/view.ts,
# MERGE_SNAPSHOT: a merge's is named so too).
DELETED_SNAPSHOT = "Snapshot of the deleted contacts (an undo restores them)"


def confirmed(host: Host, tool: str, arguments: dict[str, Any]) -> str:
    """A bulk change through the MCP client, with no screen: its preview, then exactly
    that confirmed. The job's id, once it ended, completed with no failure."""
    answer = host.call_as_screen(tool, arguments)
    assert not answer.get("isError"), answer
    token = answer["structuredContent"]["preview"]["confirm"]
    answer = host.call_as_screen(tool, {**arguments, "confirm": token})
    assert not answer.get("isError"), answer
    job_id = str(answer["structuredContent"]["run"]["job_id"])
    job = ended(host, job_id)
    assert job["status"] == "completed", job
    assert job["result"]["failed"] == 0, job
    return job_id


def refreshed(host: Host) -> None:
    """The search mirror synced in full, property values included: what the undo's
    preview reads sees what changed at Resend since the job."""
    found = host.call_as_screen(
        "search_contacts", {"where": [], "refresh": "full", "properties": True, "count_only": True}
    )
    assert not found.get("isError"), found


def state(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every contact as the emulator holds it, by email: the fields an undo puts back."""
    return {
        contact["email"]: {
            "first_name": contact["first_name"],
            "last_name": contact["last_name"],
            "unsubscribed": contact["unsubscribed"],
            "plan": (contact["properties"].get("plan") or {}).get("value"),
            "segments": sorted(
                s["name"] for s in stack.seed("GET", f"/contacts/{contact['id']}/segments")["data"]
            ),
        }
        for contact in stack.contacts()
    }


def value(shown: Any) -> str:
    """A sample's value as the screen shows it (ui/src/format.ts, shownValue)."""
    if shown is None or shown == "":
        return "(none)"
    return shown if isinstance(shown, str) else json.dumps(shown)


def put_back(now: dict[str, Any], after: dict[str, Any]) -> str:
    """An undo's sample cell: a `key: now → put back` line a fact."""
    return " ".join(f"{key}: {value(now.get(key))} {ARROW} {value(v)}" for key, v in after.items())


def restored_with(after: dict[str, Any]) -> str:
    """A delete's undo's sample cell: a `key: value` line a field the snapshot holds."""
    return " ".join(f"{key}: {value(v)}" for key, v in after.items())


def named_file(label: str, path: str) -> re.Pattern[str]:
    """A file's line in a screen's list: its label and name, and a Download button where
    the server serves the file as a resource (file_resources.JOB_FILES names no undo's
    files yet: then its name alone says where it is on the server)."""
    return re.compile(f"^{re.escape(f'{label}: {Path(path).name}')}(Download)?$")


def latest_undo(host: Host) -> str:
    """The id of the newest undo job."""
    recent = host.call_as_screen("get_job", {})["structuredContent"]["recent"]
    return str(next(job["job_id"] for job in recent if job["kind"] == "undo"))


def updated_then_changed(
    host: Host, stack: Stack, change: dict[str, Any]
) -> tuple[str, dict[str, dict[str, Any]]]:
    """12 contacts at acme.com (every fourth unsubscribed) and a VIP segment; `change` run
    on them all; then CHANGED's plan changed again elsewhere, and the mirror synced. The
    job's id, and every contact as it was before the job."""
    stack.seed("POST", "/segments", {"name": "VIP"})
    seed(stack, 12)
    before = state(stack)
    job = confirmed(host, "update_contacts", {"search": selection(host), **change})
    stack.seed("PATCH", f"/contacts/{CHANGED}", {"properties": {"plan": "enterprise"}})
    refreshed(host)
    return job, before


def undid(preview: dict[str, Any], job: str) -> str:
    """What the job did, as the undo's preview says it ("set plan = 'pro', …")."""
    prefix = f"undo job {job} ("
    assert preview["change"].startswith(prefix), preview["change"]
    return str(preview["change"][len(prefix) : -1])


def expect_sample_row(screen: FrameLocator, row: int, email: str, cell: str) -> None:
    expect(screen.locator("#sample-body tr").nth(row).locator("td")).to_have_text(
        [email, cell], use_inner_text=True
    )


def test_an_undo_preview_shows_what_it_puts_back_and_approve_puts_back_exactly_that(
    host: Host, stack: Stack
) -> None:
    change = {"properties": {"plan": "pro"}, "add_segments": ["VIP"]}
    job, before = updated_then_changed(host, stack, change)
    after_job = state(stack)
    assert after_job[CHANGED]["plan"] == "enterprise"

    answer = host.call_as_model("update_contacts", {"undo": job})
    preview = answer["structuredContent"]["preview"]
    nonce = nonce_of(host, answer)
    assert (preview["count"], preview["to_change"], preview["already"]) == (12, 11, 0)
    assert (preview["changed_since"], preview["refused"]) == (1, 0)
    [left_alone] = preview["changed_since_sample"]
    assert left_alone.startswith(f"{CHANGED}: plan changed since the run")
    screen = host.screen

    expect(screen.locator("#title")).to_have_text(f"Undo job {job}")
    expect(screen.locator("#lead")).to_have_text(
        f"It changed 12 contacts ({undid(preview, job)}): each still as it left them is put "
        "back as it was before."
    )
    expect(fact(screen, "Changed by the job")).to_have_text("12")
    expect(fact(screen, "To put back")).to_have_text("11")
    expect(fact(screen, "Already as before")).to_have_text("0")
    expect(fact(screen, "Changed again since")).to_have_text("1")
    expect(fact(screen, "Kept unsubscribed")).to_have_text("0")
    expect(fact(screen, "API requests")).to_have_text(str(preview["requests"]))
    # The contact changed since is named, with what changed, and left alone.
    expect(screen.locator("#since-title")).to_have_text("Changed again since")
    expect(screen.locator("#since-text")).to_have_text(
        f"1 contact changed again since the job {DASH} left alone, never overwritten."
    )
    expect(screen.locator("#since-list li")).to_have_text([left_alone])
    expect(screen.locator("#holds")).to_be_hidden()
    expect(screen.locator("#missing")).to_be_hidden()
    expect(screen.locator("#notes li")).to_have_text(preview["notes"])
    # The sample: now → put back, of the contacts put back only.
    expect(screen.locator("#sample-title")).to_have_text(f"Now {ARROW} put back")
    expect(screen.locator("#sample-head th")).to_have_text(["Contact", f"Now {ARROW} put back"])
    expect(screen.locator("#sample-caption")).to_have_text("A sample: 10 of the 11 to put back.")
    first = preview["sample"][0]
    assert first["after"] == {"plan": None, "in VIP": False}
    expect_sample_row(screen, 0, first["email"], put_back(first["before"], first["after"]))
    assert CHANGED not in [s["email"] for s in preview["sample"]]
    expect(screen.locator("#approve")).to_have_class("primary")
    assert state(stack) == after_job  # a preview writes nothing

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Put back 11 of 12 contacts")
    expect(screen.locator("#outcome-title")).to_be_focused()
    expect(screen.locator("#outcome-text")).to_have_text("Finished, with no failures.")
    expect(fact(screen, "Put back", "#outcome-facts")).to_have_text("11")
    expect(fact(screen, "Already as before", "#outcome-facts")).to_have_text("0")
    expect(fact(screen, "Changed again since", "#outcome-facts")).to_have_text("1")
    expect(fact(screen, "Kept unsubscribed", "#outcome-facts")).to_have_text("0")
    expect(fact(screen, "Deleted since", "#outcome-facts")).to_have_text("0")
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("0")
    undo = ended(host, latest_undo(host))
    outcome = undo["result"]
    assert (outcome["action"], outcome["done"], outcome["changed_since"]) == ("undo", 11, 1)
    expect(screen.locator("#outcome-notes li")).to_have_text(
        [
            *outcome["notes"],
            "Left alone, changed again since the job: "
            + "; ".join(outcome["changed_since_sample"])
            + ".",
        ]
    )
    expect(screen.locator("#file-list li")).to_have_text(
        [named_file("Not put back, with reasons", outcome["failures_file"])]
    )
    # Exactly the previewed undo: every contact as before the job, but the one changed
    # since, left as it is now (its plan changed elsewhere, still in VIP from the job).
    now = state(stack)
    assert now == {**before, CHANGED: after_job[CHANGED]}
    assert now[CHANGED] == {**before[CHANGED], "plan": "enterprise", "segments": ["VIP"]}
    calls = host.evaluate("testHost.appCalls")
    assert [(c["name"], c["arguments"]) for c in calls if c["name"] == "approve_run"] == [
        ("approve_run", {"nonce": nonce, "approve": True})
    ]
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert f"The person approved the previewed undo of job {job}" in told
    assert f"The approved undo finished (job {undo['job_id']}): 11 of 12 put back" in told
    assert nonce not in told
    assert host.errors == []


def test_cancel_on_an_undo_preview_changes_nothing_and_shows_who_stays_unsubscribed(
    host: Host, stack: Stack
) -> None:
    # The job unsubscribes all 12 (3 were already): the undo puts the plans back but keeps
    # the 8 it unsubscribed so (an undo never opts anyone back in), and leaves CHANGED (one
    # of the 9 it unsubscribed) alone entirely.
    job, _ = updated_then_changed(host, stack, {"unsubscribed": True, "properties": {"plan": "x"}})
    after_job = state(stack)
    answer = host.call_as_model("update_contacts", {"undo": job})
    preview = answer["structuredContent"]["preview"]
    nonce = nonce_of(host, answer)
    assert (preview["to_change"], preview["refused"], preview["changed_since"]) == (11, 8, 1)
    screen = host.screen

    expect(screen.locator("#title")).to_have_text(f"Undo job {job}")
    expect(fact(screen, "To put back")).to_have_text("11")
    expect(fact(screen, "Kept unsubscribed")).to_have_text("8")
    expect(fact(screen, "Changed again since")).to_have_text("1")
    expect(screen.locator("#holds-title")).to_have_text("Kept unsubscribed")
    expect(screen.locator("#holds-text")).to_contain_text(
        f"8 contacts kept unsubscribed {DASH} an undo never opts anyone back in"
    )
    expect(screen.locator("#holds-list li")).to_have_text(preview["refused_sample"])
    expect(screen.locator("#since-list li")).to_have_text(preview["changed_since_sample"])
    kept = set(preview["refused_sample"])
    tagged = [s["email"] for s in preview["sample"][:5] if s["email"] in kept]
    expect(screen.locator("#sample-body .tag")).to_have_text(["kept unsubscribed"] * len(tagged))

    screen.locator("#cancel").click()

    expect(screen.locator("#outcome-title")).to_have_text("Nothing was changed")
    assert state(stack) == after_job
    recent = host.call_as_screen("get_job", {})["structuredContent"]["recent"]
    assert all(listed["kind"] != "undo" for listed in recent)
    # The approval was spent: the same nonce cannot run the undo afterwards.
    again = host.call_as_screen("approve_run", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert state(stack) == after_job
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert f"The person cancelled the previewed undo of job {job}" in told
    assert host.errors == []


def test_a_deletes_undo_preview_restores_its_contacts_on_approve(host: Host, stack: Stack) -> None:
    seed(stack, 5, hostile=True)
    before = state(stack)
    job = confirmed(host, "delete_contacts", {"search": selection(host)})
    assert stack.emails() == ["keep0@example.org", "keep1@example.org"]
    # In between, one address is created again elsewhere: that contact is left alone.
    stack.seed("POST", "/contacts", {"email": CHANGED, "first_name": "New"})
    refreshed(host)

    answer = host.call_as_model("update_contacts", {"undo": job})
    preview = answer["structuredContent"]["preview"]
    assert (preview["count"], preview["to_change"], preview["changed_since"]) == (5, 4, 1)
    screen = host.screen

    expect(screen.locator("#title")).to_have_text(f"Undo job {job}")
    expect(screen.locator("#lead")).to_have_text(
        "It deleted 5 contacts: they are created again from the snapshot it took first."
    )
    expect(fact(screen, "Deleted by the job")).to_have_text("5")
    expect(fact(screen, "To restore")).to_have_text("4")
    expect(fact(screen, "Created again since")).to_have_text("1")
    expect(screen.locator("#facts .fact dt")).to_have_text(
        ["Deleted by the job", "To restore", "Created again since", "API requests", "Time"]
    )
    expect(screen.locator("#since-title")).to_have_text("Created again since")
    expect(screen.locator("#since-text")).to_have_text(
        f"1 address created again at Resend since the delete {DASH} left alone, never overwritten."
    )
    expect(screen.locator("#since-list li")).to_have_text([f"{CHANGED}: exists again at Resend"])
    expect(screen.locator("#sample-title")).to_have_text("Contacts to restore")
    expect(screen.locator("#sample-head th")).to_have_text(["Contact", "Restored with"])
    expect(screen.locator("#sample-caption")).to_have_text("All 4 to restore.")
    for row, sample in enumerate(preview["sample"]):
        assert sample["before"] == {"exists": False}
        expect_sample_row(screen, row, sample["email"], restored_with(sample["after"]))
    # The hostile name is shown as text, and nothing of it ran.
    expect(screen.locator("#sample-body")).to_contain_text(HOSTILE)
    expect(screen.locator("img")).to_have_count(0)
    assert host.page.title() != "pwned"

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Restored 4 of 5 contacts")
    expect(fact(screen, "Restored", "#outcome-facts")).to_have_text("4")
    expect(fact(screen, "Created again since", "#outcome-facts")).to_have_text("1")
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("0")
    outcome = ended(host, latest_undo(host))["result"]
    expect(screen.locator("#outcome-notes li")).to_have_text(outcome["notes"])
    now = state(stack)
    assert now.keys() == before.keys()
    for email, was in before.items():
        if email == CHANGED:
            assert now[email]["first_name"] == "New"  # left alone
        else:
            assert now[email] == was, email
    assert host.errors == []


def test_an_imports_undo_preview_deletes_what_it_created_and_approve_does_exactly_that(
    host: Host, stack: Stack
) -> None:
    seed(stack, 3)
    before = state(stack)
    # An upsert (run row by row, so journaled): an existing contact renamed, one created.
    arguments = {
        "csv_text": f"email,first_name\n{CHANGED},Gracie\nlinus@example.net,Linus\n",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "upsert",
    }
    started = host.call_as_screen("import_contacts", arguments)
    assert not started.get("isError"), started
    job = str(started["structuredContent"]["job_id"])
    summary = ended(host, job)["result"]
    assert (summary["strategy"], summary["created"], summary["updated"]) == ("rows", 1, 1)
    after_import = state(stack)
    assert after_import["linus@example.net"]["first_name"] == "Linus"
    assert after_import[CHANGED]["first_name"] == "Gracie"
    refreshed(host)

    answer = host.call_as_model("update_contacts", {"undo": job})
    preview = answer["structuredContent"]["preview"]
    assert preview["change"] == f"undo job {job} (an import: 1 created, 1 updated)"
    assert (preview["count"], preview["to_change"], preview["changed_since"]) == (2, 2, 0)
    # Put back first, then deleted again: what the job gave the created contact, gone.
    renamed, created = preview["sample"]
    assert (renamed["email"], renamed["after"]) == (CHANGED, {"first_name": "Grace"})
    assert created["email"] == "linus@example.net"
    assert created["before"]["first_name"] == "Linus"
    assert "exists" not in created["before"]
    assert created["after"] == {"exists": False}
    assert any("the job created are deleted again" in note for note in preview["notes"])
    screen = host.screen

    expect(screen.locator("#title")).to_have_text(f"Undo job {job}")
    expect(screen.locator("#lead")).to_have_text(
        f"It changed 2 contacts ({undid(preview, job)}): each still as it left them is put "
        "back as it was before, or deleted again if it created them."
    )
    expect(screen.locator("#facts .fact dt")).to_have_text(
        [
            "Changed by the job",
            "To put back or delete",
            "Already as before",
            "Changed again since",
            "Kept unsubscribed",
            "API requests",
            "Time",
        ]
    )
    expect(fact(screen, "To put back or delete")).to_have_text("2")
    expect(screen.locator("#notes li")).to_have_text(preview["notes"])
    # The sample: the renamed contact now → put back; the created one, with what it
    # holds now, deleted (tagged so, and no "exists: false" shown).
    expect(screen.locator("#sample-title")).to_have_text(f"Now {ARROW} put back, or deleted")
    expect(screen.locator("#sample-head th")).to_have_text(
        ["Contact", f"Now {ARROW} put back, or deleted"]
    )
    expect(screen.locator("#sample-caption")).to_have_text("All 2 to undo.")
    expect_sample_row(screen, 0, CHANGED, put_back(renamed["before"], renamed["after"]))
    rows = screen.locator("#sample-body tr")
    expect(rows.nth(0).locator(".tag")).to_have_count(0)
    expect(rows.nth(1).locator("td").first.locator(".tag")).to_have_text("deleted")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text(
        f"{restored_with(created['before'])} {ARROW} deleted", use_inner_text=True
    )
    expect(screen.locator("#sample-body")).not_to_contain_text("exists")
    # It deletes contacts: approved as a delete is.
    expect(screen.locator("#approve")).to_have_class("danger")
    assert state(stack) == after_import  # a preview writes nothing

    screen.locator("#approve").click()

    expect(screen.locator("#outcome-title")).to_have_text("Put back 2 of 2 contacts")
    expect(screen.locator("#outcome-text")).to_have_text("Finished, with no failures.")
    expect(fact(screen, "Put back", "#outcome-facts")).to_have_text("2")
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("0")
    outcome = ended(host, latest_undo(host))["result"]
    assert (outcome["action"], outcome["done"], outcome["failed"]) == ("undo", 2, 0)
    expect(screen.locator("#outcome-notes li")).to_have_text(outcome["notes"])
    # What it deleted was read into a snapshot first, offered as a merge's is.
    snapshot = Path(outcome["snapshot_file"])
    assert [row["email"] for row in read_csv(snapshot)] == ["linus@example.net"]
    files = [named_file(DELETED_SNAPSHOT, str(snapshot))]
    if outcome["failures_file"]:
        files.append(named_file("Not put back, with reasons", outcome["failures_file"]))
    expect(screen.locator("#file-list li")).to_have_text(files)
    # Exactly the previewed undo: the created contact gone, the renamed one put back.
    assert "linus@example.net" not in stack.emails()
    assert state(stack) == before
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert f"The person approved the previewed undo of job {job}" in told
    assert host.errors == []


def test_the_job_view_shows_an_undos_outcome(host: Host, stack: Stack) -> None:
    job, _ = updated_then_changed(host, stack, {"properties": {"plan": "pro"}})
    # Undone in the conversation: no review screen.
    undo = confirmed(host, "update_contacts", {"undo": job})
    outcome = ended(host, undo)["result"]
    assert (outcome["done"], outcome["changed_since"], outcome["gone"]) == (11, 1, 0)

    host.call_as_model("get_job", {"job_id": undo})
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Undo of a bulk change")
    expect(screen.locator("#job-title")).to_have_text("Put back 11 of 12 contacts")
    expect(screen.locator("#job-status")).to_have_text("Completed")
    expect(screen.locator("#ended-text")).to_have_text("Finished, with no failures.")
    expect(screen.locator("#result-facts .fact dt")).to_have_text(
        [
            "Put back",
            "Already as before",
            "Changed again since",
            "Kept unsubscribed",
            "Deleted since",
            "Failed",
            "API requests",
            "Took",
        ]
    )
    for label, key in [
        ("Put back", "done"),
        ("Already as before", "unchanged"),
        ("Changed again since", "changed_since"),
        ("Kept unsubscribed", "refused"),
        ("Deleted since", "gone"),
        ("Failed", "failed"),
        ("API requests", "requests"),
    ]:
        expect(fact(screen, label, "#result-facts")).to_have_text(str(outcome[key]))
    [left_alone] = outcome["changed_since_sample"]
    assert left_alone.startswith(f"{CHANGED}: plan changed since the run")
    expect(screen.locator("#result-notes li")).to_have_text(
        [*outcome["notes"], f"Left alone, changed again since the job: {left_alone}."]
    )
    expect(screen.locator("#file-list li")).to_have_text(
        [named_file("Not done, with the reasons", outcome["failures_file"])]
    )
    expect(screen.locator("#stopped")).to_be_hidden()
    # The recent jobs name it.
    host.call_as_model("get_job", {})
    row = screen.locator("#recent-body tr").filter(has_text=undo)
    expect(row.locator("td").first).to_have_text(f"Undo of a bulk change{undo}")
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_an_undo_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    with open_host(browser, stack.url, theme) as host:
        change = {"unsubscribed": True, "properties": {"plan": "pro"}, "add_segments": ["VIP"]}
        job, _ = updated_then_changed(host, stack, change)
        host.call_as_model("update_contacts", {"undo": job})
        screen = host.screen
        expect(screen.locator("#title")).to_have_text(f"Undo job {job}")
        expect(screen.locator("#since")).to_be_visible()
        expect(screen.locator("#holds")).to_be_visible()
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        # Nothing is wider than the phone: no sideways scrolling.
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"undo-review-{theme}"))

        screen.locator("#approve").click()
        expect(screen.locator("#outcome-title")).to_have_text("Put back 11 of 12 contacts")
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"undo-review-done-{theme}"))
        assert host.errors == []
