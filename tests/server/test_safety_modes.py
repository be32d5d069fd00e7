"""Safety modes, the same on stdio and HTTP: read-only, toolsets, and the audit log.
In-process MCP client, both eras."""

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from contacts_mcp.backends import LOCAL_API_KEY, LOCAL_BASE_URL, BackendConfig, LocalTransport
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server
from contacts_mcp.server.surface import ALWAYS_EXPOSED, TOOLSETS, AuditLog, Surface, parse_toolsets

pytestmark = pytest.mark.anyio

SECRET_FIRST_NAME = "Zebedee-Private"


def server_with(tmp_path: Path, surface: Surface) -> Any:
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    return build_server(config, imports, surface=surface)


async def error_text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0]
    assert text.type == "text"
    return text.text


async def test_read_only_lists_no_write_tool_and_refuses_one_by_name(
    era: str, tmp_path: Path
) -> None:
    # Read-only wins over toolsets that name write tools.
    surface = Surface(read_only=True, toolsets=frozenset(TOOLSETS))
    async with Client(server_with(tmp_path, surface), mode=era) as client:
        tools = (await client.list_tools()).tools
        names = {tool.name for tool in tools}
        assert names == {
            "get_contact", "list_contacts", "search_contacts", "list_contact_properties",
            "list_segments", "list_topics", "preview_import", "personal_data", "get_job",
        }  # fmt: skip
        assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
        message = await error_text(client, "create_contact", {"email": "a@example.com"})
        assert "create_contact is not available: this server is read-only" in message
        message = await error_text(client, "delete_contacts", {"contacts": ["a@example.com"]})
        assert "read-only" in message
        found = await client.call_tool("list_contacts", {})
        assert not found.is_error


async def test_toolsets_expose_just_their_groups(era: str, tmp_path: Path) -> None:
    surface = Surface(toolsets=parse_toolsets("contacts, schema"))
    async with Client(server_with(tmp_path, surface), mode=era) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == TOOLSETS["contacts"] | TOOLSETS["schema"] | {"get_job"}
        message = await error_text(client, "import_contacts", {})
        assert "only the contacts, schema tools (--toolsets)" in message
    with pytest.raises(ValueError, match="unknown toolset everything; choose from contacts"):
        parse_toolsets("contacts,everything")


async def test_the_audit_log_holds_each_write_once_and_no_values(era: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    async with Client(server_with(tmp_path, Surface(audit=AuditLog(log))), mode=era) as client:
        dry_run = {"csv_text": "email\nb@example.com\n", "columns": {"email": "email"},
                   "on_conflict": "skip", "dry_run": True}  # fmt: skip
        calls: list[tuple[str, dict[str, Any]]] = [
            ("create_contact", {"email": "ada@example.com", "first_name": SECRET_FIRST_NAME}),
            ("get_contact", {"contact": "ada@example.com"}),  # a read: not audited
            ("update_contact", {"contact": "ada@example.com", "last_name": SECRET_FIRST_NAME}),
            ("create_segment", {"name": "VIP"}),
            ("update_contacts", {"contacts": ["ada@example.com"], "add_segments": ["VIP"]}),
            ("update_contact", {"contact": "nobody@example.com", "last_name": "X"}),  # fails
            ("import_contacts", dry_run),  # writes nothing
            ("delete_contact", {"contact": "ada@example.com"}),
        ]  # fmt: skip
        for tool, arguments in calls:
            await client.call_tool(tool, arguments)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(line["caller"], line["tool"], line["target"], line["outcome"]) for line in lines] == [
        ("local", "create_contact", "ada@example.com", "ok"),
        ("local", "update_contact", "ada@example.com", "ok"),
        ("local", "create_segment", "VIP", "ok"),
        ("local", "update_contacts", "1 named contacts", "ok"),
        ("local", "update_contact", "nobody@example.com", "error"),
        ("local", "delete_contact", "ada@example.com", "ok"),
    ]
    text = log.read_text(encoding="utf-8")
    assert SECRET_FIRST_NAME not in text
    assert LOCAL_API_KEY not in text
    assert log.stat().st_mode & 0o777 == 0o600


