"""Files the server wrote (exports, snapshots, failure reports) come back as MCP resources:
a `resource_link` in every result that names one, read in pages of at most PAGE_BYTES to
exactly the file's bytes, and refused once the file changed on disk. Both eras."""

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mcp import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ResourceLink

from contacts_mcp.server.file_resources import PAGE_META
from contacts_mcp.services.outfiles import PAGE_BYTES
from tests.server.conftest import Harness, open_harness
from tests.server.test_bulk import ACME, selection, settings

pytestmark = pytest.mark.anyio

# A value near half a page (with two-byte characters): an export of three such contacts
# takes two pages, ending at a row's end.
BIG = "é" * 100_000 + "x" * (PAGE_BYTES // 2 - 300_000)


@pytest.fixture
async def h(era: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in open_harness(era, None, settings(tmp_path)):
        yield harness


def links(result: CallToolResult) -> list[ResourceLink]:
    return [block for block in result.content if isinstance(block, ResourceLink)]


async def finished(h: Harness, result: CallToolResult) -> CallToolResult:
    """A job tool's result, or get_job's once the job ended (links and all)."""
    answer = result.structured_content or {}
    job = answer.get("run", answer)
    while job["status"] == "working":
        result = await h.client.call_tool("get_job", {"job_id": job["job_id"]})
        job = (result.structured_content or {})["job"]
    assert job["status"] == "completed", job
    return result


async def read_whole(h: Harness, uri: str) -> tuple[bytes, list[dict[str, Any]]]:
    """Every page of a file resource, following each page's `next`; and the pages' meta."""
    data, pages = b"", []
    next_uri: str | None = uri
    while next_uri is not None:
        read = await h.client.read_resource(next_uri)
        [contents] = read.contents
        assert contents.mime_type == "text/csv"
        assert hasattr(contents, "text")
        page = contents.text.encode("utf-8")
        assert len(page) <= PAGE_BYTES
        data += page
        meta = (contents.meta or {})[PAGE_META]
        pages.append({**meta, "bytes": page})
        next_uri = meta["next"]
    return data, pages


async def refusal(h: Harness, uri: str) -> MCPError:
    with pytest.raises(MCPError) as refused:
        await h.client.read_resource(uri)
    return refused.value


async def export(h: Harness, path: str) -> CallToolResult:
    result = await h.client.call_tool(
        "export_contacts", {"search": await selection(h, ACME), "path": path}
    )
    assert not result.is_error, result.content
    return await finished(h, result)


async def test_an_exports_link_reads_back_its_exact_bytes_page_by_page(
    h: Harness, tmp_path: Path
) -> None:
    await h.seed("POST", "/contact-properties", {"key": "bio", "type": "string"})
    for i in range(3):
        await h.seed("POST", "/contacts", {"email": f"big{i}@acme.com", "properties": {"bio": BIG}})
    result = await export(h, "big.csv")
    [link] = links(result)
    assert (link.name, link.mime_type) == ("big.csv", "text/csv")
    written = (tmp_path / "big.csv").read_bytes()
    assert link.size == len(written) > PAGE_BYTES
    assert result.structured_content is not None
    assert result.structured_content["file_uris"] == {"file": str(link.uri)}
    assert result.structured_content["result"]["file"] == str(tmp_path / "big.csv")
    data, pages = await read_whole(h, str(link.uri))
    assert data == written
    assert [(p["page"], p["pages"]) for p in pages] == [(1, 2), (2, 2)]
    assert pages[0]["next"] == f"{link.uri}?page=2"
    assert pages[0]["bytes"].endswith(b"\r\n")  # a row's end: each page is whole rows
    assert pages[0]["bytes"].count(b"\r\n") == 3  # the header and two contacts


async def test_a_deletes_snapshot_and_failures_are_linked_and_read_back(h: Harness) -> None:
    segment = await h.seed("POST", "/segments", {"name": "Trial"})
    for i in range(3):
        await h.seed("POST", "/contacts", {"email": f"t{i}@acme.com", "segments": [segment]})
    trial = [{"field": "segment", "op": "in", "value": "Trial"}]
    search = await selection(h, trial)
    preview = (await h.call("delete_contacts", {"search": search}))["preview"]
    # Left the segment after the preview: left alone, and reported as not deleted.
    await h.seed("DELETE", f"/contacts/t1@acme.com/segments/{segment['id']}")
    started = await h.client.call_tool(
        "delete_contacts", {"search": search, "confirm": preview["confirm"]}
    )
    assert not started.is_error, started.content
    done = await finished(h, started)
    assert done.structured_content is not None
    run = done.structured_content.get("run") or done.structured_content["job"]
    outcome, uris = run["result"], run["file_uris"]
    assert set(uris) == {"snapshot_file", "failures_file"}
    assert {str(link.uri) for link in links(done)} == set(uris.values())
    for field, uri in uris.items():
        data, _ = await read_whole(h, uri)
        assert data == Path(outcome[field]).read_bytes()
    snapshot, _ = await read_whole(h, uris["snapshot_file"])
    assert b"t0@acme.com" in snapshot
    assert b"t1@acme.com" not in snapshot
    # The same job through get_job: the same files, under the same URIs.
    again = await h.client.call_tool("get_job", {"job_id": run["job_id"]})
    assert {str(link.uri) for link in links(again)} == set(uris.values())
    assert uris["snapshot_file"] in str(again.content[0])


async def test_an_imports_failure_report_is_linked_and_read_back(h: Harness) -> None:
    csv_text = "email,first_name\nann@example.com,Ann\nnot-an-email,Bad\n"
    started = await h.client.call_tool(
        "import_contacts",
        {
            "csv_text": csv_text,
            "columns": {"email": "email", "first_name": "first_name"},
            "on_conflict": "upsert",
        },
    )
    assert not started.is_error, started.content
    done = await finished(h, started)
    assert done.structured_content is not None
    summary = done.structured_content["result"]
    assert summary["failed"] == 1
    [link] = links(done)
    assert done.structured_content["file_uris"] == {"failures_file": str(link.uri)}
    data, pages = await read_whole(h, str(link.uri))
    assert data == Path(summary["failures_file"]).read_bytes()
    assert b"not-an-email" in data
    assert [(p["page"], p["pages"], p["next"]) for p in pages] == [(1, 1, None)]


async def test_a_file_changed_or_deleted_on_disk_is_refused_and_so_is_a_made_up_id(
    h: Harness, tmp_path: Path
) -> None:
    await h.seed("POST", "/contacts", {"email": "ann@acme.com"})
    [link] = links(await export(h, "ann.csv"))
    uri = str(link.uri)
    assert (await read_whole(h, uri))[0] == (tmp_path / "ann.csv").read_bytes()
    (tmp_path / "ann.csv").write_text("email\nsomeone@else.com\n")
    changed = await refusal(h, uri)
    assert changed.code == INTERNAL_ERROR
    assert "'ann.csv' was changed on the server after it was written" in changed.message
    assert "Export again with export_contacts" in changed.message
    (tmp_path / "ann.csv").unlink()
    deleted = await refusal(h, uri)
    assert "'ann.csv' was deleted from the server after it was written" in deleted.message
    # Pages past the end, and page numbers that are none.
    [fresh] = links(await export(h, "ann2.csv"))
    past = await refusal(h, f"{fresh.uri}?page=2")
    assert "has 1 page: read page 1 to 1" in past.message
    assert "whole number" in (await refusal(h, f"{fresh.uri}?page=-1")).message
    # An id nobody was given, one of another shape, and paths: refused, and nothing read.
    unknown = await refusal(h, f"contacts-mcp://files/{secrets.token_urlsafe(16)}")
    assert unknown.code == INVALID_PARAMS
    assert "No such file was written for you" in unknown.message
    assert (await refusal(h, "contacts-mcp://files/abc")).message == unknown.message
    target = tmp_path / "ann2.csv"
    for path_like in (
        f"contacts-mcp://files/{quote(str(target), safe='')}",
        f"contacts-mcp://files/..%2F{quote(target.name)}",
        f"contacts-mcp://files/{quote(target.name)}",
    ):
        assert (await refusal(h, path_like)).code == INVALID_PARAMS, path_like


async def test_the_files_template_is_listed(h: Harness) -> None:
    templates = {t.name: t for t in (await h.client.list_resource_templates()).resource_templates}
    assert templates["file"].uri_template == "contacts-mcp://files/{file_id}{?page}"
    assert templates["file"].mime_type == "text/csv"
