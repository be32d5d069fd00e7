"""CSV import end to end: preview, both strategies, faults, resume, bad input, status."""

import itertools
import json
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from tests.server.conftest import Harness, open_harness

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "contacts.csv"
# examples/contacts.csv: 18 rows; 2 without a valid email, 1 duplicate, 1 bad number.
EXAMPLE_IMPORTABLE = 14
COLUMNS = {
    "Email Address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company": "company",
    "Plan": "plan",
    "Seats": "seats",
    "Unsubscribed": "unsubscribed",
    "Signed Up": "skip",
}
NEW_PROPERTIES = {"company": "string", "plan": "string", "seats": "number"}


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(EXAMPLE, inbox / "contacts.csv")
    return {"inbox": inbox, "state": tmp_path / "state", "outside": tmp_path}


def settings(folders: dict[str, Path]) -> ImportSettings:
    return ImportSettings(
        files=FilePolicy(allowed_dirs=(folders["inbox"],)),
        state_dir=folders["state"],
        api_poll_interval=0.02,
    )


async def harness_for(
    era: str, folders: dict[str, Path], options: EmulatorOptions | None = None, **config: Any
) -> AsyncIterator[Harness]:
    async for h in open_harness(era, options, settings(folders), **config):
        yield h


def import_args(**extra: Any) -> dict[str, Any]:
    return {
        "path": "contacts.csv",
        "columns": COLUMNS,
        "new_properties": NEW_PROPERTIES,
        "create_missing_properties": True,
        "on_conflict": "upsert",
        **extra,
    }


async def all_contacts(h: Harness) -> dict[str, dict[str, Any]]:
    return {c["email"].lower(): c for c in await h.all_contacts()}


