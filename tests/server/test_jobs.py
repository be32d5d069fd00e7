"""Jobs at the MCP surface: calls return within the wait budget, jobs finish anyway,
survive a server restart, and `get_job` waits, reports and cancels harmlessly."""

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server
from tests.server.conftest import Harness, open_harness

pytestmark = pytest.mark.anyio

COLUMNS = {"email": "email", "first_name": "first_name"}


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name\n")
        out.writelines(f"user{i}@example.com,User {i}\n" for i in range(rows))


def import_arguments(file: str) -> dict[str, Any]:
    return {"path": file, "columns": COLUMNS, "on_conflict": "upsert", "strategy": "rows"}


def settings(tmp_path: Path) -> ImportSettings:
    return ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path / "state")


async def harness_for(
    era: str, tmp_path: Path, options: EmulatorOptions, wait_seconds: float
) -> AsyncIterator[Harness]:
    async for h in open_harness(era, options, settings(tmp_path), wait_seconds=wait_seconds):
        yield h


async def test_a_host_with_a_request_timeout_imports_a_file_longer_than_it(
    era: str, tmp_path: Path
) -> None:
    """A scaled-down host: each request times out at 5 s, the import takes longer.

    The server's wait budget (0.3 s here, 20 s by default) keeps every call far below
    the host's timeout (60 s in real hosts); the job finishes across calls.
    """
    write_csv(tmp_path / "big.csv", 400)
    options = EmulatorOptions(rate_limit=100)
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async for h in harness_for(era, tmp_path, options, wait_seconds=0.3):
        first = await h.client.call_tool(
            "import_contacts",
            import_arguments("big.csv"),
            read_timeout_seconds=5,
            progress_callback=on_progress,
        )
        assert not first.is_error, first.content
        handle = first.structured_content
        assert handle is not None
        assert handle["status"] == "working"
        assert handle["result"] is None
        text = first.content[0]
        assert text.type == "text"
        assert f'get_job {{"job_id": "{handle["job_id"]}", "wait_seconds": 50}}' in text.text
        calls = 1
        job = handle
        while job["status"] == "working":
            waited = await h.client.call_tool(
                "get_job",
                {"job_id": handle["job_id"], "wait_seconds": 0.3},
                read_timeout_seconds=5,
                progress_callback=on_progress,
            )
            assert not waited.is_error, waited.content
            assert waited.structured_content is not None
            job = waited.structured_content["job"]
            calls += 1
        assert calls > 2  # it did outlast several calls
        assert job["status"] == "completed"
        assert (job["result"]["created"], job["result"]["failed"]) == (400, 0)
        assert seen == sorted(seen)  # progress flowed, always forward
        assert await h.count_contacts() == 400


async def test_a_working_job_reports_its_progress_and_an_estimate(era: str, tmp_path: Path) -> None:
    write_csv(tmp_path / "big.csv", 600)
    async for h in harness_for(era, tmp_path, EmulatorOptions(rate_limit=100), wait_seconds=0.2):
        handle = await h.call("import_contacts", import_arguments("big.csv"))
        job = handle
        while job["status"] == "working" and not (job["done"] and job["eta_seconds"]):
            job = (await h.call("get_job", {"job_id": handle["job_id"], "wait_seconds": 1}))["job"]
        # 600 requests at the emulator's 100/s take 6 s at least: still working.
        assert job["status"] == "working"
        assert job["total"] == 600
        assert 0 < job["done"] < 600
        assert job["eta_seconds"] > 0
        assert job["next_call"] == {
            "tool": "get_job",
            "arguments": {"job_id": job["job_id"], "wait_seconds": 50},
        }
        cancelled = (await h.call("get_job", {"job_id": handle["job_id"], "cancel": True}))["job"]
        assert cancelled["status"] in ("cancelled", "completed")


async def test_get_job_refuses_an_unknown_id_clearly(harness: Harness) -> None:
    message = await harness.error("get_job", {"job_id": "job_0123456789ab"})
    assert "No job 'job_0123456789ab' on this server." in message
    assert "get_job without a job_id" in message
    assert (await harness.call("get_job", {}))["recent"] == []


async def test_cancelling_a_finished_job_is_harmless(era: str, tmp_path: Path) -> None:
    write_csv(tmp_path / "few.csv", 3)
    async for h in harness_for(era, tmp_path, EmulatorOptions(), wait_seconds=20):
        done = await h.call("import_contacts", import_arguments("few.csv"))
        assert done["status"] == "completed"
        again = (await h.call("get_job", {"job_id": done["job_id"], "cancel": True}))["job"]
        assert again["status"] == "completed"
        assert again["result"] == done["result"]
        assert await h.count_contacts() == 3


