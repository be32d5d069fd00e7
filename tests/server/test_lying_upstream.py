"""An upstream that lies: lists without end, fields without bounds, dates out of range.

Through the MCP client in both eras, against `httpx.MockTransport`: every list stops at
its bound with an error that says what to do, the mirror never answers from a sync that
stopped, what reaches the model stays bounded whatever Resend holds, and a date the
calendar cannot hold in UTC is no traceback.
"""

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from contacts_mcp.backends import BackendConfig
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server
from contacts_mcp.text.caps import MAX_SHOWN_FIELD_CHARS, MAX_SHOWN_VALUE_CHARS

pytestmark = pytest.mark.anyio

CREATED = "2026-01-01 00:00:00+00"
EMPTY: dict[str, Any] = {"object": "list", "has_more": False, "data": []}


@asynccontextmanager
async def server_on(
    handler: Callable[[httpx.Request], httpx.Response],
    era: str,
    imports: ImportSettings | None = None,
    **config: Any,
) -> AsyncIterator[Client]:
    backend = BackendConfig(
        api_key="re_test",
        base_url="https://api.resend.com",
        rate_limit=None,
        transport=httpx.MockTransport(handler),
        **config,
    )
    async with Client(build_server(backend, imports), mode=era) as client:
        yield client


def contact(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=n)),
        "email": f"person{n}@example.com",
        "first_name": None,
        "last_name": None,
        "unsubscribed": False,
        "created_at": CREATED,
        **fields,
    }


def listed(items: list[dict[str, Any]], *, more: bool = False) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "has_more": more, "data": items})


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    block = result.content[0]
    assert block.type == "text"
    return block.text


class Endless:
    """An account whose contact list answers new ids on every page, for ever, once
    `endless` is set; until then, `honest` contacts in one page."""

    def __init__(self, honest: int = 0, *, endless: bool = True) -> None:
        self.honest = [contact(n) for n in range(1, honest + 1)]
        self.endless = endless
        self.pages = 0
        self._ids = itertools.count(1_000_000)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/contacts":
            self.pages += 1
            if not self.endless:
                return listed(self.honest)
            size = int(request.url.params.get("limit", "100"))
            return listed([contact(next(self._ids)) for _ in range(size)], more=True)
        if path == "/segments":
            return listed([])
        return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "-"})


# -- every list honours its bound ------------------------------------------------------


async def test_a_contact_list_without_end_stops_at_the_bound_and_says_how_to_raise_it(
    era: str,
) -> None:
    api = Endless()
    async with server_on(api, era, max_contacts=300) as client:
        message = await error(client, "search_contacts", {"where": [], "count_only": True})
        assert api.pages == 3  # 300 contacts at 100 a page, then the one past them
        assert "GET /contacts went on past 300 contacts" in message
        assert "CONTACTS_MCP_MAX_CONTACTS" in message  # how to raise it, if the account is that big
        assert "Traceback" not in message

        # The stopped sync is not an answer: asking again stops again, at once (what it
        # staged counts towards the bound), and still answers nothing.
        message = await error(client, "search_contacts", {"where": [], "count_only": True})
        assert "past 300 contacts" in message
        assert api.pages == 4


async def test_after_a_sync_stopped_at_the_bound_the_mirror_answers_as_of_the_last_complete_one(
    era: str,
) -> None:
    api = Endless(honest=2, endless=False)
    async with server_on(api, era, max_contacts=300) as client:
        first = await call(client, "search_contacts", {"where": [], "count_only": True})
        assert first["count"] == 2
        api.endless = True
        message = await error(
            client, "search_contacts", {"where": [], "count_only": True, "refresh": "full"}
        )
        assert "past 300 contacts" in message
        after = await call(client, "search_contacts", {"where": [], "count_only": True})
    # Not the 300 staged by the stopped sync: the last complete mirror, and it says so.
    assert after["count"] == 2
    assert after["mirror"]["contacts"] == 2
    assert after["mirror"]["synced_at"] == first["mirror"]["synced_at"]
    assert "stopped before its end" in after["mirror"]["note"]