async def test_a_write_that_runs_as_a_job_is_audited_once_when_it_ends(
    era: str, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    config = BackendConfig(
        api_key=LOCAL_API_KEY,
        base_url=LOCAL_BASE_URL,
        transport=LocalTransport(EmulatorOptions(latency=0.05)),
    )
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    server = build_server(config, imports, surface=Surface(audit=AuditLog(log)), wait_seconds=0.1)
    rows = "email\n" + "".join(f"u{i}@example.com\n" for i in range(30))
    arguments = {"csv_text": rows, "columns": {"email": "email"}, "on_conflict": "skip",
                 "strategy": "rows"}  # fmt: skip
    async with Client(server, mode=era) as client:
        started = await client.call_tool("import_contacts", arguments)
        assert started.structured_content is not None
        job = started.structured_content
        assert job["status"] == "working"
        assert log.read_text(encoding="utf-8") == ""  # not yet: the write goes on
        while job["status"] == "working":
            waited = await client.call_tool("get_job", {"job_id": job["job_id"]})
            assert waited.structured_content is not None
            job = waited.structured_content["job"]
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(line["tool"], line["target"], line["outcome"]) for line in lines] == [
        ("import_contacts", "inline CSV", f"ok (job {job['job_id']})")
    ]


async def test_every_tool_belongs_to_a_toolset(tmp_path: Path) -> None:
    # As a client with MCP Apps lists them: the review screen's own tool too.
    apps = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
    async with Client(server_with(tmp_path, Surface()), extensions=apps) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    grouped = set().union(*TOOLSETS.values())
    assert names - ALWAYS_EXPOSED == grouped  # a new tool must be given a group


async def test_a_read_only_server_never_resumes_a_write_job(tmp_path: Path) -> None:
    """A bulk run left working by a stopped server is resumed by the next writer only."""
    slow = EmulatorOptions(latency=0.05)
    config = BackendConfig(
        api_key=LOCAL_API_KEY, local_db=str(tmp_path / "db.sqlite"), emulator=slow
    )
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path)
    named = [f"u{i}@example.com" for i in range(10)]
    async with Client(build_server(config, imports, wait_seconds=0.05)) as client:
        for email in named:
            await client.call_tool("create_contact", {"email": email})
        started = await client.call_tool(
            "update_contacts", {"contacts": named, "unsubscribed": True}
        )
        assert started.structured_content is not None
        job = started.structured_content["run"]
        assert job["status"] == "working"
    # The server stopped mid-run: the job waits, working, in the journal.
    read_only = build_server(config, imports, surface=Surface(read_only=True), wait_seconds=0.05)
    async with Client(read_only) as client:
        seen = await client.call_tool("get_job", {"job_id": job["job_id"], "wait_seconds": 1})
        assert seen.structured_content is not None
        assert seen.structured_content["job"]["status"] == "working"
        # Working in the journal, but nothing runs it: the answer says so, and offers no
        # get_job call that would only wait in vain.
        assert seen.structured_content["job"]["next_call"] is None
        assert seen.content[0].type == "text"
        text = seen.content[0].text
        assert "is paused at" in text
        assert "ask a server that may write" in text
        assert "background" not in text
        done_before = seen.structured_content["job"]["done"]
        await anyio.sleep(0.5)
        again = await client.call_tool("get_job", {"job_id": job["job_id"], "wait_seconds": 0})
        assert again.structured_content is not None
        assert again.structured_content["job"]["done"] == done_before  # nothing ran
        stop = {"job_id": job["job_id"], "cancel": True}
        assert "this server is read-only (--read-only): it cannot stop it" in await error_text(
            client, "get_job", stop
        )
    async with Client(build_server(config, imports)) as client:
        resumed = await client.call_tool("get_job", {"job_id": job["job_id"], "wait_seconds": 30})
        assert resumed.structured_content is not None
        assert resumed.structured_content["job"]["status"] == "completed"


async def test_imports_and_exports_never_touch_the_servers_own_data(
    era: str, tmp_path: Path
) -> None:
    """Even inside an import folder: over HTTP, callers are not the server's operator."""
    data = tmp_path / "data"  # the server's key, journals and mirror live here
    config = BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:")
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=data)
    data.mkdir()
    (data / "confirm.key").write_bytes(b"k" * 32)
    (data / "planted.csv").write_text("email\na@example.com\n", encoding="utf-8")
    async with Client(build_server(config, imports), mode=era) as client:
        for name in ("confirm.key", "planted.csv"):
            message = await error_text(client, "preview_import", {"path": str(data / name)})
            assert "in the server's own data folder" in message
        export = {"contacts": ["a@example.com"], "path": str(data / "out.csv")}
        assert "in the server's own data folder" in await error_text(
            client, "export_contacts", export
        )
    assert sorted(p.name for p in data.iterdir()) == ["confirm.key", "planted.csv"]
