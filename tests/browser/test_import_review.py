"""The import review screen in a real browser, on our real server: it shows a preview's
numbers, imports exactly the mapping the person edited and checked, takes a file from the
person's machine in chunks, Cancel changes nothing, and the model is never offered the
screen's own tools."""

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, expect

from tests.browser.conftest import Host, Stack, open_host, screenshot_path
from tests.browser.test_bulk_review import shoot

# The screen writes ranges with an en dash (U+2013).
DASH = "\u2013"
# Contact data is hostile input: the screen must show it as text, never run it.
HOSTILE = "<img src=x onerror=\"parent.document.title='pwned'\">"
# Ada exists already; a bad address, a duplicate, a seat count that is no number.
CSV = (
    "Email,First Name,Seats,Notes,Plan\n"
    "ada@example.com,Ada,3,met at the fair,pro\n"
    'grace@example.com,Grace,12,"' + HOSTILE.replace('"', '""') + '",team\n'
    "not-an-address,Nobody,1,,free\n"
    "GRACE@example.com,Grace again,2,,team\n"
    "alan@example.com,Alan,7,,pro\n"
    "edsger@example.com,Edsger,4,,free\n"
)


def write_csv(tmp_path: Path, name: str = "people.csv", text: str = CSV) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def seed(stack: Stack) -> None:
    stack.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    stack.seed("POST", "/contacts", {"email": "ada@example.com", "first_name": "Augusta"})


def fact(screen: FrameLocator, label: str, within: str = "#facts") -> Locator:
    return screen.locator(f"{within} .fact").filter(has_text=label).locator("dd")


def properties(stack: Stack) -> dict[str, str]:
    return {p["key"]: p["type"] for p in stack.seed("GET", "/contact-properties")["data"]}


def nonce_of(host: Host, answer: dict[str, Any]) -> str:
    """The approval nonce the host got in the preview's `_meta`: nowhere the model reads."""
    nonce = host.evaluate("testHost.lastMeta()")["contacts-mcp/approval"]["nonce"]
    assert isinstance(nonce, str)
    assert nonce not in json.dumps(answer["content"]) + json.dumps(answer["structuredContent"])
    return nonce


def app_calls(host: Host, name: str) -> list[dict[str, Any]]:
    return [c["arguments"] for c in host.evaluate("testHost.appCalls") if c["name"] == name]


def test_the_model_is_never_offered_the_screens_own_tools(host: Host) -> None:
    everything = set(host.evaluate("testHost.allToolNames()"))
    offered = set(host.evaluate("testHost.modelToolNames()"))
    assert {"approve_import", "upload_csv"} <= everything  # listed to this Apps client
    assert not {"approve_import", "upload_csv"} & offered
    assert {"preview_import", "import_contacts", "get_job"} <= offered
    with pytest.raises(Exception, match="the model has no tool approve_import"):
        host.call_as_model("approve_import", {"nonce": "x", "approve": True})


def test_a_preview_shows_its_numbers_problems_and_rows(
    host: Host, stack: Stack, tmp_path: Path
) -> None:
    seed(stack)
    answer = host.call_as_model("preview_import", {"path": str(write_csv(tmp_path))})
    assert not answer["isError"], answer["content"]
    report = answer["structuredContent"]["result"]
    nonce_of(host, answer)
    screen = host.screen

    expect(screen.locator("#title")).to_have_text("Import people.csv")
    expect(fact(screen, "Rows")).to_have_text("6")
    expect(fact(screen, "Importable")).to_have_text(str(report["importable_rows"]))
    expect(fact(screen, "Format")).to_have_text("utf-8, comma, header")
    rows = screen.locator("#mapping-body tr")
    expect(rows).to_have_count(5)
    expect(rows.locator("td.col")).to_have_text(["Email", "First Name", "Seats", "Notes", "Plan"])
    expect(screen.locator("#target-0")).to_have_value("email")
    expect(screen.locator("#target-2")).to_have_value("new")  # Seats: a new number property
    expect(screen.locator("#type-2")).to_have_value("number")
    expect(screen.locator("#key-2")).to_have_value("seats")
    expect(screen.locator("#target-4")).to_have_value("prop:plan")  # the existing property
    expect(screen.locator("#key-4")).to_be_hidden()
    expect(screen.locator("#problems h3")).to_have_text(
        ["1 row without a valid email address", "1 duplicate email address"]
    )
    expect(screen.locator("#problems li").first).to_contain_text("Row 4")
    expect(screen.locator("#rows-body tr")).to_have_count(len(report["sample"]))
    # The hostile note is shown as text, and nothing of it ran.
    expect(screen.locator("#mapping-body")).to_contain_text(HOSTILE)
    expect(screen.locator("img")).to_have_count(0)
    assert host.page.title() != "pwned"
    expect(screen.locator("#import")).to_be_enabled()
    expect(screen.locator("#check")).to_be_disabled()  # nothing edited yet

    # From the keyboard: the sample rows, the choice for existing contacts, then Import.
    screen.locator("#rows-wrap").focus()
    host.page.keyboard.press("Tab")
    expect(screen.get_by_label("Leave them as they are")).to_be_focused()
    host.page.keyboard.press("ArrowDown")
    expect(screen.get_by_label("Update them with this file")).to_be_checked()
    host.page.keyboard.press("Tab")
    expect(screen.locator("#import")).to_be_focused()
    assert host.errors == []