async def test_a_segment_member_list_without_end_stops_at_the_bound(era: str) -> None:
    segment_id = str(uuid.UUID(int=7))
    pages = 0
    ids = itertools.count(1_000)

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal pages
        path = request.url.path
        if path == "/contacts":
            return listed([contact(1)])
        if path == "/segments":
            return listed([{"id": segment_id, "name": "Endless", "created_at": CREATED}])
        if path == f"/segments/{segment_id}/contacts":
            pages += 1
            return listed([contact(next(ids)) for _ in range(100)], more=True)
        return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "-"})

    async with server_on(handler, era, max_contacts=500) as client:
        message = await error(client, "search_contacts", {"where": [], "refresh": "full"})
    assert "GET /segments/{id}/contacts went on past 500 contacts" in message
    assert pages == 5


async def test_a_contact_list_that_lists_an_earlier_page_again_stops_at_once(era: str) -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        path = request.url.path
        if path == "/contacts":
            requests += 1
            # Pages 1, 2, 3, then page 2 again (and so on): a circle two pages round.
            page = [1, 2, 3, 2, 3][min(requests, 5) - 1]
            return listed([contact(page * 100 + i) for i in range(100)], more=True)
        if path == "/segments":
            return listed([])
        return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "-"})

    async with server_on(handler, era) as client:
        message = await error(client, "search_contacts", {"where": [], "count_only": True})
    assert "GET /contacts" in message
    assert "same cursor came back" in message
    assert requests == 4


# -- dates the calendar cannot hold in UTC ---------------------------------------------

EARLY = "0001-01-01T00:30:00+01:00"  # 0000-12-31 23:30 in UTC: before year 1
LATE = "9999-12-31T23:30:00-01:00"  # 10000-01-01 00:30 in UTC: after year 9999


def dated_account(request: httpx.Request) -> httpx.Response:
    early, middle, late = contact(1, created_at=EARLY), contact(2), contact(3, created_at=LATE)
    path = request.url.path
    if path == "/contacts":
        return listed([late, middle, early])  # newest first, as Resend lists them
    if path == "/segments":
        return listed([])
    if path.startswith("/contacts/"):
        if path.endswith(("/segments", "/topics")):
            return listed([])
        return httpx.Response(200, json={"object": "contact", **early, "properties": {}})
    return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "-"})


async def test_a_contact_dated_before_year_1_in_utc_is_read_as_sent(era: str) -> None:
    # Kept as the API sent it, as every date Resend sends is (the client never parses
    # one): no overflow when the mirror files it under its UTC time.
    async with server_on(dated_account, era) as client:
        found = await call(client, "get_contact", {"contact": "person1@example.com"})
    assert found["created_at"] == EARLY


async def test_contacts_dated_outside_years_1_to_9999_in_utc_sync_sort_and_filter(
    era: str,
) -> None:
    async with server_on(dated_account, era) as client:
        everyone = await call(client, "search_contacts", {"where": [], "limit": 10})
        before_2000 = await call(
            client,
            "search_contacts",
            {"where": [{"field": "created_at", "op": "lt", "value": "2000-01-01"}]},
        )
        after_9000 = await call(
            client,
            "search_contacts",
            {"where": [{"field": "created_at", "op": "gt", "value": "9000-01-01"}]},
        )
        message = await error(
            client,
            "search_contacts",
            {"where": [{"field": "created_at", "op": "gt", "value": EARLY}]},
        )
    assert [c["created_at"] for c in everyone["contacts"]] == [LATE, CREATED, EARLY]
    assert [c["created_at"] for c in before_2000["contacts"]] == [EARLY]
    assert [c["created_at"] for c in after_9000["contacts"]] == [LATE]
    assert "between years 1 and 9999" in message
    assert "Traceback" not in message
    assert "Overflow" not in message


# -- what reaches the model is bounded -------------------------------------------------

MEGABYTE = 1_000_000
PROPERTIES = 10_000
BOUND = 64_000  # bytes of one whole result, text and structured content together