async def test_preview_proposes_a_mapping_and_reports_problems(
    era: str, folders: dict[str, Path]
) -> None:
    async for h in harness_for(era, folders):
        result = await h.client.call_tool("preview_import", {"path": "contacts.csv"})
        assert not result.is_error, result.content
        assert result.structured_content is not None
        report = result.structured_content["result"]
        assert report["rows"] == 18
        assert report["importable_rows"] == EXAMPLE_IMPORTABLE
        mapping = report["column_map"]
        assert mapping["Email Address"] == "email"
        assert (mapping["First Name"], mapping["Last Name"]) == ("first_name", "last_name")
        assert mapping["Unsubscribed"] == "unsubscribed"
        assert report["new_properties"]["seats"] == "number"
        assert report["invalid_emails"]["count"] == 2
        assert report["duplicate_emails"]["count"] == 1
        assert report["duplicate_emails"]["examples"][0]["row"] == 12
        assert report["type_problems"]["count"] == 1
        arguments = report["import_arguments"]
        assert arguments["path"] == "contacts.csv"
        assert arguments["columns"] == mapping
        text = result.content[0]
        assert text.type == "text"
        assert "18 rows, 14 importable" in text.text
        assert await h.count_contacts() == 0  # a preview writes nothing


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_import_creates_exactly_the_valid_contacts(
    era: str, folders: dict[str, Path], strategy: str
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)
        # A report reaching the total would arrive with the result, where the TypeScript
        # SDK drops it and logs an error: the result alone says the work is done.
        assert total is None or progress < total

    # Progress reaches the caller while the job runs (from the job, through the wait).

    async for h in harness_for(era, folders, EmulatorOptions(latency=0.01)):
        await h.seed("POST", "/segments", {"name": "Customers"})
        result = await h.client.call_tool(
            "import_contacts",
            import_args(strategy=strategy, segments=["Customers"]),
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content
        assert result.structured_content is not None
        summary = result.structured_content["result"]
        assert summary["strategy"] == strategy
        assert (summary["created"], summary["failed"], summary["duplicates"]) == (14, 3, 1)
        contacts = await all_contacts(h)
        assert len(contacts) == EXAMPLE_IMPORTABLE
        ada = await h.seed("GET", "/contacts/ada.lovelace@example.com")
        assert ada["last_name"] == "Lovelace"  # the first of the duplicate rows won
        assert ada["properties"]["seats"] == {"type": "number", "value": 12}
        knuth = await h.seed("GET", "/contacts/donald.knuth@example.org")
        assert knuth["unsubscribed"] is True
        segment = (await h.seed("GET", "/segments"))["data"][0]
        members = await h.seed("GET", f"/segments/{segment['id']}/contacts")
        assert len(members["data"]) == EXAMPLE_IMPORTABLE
        assert seen
        assert all(a < b for a, b in itertools.pairwise(seen))  # MCP: must increase
        failures = Path(summary["failures_file"]).read_text(encoding="utf-8")
        assert "not-an-email" in failures
        assert "same email as row 2" in failures


async def test_auto_falls_back_to_rows_without_the_imports_api(
    era: str, folders: dict[str, Path]
) -> None:
    async for h in harness_for(era, folders, EmulatorOptions(imports_api=False)):
        summary = await h.job("import_contacts", import_args())
        assert summary["strategy"] == "rows"
        assert summary["created"] == EXAMPLE_IMPORTABLE
        message = await h.error("import_contacts", import_args(strategy="api"))
        assert "does not have Resend's Contact Imports API" in message


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_existing_contacts_are_skipped_or_updated_and_never_resubscribed(
    era: str, folders: dict[str, Path], strategy: str
) -> None:
    async for h in harness_for(era, folders):
        await h.seed(
            "POST",
            "/contacts",
            {"email": "ada.lovelace@example.com", "first_name": "A", "unsubscribed": True},
        )
        skipped = await h.job("import_contacts", import_args(on_conflict="skip", strategy=strategy))
        assert (skipped["created"], skipped["skipped"]) == (13, 1)
        ada = await h.seed("GET", "/contacts/ada.lovelace@example.com")
        assert (ada["first_name"], ada["unsubscribed"]) == ("A", True)

        updated = await h.job("import_contacts", import_args(strategy=strategy))
        assert updated["updated"] >= 1
        ada = await h.seed("GET", "/contacts/ada.lovelace@example.com")
        assert ada["first_name"] == "Ada"
        assert ada["unsubscribed"] is True  # the file says "no", but she left


async def test_dry_run_counts_without_writing(era: str, folders: dict[str, Path]) -> None:
    async for h in harness_for(era, folders):
        summary = await h.job("import_contacts", import_args(dry_run=True))
        assert summary["dry_run"] is True
        assert summary["created"] == EXAMPLE_IMPORTABLE
        assert await h.count_contacts() == 0
        assert (await h.seed("GET", "/contact-properties"))["data"] == []


def big_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name\n")
        for i in range(rows):
            out.write(f"user{i}@example.com,User {i}\n")


async def test_rows_import_under_faults_loses_and_duplicates_nothing(
    folders: dict[str, Path],
) -> None:
    big_csv(folders["inbox"] / "big.csv", 60)
    faults = EmulatorOptions(
        imports_api=False,
        fault_429=0.03,
        fault_500=0.1,
        fault_503=0.1,
        drop_after_write=0.15,
        latency=0.001,
        seed=3,
    )
    async for h in harness_for("auto", folders, faults):
        summary = await h.job(
            "import_contacts",
            {
                "path": "big.csv",
                "columns": {"email": "email", "first_name": "first_name"},
                "on_conflict": "upsert",
            },
        )
        assert summary["failed"] == 0
        contacts = await all_contacts(h)
        assert sorted(contacts) == sorted(f"user{i}@example.com" for i in range(60))
        assert contacts["user7@example.com"]["first_name"] == "User 7"


async def test_a_cancelled_import_resumes_to_the_exact_final_state(
    era: str, folders: dict[str, Path]
) -> None:
    big_csv(folders["inbox"] / "big.csv", 300)
    arguments = {
        "path": "big.csv",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    options = EmulatorOptions(latency=0.02)
    async for h in harness_for(era, folders, options, wait_seconds=0.1):
        handle = await h.call("import_contacts", arguments)
        assert handle["status"] == "working"
        assert handle["next_call"] == {
            "tool": "get_job",
            "arguments": {"job_id": handle["job_id"], "wait_seconds": 50},
        }
        job_id = handle["job_id"]
        while (await h.call("get_job", {"job_id": job_id, "wait_seconds": 0.1}))["job"][
            "done"
        ] < 10:
            pass
        cancelled = (await h.call("get_job", {"job_id": job_id, "cancel": True}))["job"]
        assert cancelled["status"] == "cancelled"
        partial = await h.count_contacts()
        assert 0 < partial < 300
        [saved] = (folders["state"] / "imports").glob("*/summary.json")
        assert "Cancelled" in saved.read_text(encoding="utf-8")
        # Cancelling again, or asking for it, is harmless and changes nothing.
        again = (await h.call("get_job", {"job_id": job_id, "cancel": True}))["job"]
        assert again["status"] == "cancelled"
        assert await h.count_contacts() == partial
        summary = await h.job("import_contacts", arguments)
        assert summary["resumed_rows"] > 0
        contacts = await all_contacts(h)
        assert sorted(contacts) == sorted(f"user{i}@example.com" for i in range(300))


async def test_rows_done_after_the_last_checkpoint_resume_as_created_not_skipped(
    era: str, folders: dict[str, Path]
) -> None:
    """A server that dies loses the journal's last batch: those rows' contacts exist, but
    this import made them, so the resumed run counts them created (not "skipped")."""
    big_csv(folders["inbox"] / "big.csv", 30)
    arguments = {
        "path": "big.csv",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "skip",
        "strategy": "rows",
    }
    async for h in harness_for(era, folders):
        first = await h.job("import_contacts", arguments)
        assert (first["created"], first["skipped"]) == (30, 0)
        [journal] = (folders["state"] / "imports").glob("*/journal.sqlite")
        # The disk as a crash leaves it: the rows after the 20th were never written down.
        with closing(sqlite3.connect(journal)) as db, db:
            db.execute("DELETE FROM done WHERE row > 21")  # line 1 is the header
        resumed = await h.job("import_contacts", arguments)
        assert (resumed["created"], resumed["skipped"], resumed["updated"]) == (30, 0, 0)
        assert resumed["resumed_rows"] == 20
        assert await h.count_contacts() == 30
        # The summary on disk names itself and says the same.
        saved = json.loads(Path(resumed["summary_file"]).read_text(encoding="utf-8"))
        assert saved["summary_file"] == resumed["summary_file"]
        assert saved["created"] == 30


async def test_an_import_outlives_a_call_the_host_gave_up_on(
    era: str, folders: dict[str, Path]
) -> None:
    """A host that times a call out cancels it; the job goes on and finishes."""
    big_csv(folders["inbox"] / "big.csv", 150)
    arguments = {
        "path": "big.csv",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    async for h in harness_for(era, folders, EmulatorOptions(latency=0.01)):
        with anyio.CancelScope() as scope:

            async def give_up(progress: float, total: float | None, message: str | None) -> None:
                scope.cancel()  # the job runs and reports: the host's timeout strikes now

            await h.client.call_tool("import_contacts", arguments, progress_callback=give_up)
        assert scope.cancelled_caught
        [listed] = (await h.call("get_job", {}))["recent"]
        assert listed["kind"] == "import"
        job = (await h.call("get_job", {"job_id": listed["job_id"], "wait_seconds": 50}))["job"]
        while job["status"] == "working":
            job = (await h.call("get_job", {"job_id": listed["job_id"]}))["job"]
        assert job["status"] == "completed"
        assert job["result"]["created"] == 150
        assert await h.count_contacts() == 150


@pytest.mark.parametrize(
    ("setup", "arguments", "expected"),
    [
        ("", {"path": "../outside.csv"}, "not inside an allowed import folder"),
        ("", {"path": "."}, "is a folder"),
        ("link", {"path": "link.csv"}, "not inside an allowed import folder"),
        ("fifo", {"path": "fifo.csv"}, "not a regular file"),
        ("empty", {"path": "empty.csv"}, "empty"),
        ("header", {"path": "header.csv", "columns": {"email": "email"}}, "no data rows"),
        ("binary", {"path": "binary.csv"}, "not a text CSV"),
        ("cp1252", {"path": "legacy.csv"}, "encoding"),
        ("quote", {"path": "quote.csv"}, "Line 3: a quoted value"),
        ("dupheader", {"path": "dupheader.csv"}, "Email"),
        ("huge", {"path": "huge.csv"}, "Line 2, column 2"),
        ("", {"csv_text": "email\na@example.com\n", "path": "contacts.csv"}, "exactly one"),
        ("", {}, "exactly one"),
        ("", {"columns": {"First Name": "first_name"}}, "no column maps to 'email'"),
        ("", {"columns": {"Nope": "email"}}, "not columns of the file: 'Nope'"),
        ("", {"create_missing_properties": False}, "create_missing_properties=true"),
        ("", {"columns": {**COLUMNS, "Plan": "tier"}}, "'tier'"),
        ("", {"segments": ["Nope"]}, "No segment 'Nope'"),
        ("", {"topics": {"Nope": "opt_in"}}, "No topic 'Nope'"),
        ("", {"on_conflict": "merge"}, "`on_conflict`"),
    ],
)
async def test_bad_imports_fail_clearly_and_write_nothing(
    folders: dict[str, Path], setup: str, arguments: dict[str, Any], expected: str
) -> None:
    inbox = folders["inbox"]
    (folders["outside"] / "outside.csv").write_text("email\nx@example.com\n")
    if setup == "link":
        (inbox / "link.csv").symlink_to(folders["outside"] / "outside.csv")
    elif setup == "fifo":
        os.mkfifo(inbox / "fifo.csv")
    elif setup == "empty":
        (inbox / "empty.csv").write_bytes(b"")
    elif setup == "header":
        (inbox / "header.csv").write_text("email,first_name\n")
    elif setup == "binary":
        (inbox / "binary.csv").write_bytes(bytes(range(256)) * 20)
    elif setup == "cp1252":
        (inbox / "legacy.csv").write_bytes("email,first_name\nz@example.com,Zoë\n".encode("cp1252"))
    elif setup == "quote":
        (inbox / "quote.csv").write_text('email,first_name\na@example.com,Ann\nb@example.com,"Bo\n')
    elif setup == "dupheader":
        (inbox / "dupheader.csv").write_text("Email,email\na@example.com,b@example.com\n")
    elif setup == "huge":
        (inbox / "huge.csv").write_text("email,note\na@example.com," + "x" * 70_000 + "\n")
    async for h in harness_for("auto", folders):
        base = import_args()
        if "path" in arguments or "csv_text" in arguments or arguments == {}:
            base.pop("path")
        message = await h.error("import_contacts", {**base, **arguments})
        assert expected in message, message
        assert await h.count_contacts() == 0
        assert (await h.seed("GET", "/contact-properties"))["data"] == []


async def test_get_job_reports_resend_api_imports(era: str, folders: dict[str, Path]) -> None:
    async for h in harness_for(era, folders):
        summary = await h.job("import_contacts", import_args(strategy="api"))
        [import_id] = summary["import_ids"]
        one = await h.call("get_job", {"job_id": import_id})
        assert one["api_import"]["status"] == "completed"
        assert one["api_import"]["counts"]["created"] == EXAMPLE_IMPORTABLE
        message = await h.error("get_job", {"job_id": "00000000-0000-4000-8000-000000000000"})
        assert "No Resend import" in message


async def test_inline_csv_imports_without_any_file_access(
    era: str, folders: dict[str, Path]
) -> None:
    no_files = ImportSettings(files=FilePolicy(), state_dir=folders["state"])
    async for h in open_harness(era, None, no_files):  # no import folder configured at all
        summary = await h.job(
            "import_contacts",
            {
                "csv_text": "email;name\nann@example.com;Ann\nbob@example.com;Bob\n",
                "columns": {"email": "email", "name": "first_name"},
                "on_conflict": "skip",
            },
        )
        assert summary["created"] == 2
        message = await h.error("preview_import", {"path": "contacts.csv"})
        assert "turned off" in message


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_a_repeated_import_redoes_what_is_missing_from_the_backend(
    folders: dict[str, Path], strategy: str
) -> None:
    async for h in harness_for("auto", folders):
        first = await h.job("import_contacts", import_args(strategy=strategy))
        assert first["created"] == EXAMPLE_IMPORTABLE
        # Someone deletes a contact; running the same import again restores it.
        await h.seed("DELETE", "/contacts/grace.hopper@example.org")
        again = await h.job("import_contacts", import_args(strategy=strategy))
        assert again["failed"] == 3
        assert len(await all_contacts(h)) == EXAMPLE_IMPORTABLE
        assert "grace.hopper@example.org" in await all_contacts(h)


@pytest.mark.parametrize("strategy", ["rows", "api"])
async def test_rows_resend_rejects_are_reported_and_the_rest_imported(
    folders: dict[str, Path], strategy: str
) -> None:
    # `!` is valid in an address (RFC 5322) but Resend refuses it, as the emulator does.
    (folders["inbox"] / "picky.csv").write_text(
        "email\nok1@example.com\nxxx+!@gmail.com\nok2@example.com\n"
    )
    async for h in harness_for("auto", folders):
        summary = await h.job(
            "import_contacts",
            {
                "path": "picky.csv",
                "columns": {"email": "email"},
                "on_conflict": "upsert",
                "strategy": strategy,
            },
        )
        assert (summary["created"], summary["failed"]) == (2, 1)
        assert sorted(await all_contacts(h)) == ["ok1@example.com", "ok2@example.com"]
        if strategy == "rows":
            report = Path(summary["failures_file"]).read_text(encoding="utf-8")
            assert "xxx+!@gmail.com" in report
            assert "Resend refused it" in report


async def test_an_api_import_whose_upload_answer_is_lost_runs_once(
    folders: dict[str, Path],
) -> None:
    async for h in harness_for("auto", folders, EmulatorOptions(drop_after_write=1.0)):
        summary = await h.job("import_contacts", import_args(strategy="api"))
        assert summary["created"] == EXAMPLE_IMPORTABLE
        assert len(summary["import_ids"]) == 1
        jobs = await h.seed("GET", "/contacts/imports")
        assert len(jobs["data"]) == 1  # uploaded once, adopted after the lost answer
        assert len(await all_contacts(h)) == EXAMPLE_IMPORTABLE


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 20, "not a text CSV"),
        (b'email,name\na@example.com,"Ann\n', "Line 2: a quoted value"),
        (b"Email,EMAIL\nx@example.com,y@example.com\n", "Email"),
        ("email,name\nz@example.com,Zoë\n".encode("cp1252"), "encoding"),
    ],
)
async def test_preview_refuses_unreadable_files_with_the_line(
    era: str, folders: dict[str, Path], content: bytes, expected: str
) -> None:
    (folders["inbox"] / "bad.csv").write_bytes(content)
    async for h in harness_for(era, folders):
        message = await h.error("preview_import", {"path": "bad.csv"})
        assert expected in message, message
        assert "Traceback" not in message