async def test_a_failed_job_says_why(era: str, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("email,first_name\n")
    async for h in harness_for(era, tmp_path, EmulatorOptions(), wait_seconds=20):
        message = await h.error("import_contacts", import_arguments("empty.csv"))
        assert "no data rows" in message
        [failed] = (await h.call("get_job", {}))["recent"]
        assert failed["status"] == "failed"
        assert "no data rows" in failed["error"]
        assert "no data rows" in await h.error("get_job", {"job_id": failed["job_id"]})


async def test_a_job_resumes_under_its_id_after_a_server_restart(era: str, tmp_path: Path) -> None:
    write_csv(tmp_path / "big.csv", 3000)
    backend = BackendConfig(
        api_key=LOCAL_API_KEY,
        local_db=str(tmp_path / "contacts.db"),
        emulator=EmulatorOptions(db_path=str(tmp_path / "contacts.db"), latency=0.002),
    )
    server = build_server(backend, settings(tmp_path), wait_seconds=0.2)
    async with Client(server, mode=era) as client:
        started = await client.call_tool("import_contacts", import_arguments("big.csv"))
        assert started.structured_content is not None
        job_id = started.structured_content["job_id"]
        job = started.structured_content
        while job["done"] == 0:
            answer = await client.call_tool("get_job", {"job_id": job_id, "wait_seconds": 0.2})
            assert answer.structured_content is not None
            job = answer.structured_content["job"]
        assert job["status"] == "working"
    # The server stopped mid-job (its host closed). A new one resumes the job when asked.
    restarted = build_server(backend, settings(tmp_path), wait_seconds=0.2)
    async with Client(restarted, mode=era) as client:
        job = {"status": "working"}
        while job["status"] == "working":
            answer = await client.call_tool("get_job", {"job_id": job_id, "wait_seconds": 5})
            assert answer.structured_content is not None, answer.content
            job = answer.structured_content["job"]
        assert job["status"] == "completed"
        summary = job["result"]
        assert summary["resumed_rows"] > 0
        assert summary["created"] + summary["resumed_rows"] >= 3000
        listed = await client.call_tool("list_contacts", {"limit": 1})
        assert listed.structured_content is not None
    with sqlite3.connect(tmp_path / "contacts.db") as db:
        emails = [email for (email,) in db.execute("SELECT email FROM contacts")]
    assert sorted(emails) == sorted(f"user{i}@example.com" for i in range(3000))


async def test_two_servers_share_their_jobs_without_running_one_twice(
    era: str, tmp_path: Path
) -> None:
    """Two host windows, two servers, one account: a job runs once, in the server that
    started it; the other waits on it, reports it and can cancel it."""
    write_csv(tmp_path / "big.csv", 3000)
    backend = BackendConfig(
        api_key=LOCAL_API_KEY,
        local_db=str(tmp_path / "contacts.db"),
        emulator=EmulatorOptions(db_path=str(tmp_path / "contacts.db"), latency=0.005),
    )
    first = build_server(backend, settings(tmp_path), wait_seconds=0.2)
    second = build_server(backend, settings(tmp_path), wait_seconds=0.2)
    async with Client(first, mode=era) as one, Client(second, mode=era) as other:
        started = await one.call_tool("import_contacts", import_arguments("big.csv"))
        assert started.structured_content is not None
        job_id = started.structured_content["job_id"]
        # The same import asked of the other server joins the running job.
        joined = await other.call_tool("import_contacts", import_arguments("big.csv"))
        assert joined.structured_content is not None
        assert joined.structured_content["job_id"] == job_id
        # The other server follows the job through the journal (written once a second).
        followed: dict[str, Any] = {"done": 0}
        while followed["done"] == 0:
            seen = await other.call_tool("get_job", {"job_id": job_id, "wait_seconds": 0.5})
            assert seen.structured_content is not None
            followed = seen.structured_content["job"]
        # 3,000 requests of at least 5 ms, 4 at a time, take 3.75 s: still working.
        assert followed["status"] == "working"
        stopped = await other.call_tool("get_job", {"job_id": job_id, "cancel": True})
        assert stopped.structured_content is not None, stopped.content
        assert stopped.structured_content["job"]["status"] == "cancelled"
        mine = await one.call_tool("get_job", {"job_id": job_id, "wait_seconds": 0})
        assert mine.structured_content is not None
        assert mine.structured_content["job"]["status"] == "cancelled"
    with sqlite3.connect(tmp_path / "contacts.db") as db:
        [(imported,)] = db.execute("SELECT COUNT(*) FROM contacts").fetchall()
    assert 0 < imported < 3000