def test_an_edited_mapping_is_checked_then_imported_exactly(
    host: Host, stack: Stack, tmp_path: Path
) -> None:
    seed(stack)
    host.call_as_model("preview_import", {"path": str(write_csv(tmp_path))})
    screen = host.screen
    expect(screen.locator("#title")).to_have_text("Import people.csv")

    # Notes: skipped. Seats: a new number property under another key.
    screen.locator("#target-3").select_option("skip")
    screen.locator("#key-2").fill("licences")
    expect(screen.locator("#import")).to_be_disabled()  # edited, not checked
    expect(screen.locator("#import-hint")).to_have_text(
        "Check the edited mapping before importing."
    )
    expect(screen.locator("#mapping-body tr.changed")).to_have_count(2)
    screen.locator("#key-2").fill("bad key!")
    expect(screen.locator("#key-error-2")).to_have_text(
        f"Use 1{DASH}50 letters, digits or underscores."
    )
    expect(screen.locator("#check")).to_be_disabled()
    screen.locator("#key-2").fill("licences")
    screen.locator("#check").click()

    expect(screen.locator("#check-status")).to_have_text(
        "Checked: 4 of 6 rows can be imported with this mapping."
    )
    expect(screen.locator("#import")).to_be_enabled()
    expect(screen.locator("#import")).to_be_focused()
    expect(screen.locator("#mapping-body tr.changed")).to_have_count(0)
    expect(screen.locator("#target-3")).to_have_value("skip")
    expect(screen.locator("#key-2")).to_have_value("licences")
    checks = app_calls(host, "preview_import")
    assert checks[-1]["columns"] == {
        "Email": "email",
        "First Name": "first_name",
        "Seats": "licences",
        "Notes": "skip",
        "Plan": "plan",
    }
    assert checks[-1]["new_properties"] == {"licences": "number"}
    assert properties(stack) == {"plan": "string"}  # a check writes nothing

    screen.get_by_label("Update them with this file").check()
    screen.locator("#import").click()

    expect(screen.locator("#outcome-title")).to_have_text("Imported 4 contacts")
    expect(fact(screen, "Created", "#outcome-facts")).to_have_text("3")
    expect(fact(screen, "Updated", "#outcome-facts")).to_have_text("1")
    expect(fact(screen, "Failed", "#outcome-facts")).to_have_text("1")
    expect(fact(screen, "Duplicates", "#outcome-facts")).to_have_text("1")
    expect(screen.locator("#file-list")).to_contain_text("Rows not imported, with reasons")
    [approval] = app_calls(host, "approve_import")
    assert (approval["approve"], approval["on_conflict"]) == (True, "upsert")
    assert properties(stack) == {"plan": "string", "licences": "number"}
    contacts = {c["email"]: c for c in stack.contacts()}
    assert sorted(contacts) == [
        "ada@example.com",
        "alan@example.com",
        "edsger@example.com",
        "grace@example.com",
    ]
    assert contacts["ada@example.com"]["first_name"] == "Ada"  # updated: upsert
    licences = {e: c["properties"]["licences"]["value"] for e, c in contacts.items()}
    assert licences == {
        "ada@example.com": 3,
        "alan@example.com": 7,
        "edsger@example.com": 4,
        "grace@example.com": 12,
    }
    # The failure report downloads through the host.
    screen.locator("#file-list button").click()
    host.page.wait_for_function("testHost.downloads.length === 1")
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "approved the import of people.csv" in told
    assert approval["nonce"] not in told
    assert host.errors == []