class Huge:
    """An account of one contact with a 1 MB first name and 10,000 properties, one of
    them a 1 MB text (the account defines every one of them), in 150 segments.

    The MCP client checks each result's structured content against the tool's output
    schema: a capped answer that broke its schema would fail the call here."""

    def __init__(self) -> None:
        self.summary = contact(1, first_name="A" * MEGABYTE, last_name="B" * MEGABYTE)
        self.values: dict[str, Any] = {"bio": "x" * MEGABYTE}
        self.values.update({f"p{i}": f"value {i}" for i in range(PROPERTIES - 1)})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/contacts":
            return listed([self.summary])
        if path == "/segments":
            return listed([])
        if path == "/topics":
            return listed([])
        if path == "/contact-properties":
            return listed(
                [
                    {"id": str(uuid.UUID(int=10 + i)), "key": key, "type": "string"}
                    | {"fallback_value": None, "created_at": CREATED}
                    for i, key in enumerate(self.values)
                ]
            )
        if path.endswith("/segments"):
            return listed(
                [
                    {"id": str(uuid.UUID(int=20_000 + i)), "name": f"Segment {i}"}
                    | {"created_at": CREATED}
                    for i in range(150)
                ]
            )
        if path.endswith("/topics"):
            return listed([])
        if path.startswith("/contacts/"):
            return httpx.Response(
                200, json={"object": "contact", **self.summary, "properties": self.values}
            )
        return httpx.Response(404, json={"statusCode": 404, "name": "not_found", "message": "-"})


def size(result: Any) -> int:
    texts = sum(len(block.text.encode()) for block in result.content if block.type == "text")
    return texts + len(json.dumps(result.structured_content).encode())


async def bounded(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    assert size(result) < BOUND, (tool, size(result))
    return result


async def test_get_contact_shows_a_megabyte_name_and_10000_properties_capped(era: str) -> None:
    async with server_on(Huge(), era) as client:
        result = await bounded(client, "get_contact", {"contact": "person1@example.com"})
    assert not result.is_error
    found = result.structured_content
    assert found["first_name"].startswith("AAAA")
    assert found["first_name"].endswith("more characters]")  # cut, and visibly so
    assert len(found["first_name"]) <= MAX_SHOWN_FIELD_CHARS
    assert len(found["properties"]["bio"]) <= MAX_SHOWN_VALUE_CHARS
    assert found["properties"]["bio"].endswith("more characters]")
    assert found["properties"]["p0"] == "value 0"  # short values whole
    assert len(found["properties"]) == 101  # 100 shown, and the count of the rest
    assert found["properties"]["…"] == "9,900 more properties not shown"
    assert len(found["segments"]) == 101
    assert found["segments"][-1] == {"id": "…", "name": "50 more segments not shown"}
    text = result.content[0].text
    assert "9,900 more properties not shown" in text
    assert "50 more segments not shown" in text


async def test_search_and_list_show_a_megabyte_name_capped(era: str) -> None:
    async with server_on(Huge(), era) as client:
        searched = await bounded(client, "search_contacts", {"where": []})
        assert not searched.is_error
        listed_page = await bounded(client, "list_contacts", {})
    [found] = searched.structured_content["contacts"]
    assert found["first_name"].endswith("more characters]")
    assert found["last_name"].endswith("more characters]")
    assert found["email"] == "person1@example.com"
    [page_item] = listed_page.structured_content["contacts"]
    assert page_item["first_name"].endswith("more characters]")


async def test_inline_export_rows_are_capped_and_the_file_keeps_every_value(
    era: str, tmp_path: Path
) -> None:
    folder = ImportSettings(files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path / "s")
    async with server_on(Huge(), era, folder) as client:
        # 10,000 property columns do not fit an answer: said so, briefly.
        refused = await bounded(client, "export_contacts", {"contacts": ["person1@example.com"]})
        assert refused.is_error
        assert "name the ones wanted in `properties`, or give a `path`" in refused.content[0].text
        inline = await bounded(
            client,
            "export_contacts",
            {"contacts": ["person1@example.com"], "properties": ["bio", "p1"]},
        )
        to_file = await bounded(
            client,
            "export_contacts",
            {
                "contacts": ["person1@example.com"],
                "properties": ["bio", "p1"],
                "path": str(tmp_path / "out.csv"),
            },
        )
    assert not inline.is_error
    assert not to_file.is_error
    [row] = inline.structured_content["result"]["contacts"]
    assert row["first_name"].endswith("more characters]")
    assert len(row["first_name"]) <= MAX_SHOWN_FIELD_CHARS
    assert row["bio"].endswith("more characters]")
    assert len(row["bio"]) <= MAX_SHOWN_VALUE_CHARS
    assert row["p1"] == "value 1"
    written = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert "A" * MEGABYTE in written  # the file is exact: it re-imports
    assert "x" * MEGABYTE in written
