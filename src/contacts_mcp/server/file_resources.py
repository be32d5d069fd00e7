"""Files the server wrote for a caller, as MCP resources only that caller can read.

    contacts-mcp://files/{file_id}{?page}   an export, a delete's snapshot, or a report
                                            of what a run or an import did not do (CSV)

A job's result names each file it wrote by path, for a client on this machine, and in
`file_uris` by resource URI, for every client (remote ones cannot reach this disk): the
job layer serves the files to the job's caller as it answers (`serve_job_files`). Every
tool result that names one gets a `resource_link` to it, however the tool built its
answer, and every read says which page it is, how many there are, and the next one's URI
(both in `with_file_links_and_pages`, a middleware: the SDK gives a resource template's
answer no `_meta` of its own).

A read returns at most `PAGE_BYTES` of the file, ending at a row's end. A file id is
128 random bits bound to its caller: another caller's id is refused exactly as an
unknown one, and a file changed or deleted on disk since it was written is not served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.uri_template import UriTemplate
from mcp.types import ResourceLink
from pydantic import BaseModel

from contacts_mcp.server.toolkit import State
from contacts_mcp.services.explain import NothingFoundError, UserFacingError
from contacts_mcp.services.outfiles import PAGE_BYTES, Kind, ServedFile
from contacts_mcp.text.words import counted

__all__ = [
    "FILES_TEMPLATE",
    "PAGE_META",
    "file_uri",
    "files_text",
    "register_file_resources",
    "serve_job_files",
]

FILES_TEMPLATE = "contacts-mcp://files/{file_id}{?page}"
# The key of a read's `_meta` entry: {"page": n, "pages": total, "next": URI or null}.
PAGE_META = "contacts-mcp/page"
CSV = "text/csv"
_TEMPLATE = UriTemplate.parse(FILES_TEMPLATE)
_PREFIX = "contacts-mcp://files/"

# The files each kind of job writes for its caller, by the result field that names them.
JOB_FILES: dict[str, dict[str, Kind]] = {
    "export": {"file": "export"},
    "delete": {"snapshot_file": "snapshot", "failures_file": "failures"},
    "update": {"failures_file": "failures"},
    "import": {"failures_file": "failures"},
    "undo": {"snapshot_file": "snapshot", "failures_file": "failures"},
    "merge": {"snapshot_file": "snapshot", "failures_file": "failures"},
}
_ABOUT: dict[str, str] = {
    "export": "The exported contacts (CSV).",
    "snapshot": "The deleted contacts, as import_contacts reads them back.",
    "failures": "What was not done, with the reasons (CSV).",
}


def file_uri(file_id: str, page: int = 1) -> str:
    return _TEMPLATE.expand({"file_id": file_id, **({"page": str(page)} if page > 1 else {})})


async def serve_job_files(
    state: State, caller: str, job_kind: str, result: BaseModel
) -> dict[str, ServedFile]:
    """The files a job's `result` names, served to `caller` (the job's), by field."""
    served: dict[str, ServedFile] = {}
    for field, kind in JOB_FILES.get(job_kind, {}).items():
        path = getattr(result, field, None)
        if not isinstance(path, str):
            continue
        found = await anyio.to_thread.run_sync(state.written.serve, Path(path), caller, kind)
        if found is not None:
            served[field] = found
    return served


def files_text(served: Mapping[str, ServedFile]) -> str:
    """The line a result's text gives its files as resources ("" for none)."""
    if not served:
        return ""
    named = ", ".join(
        f"{field} {file_uri(found.id)}" + (f" ({found.pages} pages)" if found.pages > 1 else "")
        for field, found in served.items()
    )
    return (
        f"\nAs MCP resources, for any client (resources/read, {_size(PAGE_BYTES)} a read, "
        f"?page=N for the rest): {named}."
    )