def test_a_file_from_the_persons_machine_is_sent_in_chunks_and_imported(
    host: Host, stack: Stack, tmp_path: Path
) -> None:
    answer = host.call_as_model("preview_import", {})
    assert answer["isError"] is True
    assert "pick a CSV file" in answer["content"][0]["text"]
    screen = host.screen
    expect(screen.locator("#pick")).to_be_visible()
    expect(screen.locator("#choose")).to_have_text("Choose a CSV file")

    # 20 contacts, then blank lines (skipped) making the file 2 chunks long.
    rows = "".join(f"up{i}@example.com,Up {i}\n" for i in range(20))
    text = "email,first_name\n" + rows + "\n" * 1_300_000
    machine = tmp_path / "machine"
    machine.mkdir()
    screen.locator("#file").set_input_files(write_csv(machine, "mine.csv", text))

    expect(screen.locator("#title")).to_have_text("Import mine.csv")
    expect(fact(screen, "Importable")).to_have_text("20")
    uploads = app_calls(host, "upload_csv")
    assert [(u["offset"], u["done"]) for u in uploads] == [(0, False), (1024 * 1024, True)]
    upload_id = uploads[1]["upload_id"]
    assert app_calls(host, "preview_import") == [{"upload": upload_id}]

    screen.locator("#import").click()
    expect(screen.locator("#outcome-title")).to_have_text("Imported 20 contacts")
    expect(screen.locator("#again")).to_be_visible()  # another file, from here
    assert stack.emails() == sorted(f"up{i}@example.com" for i in range(20))
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "The person chose mine.csv" in told
    assert host.errors == []


def test_cancel_changes_nothing_and_spends_the_approval(
    host: Host, stack: Stack, tmp_path: Path
) -> None:
    seed(stack)
    before = stack.contacts()
    answer = host.call_as_model("preview_import", {"path": str(write_csv(tmp_path))})
    nonce = nonce_of(host, answer)

    host.screen.locator("#cancel").click()

    expect(host.screen.locator("#outcome-title")).to_have_text("Nothing was imported")
    expect(host.screen.locator("#outcome-title")).to_be_focused()
    assert stack.contacts() == before
    assert properties(stack) == {"plan": "string"}
    again = host.call_as_screen("approve_import", {"nonce": nonce, "approve": True})
    assert again["isError"] is True
    assert stack.contacts() == before
    told = json.dumps(host.evaluate("testHost.modelContext"))
    assert "cancelled the import" in told
    assert host.errors == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_at_phone_width_follow_the_host_theme(
    browser: Browser, stack: Stack, tmp_path: Path, theme: str
) -> None:
    seed(stack)
    path = write_csv(tmp_path)
    with open_host(browser, stack.url, theme) as host:
        host.call_as_model("preview_import", {"path": str(path)})
        screen = host.screen
        expect(screen.locator("#title")).to_have_text("Import people.csv")
        expect(screen.locator("html")).to_have_attribute("data-theme", theme)
        background = "rgb(38, 38, 36)" if theme == "dark" else "rgb(255, 255, 255)"
        expect(screen.locator("body")).to_have_css("background-color", background)
        # Nothing is wider than the phone: no sideways scrolling.
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"import-review-{theme}"))

        screen.locator("#import").click()
        expect(screen.locator("#outcome-title")).to_have_text("Imported 3 contacts")
        shoot(host, screenshot_path(tmp_path, f"import-review-done-{theme}"))

        host.call_as_model("preview_import", {})
        expect(screen.locator("#choose")).to_be_visible()
        frame = host.page.frames[1]
        assert frame.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shoot(host, screenshot_path(tmp_path, f"import-review-pick-{theme}"))
        assert host.errors == []