async def test_preview_checks_an_edited_mapping(era: str, folders: dict[str, Path]) -> None:
    async for h in harness_for(era, folders):
        edited = {**COLUMNS, "Plan": "skip"}
        report = await h.job(
            "preview_import",
            {"path": "contacts.csv", "columns": edited, "new_properties": NEW_PROPERTIES},
        )
        assert report["column_map"]["Plan"] == "skip"
        assert report["import_arguments"]["columns"] == edited
        message = await h.error(
            "preview_import", {"path": "contacts.csv", "columns": {"Nope": "email"}}
        )
        assert "not columns of the file: 'Nope'" in message


async def test_the_same_import_asked_twice_at_once_runs_once(folders: dict[str, Path]) -> None:
    big_csv(folders["inbox"] / "big.csv", 100)
    arguments = {
        "path": "big.csv",
        "columns": {"email": "email", "first_name": "first_name"},
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    results: list[Any] = []

    async def run_import(h: Harness) -> None:
        results.append(await h.call("import_contacts", arguments))

    async for h in harness_for("auto", folders, EmulatorOptions(latency=0.01)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_import, h)
            tg.start_soon(run_import, h)
        # Both calls joined one job: one run, one summary.
        assert results[0]["job_id"] == results[1]["job_id"]
        assert results[0]["result"] == results[1]["result"]
        assert results[0]["result"]["created"] == 100
        assert results[0]["result"]["requests"] < 110  # 100 rows, and a few reads; not 200
        assert len(await all_contacts(h)) == 100


async def test_a_segments_column_joins_each_row_to_its_segments(
    era: str, folders: dict[str, Path]
) -> None:
    csv_text = "email,segments\na@example.com,VIP; Beta\nb@example.com,\nc@example.com,beta\n"
    arguments = {
        "csv_text": csv_text,
        "columns": {"email": "email", "segments": "segments"},
        "on_conflict": "upsert",
    }
    async for h in harness_for(era, folders):
        await h.seed("POST", "/segments", {"name": "VIP"})
        await h.seed("POST", "/segments", {"name": "Beta"})
        preview = await h.job("preview_import", {"csv_text": csv_text})
        assert preview["column_map"] == {"email": "email", "segments": "segments"}
        message = await h.error("import_contacts", {**arguments, "strategy": "api"})
        assert "not a segments column" in message
        missing = csv_text + "d@example.com,Nope\n"
        message = await h.error("import_contacts", {**arguments, "csv_text": missing})
        assert "Nope" in message
        assert await h.count_contacts() == 0  # an unknown segment stops it before any write
        summary = await h.job("import_contacts", arguments)
        assert (summary["strategy"], summary["created"]) == ("rows", 3)
        joined = {}
        for contact in await h.all_contacts():
            found = await h.seed("GET", f"/contacts/{contact['id']}/segments")
            joined[contact["email"]] = sorted(s["name"] for s in found["data"])
        assert joined == {
            "a@example.com": ["Beta", "VIP"],
            "b@example.com": [],
            "c@example.com": ["Beta"],
        }