def register_file_resources(server: MCPServer[State], live: Callable[[], State]) -> None:
    """Register the files template, and the middleware that links and pages its files."""

    @server.resource(
        FILES_TEMPLATE,
        name="file",
        title="A file written for you",
        description=(
            "An export, a delete's snapshot, or a failure report, readable only by who ran "
            f"it: at most {_size(PAGE_BYTES)} a read, ending at a row's end; ?page=N for "
            f"the rest (_meta {PAGE_META!r} says how many)."
        ),
        mime_type=CSV,
    )
    async def written_file(file_id: str, page: str = "1") -> str:
        state = live()
        number = _page_number(page)
        try:
            found = await anyio.to_thread.run_sync(
                state.written.page, file_id, state.caller(), number
            )
        except NothingFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except UserFacingError as exc:
            raise ResourceError(str(exc)) from None
        return found.text

    async def with_file_links_and_pages(
        ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Middleware: a `resource_link` for each file a tool result names in
        `file_uris`; on a read of a file, which page it is in the contents' `_meta`."""
        result = await call_next(ctx)
        if ctx.method not in ("tools/call", "resources/read") or result is None:
            return result
        # The result as it goes on the wire (the SDK's handlers give that form already).
        answer = (
            result.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(result, BaseModel)
            else result
        )
        if ctx.method == "tools/call":
            return _with_links(live(), answer)
        return _with_page(live(), (ctx.params or {}).get("uri"), answer)

    server.middleware.append(with_file_links_and_pages)


def _page_number(page: str) -> int:
    if not (page.isdecimal() and len(page) <= 9 and int(page) >= 1):
        raise ResourceNotFoundError(f"page must be a whole number from 1, not {page[:20]!r}.")
    return int(page)


def _with_links(state: State, answer: dict[str, Any]) -> dict[str, Any]:
    content = answer.get("content")
    if answer.get("isError") or not isinstance(content, list):
        return answer
    linked = {block.get("uri") for block in content if isinstance(block, dict)}
    links: list[dict[str, Any]] = []
    caller = state.caller()
    for uri in _file_uris(answer.get("structuredContent")):
        matched = _TEMPLATE.match(uri)
        if uri in linked or matched is None:
            continue
        try:
            found = state.written.served(str(matched["file_id"]), caller)
        except NothingFoundError:
            continue  # not this caller's: nothing to link
        linked.add(uri)
        links.append(_link(uri, found).model_dump(mode="json", by_alias=True, exclude_none=True))
    return {**answer, "content": [*content, *links]} if links else answer


def _file_uris(structured: object, depth: int = 0) -> list[str]:
    """The URIs in every `file_uris` of a tool's structured content: a job's own (export,
    import), or one inside the answer (`run` of a bulk change, `job` of get_job)."""
    if not isinstance(structured, dict) or depth > 3:
        return []
    found: list[str] = []
    named = structured.get("file_uris")
    if isinstance(named, dict):
        found.extend(v for v in named.values() if isinstance(v, str) and v.startswith(_PREFIX))
    for value in structured.values():
        found.extend(_file_uris(value, depth + 1))
    return found


def _link(uri: str, found: ServedFile) -> ResourceLink:
    about = _ABOUT[found.kind]
    if found.pages > 1:
        about += (
            f" {found.pages} pages of at most {_size(PAGE_BYTES)}: read {file_uri(found.id, 2)} "
            "and on for the rest."
        )
    return ResourceLink(
        type="resource_link",
        uri=uri,
        name=found.name,
        description=about,
        mime_type=CSV,
        size=found.size,
    )


def _with_page(state: State, uri: object, answer: dict[str, Any]) -> dict[str, Any]:
    matched = _TEMPLATE.match(uri) if isinstance(uri, str) else None
    contents = answer.get("contents")
    if matched is None or not isinstance(contents, list):
        return answer
    number = int(str(matched.get("page", "1")))  # the read went well: a valid number
    found = state.written.served(str(matched["file_id"]), state.caller())
    page = {
        "page": number,
        "pages": found.pages,
        "next": file_uri(found.id, number + 1) if number < found.pages else None,
    }
    stamped = [{**item, "_meta": {**item.get("_meta", {}), PAGE_META: page}} for item in contents]
    return {**answer, "contents": stamped}


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else counted(n, "byte")
