"""The emulator speaks Resend's contacts wire format (shared/reference/resend-contacts-api.md)."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contacts_mcp.emulator import EmulatorOptions, create_app

pytestmark = pytest.mark.anyio

HEADERS = {"Authorization": "Bearer re_test_123", "User-Agent": "contacts-mcp-tests"}
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
LIST_ITEM_KEYS = ["id", "email", "first_name", "last_name", "created_at", "unsubscribed"]
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


def client_for(app: Starlette, **transport: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport),
        base_url="http://emulator",
        headers=HEADERS,
    )


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


def error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "name": name}


async def new_contact(client: httpx.AsyncClient, email: str, **fields: Any) -> str:
    response = await client.post("/contacts", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_segment(client: httpx.AsyncClient, name: str = "VIP") -> str:
    response = await client.post("/segments", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_property(client: httpx.AsyncClient, key: str, type_: str, **fields: Any) -> str:
    response = await client.post("/contact-properties", json={"key": key, "type": type_, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def all_contacts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/contacts")
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def emails_of(client: httpx.AsyncClient, url: str) -> tuple[list[str], bool]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["email"] for item in body["data"]], body["has_more"]


# -- contacts ----------------------------------------------------------------------------------


async def test_creating_a_contact_answers_201_with_a_uuid(client: httpx.AsyncClient) -> None:
    response = await client.post("/contacts", json={"email": "ada@example.com"})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["object", "id"]
    assert body["object"] == "contact"
    assert UUID.fullmatch(body["id"])


async def test_a_contact_reads_back_with_every_field_and_a_postgres_timestamp(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await new_contact(
        client, "ada@example.com", first_name="Ada", last_name="Lovelace", unsubscribed=True
    )

    body = (await client.get(f"/contacts/{contact_id}")).json()

    assert list(body) == ["object", *LIST_ITEM_KEYS, "properties"]
    assert body["object"] == "contact"
    assert body["id"] == contact_id
    assert (body["email"], body["first_name"], body["last_name"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    assert body["unsubscribed"] is True
    assert body["properties"] == {}
    assert TIMESTAMP.fullmatch(body["created_at"])


async def test_unset_names_are_null_and_unsubscribed_defaults_to_false(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await new_contact(client, "ada@example.com")

    body = (await client.get(f"/contacts/{contact_id}")).json()

    assert (body["first_name"], body["last_name"], body["unsubscribed"]) == (None, None, False)


async def test_creating_without_an_email_is_a_missing_required_field_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/contacts", json={})

    assert response.status_code == 422
    assert response.json() == error(422, "missing_required_field", "Missing `email` field.")
    assert list(response.json()) == ["statusCode", "message", "name"]


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "a b@example.com", "ada@example", "xxx+!@gmail.com", " a@b.co", "a..b@x.co"],
)
async def test_a_malformed_email_is_a_validation_error_naming_the_field(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post("/contacts", json={"email": email})

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert "`email`" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": 5},
        {"last_name": ["x"]},
        {"unsubscribed": "yes"},
        {"properties": ["x"]},
        {"segments": "VIP"},
        {"segments": [{"name": "VIP"}]},
        {"topics": [{"id": "t"}]},
        {"topics": [{"id": "t", "subscription": "maybe"}]},
    ],
)
async def test_fields_of_the_wrong_type_are_validation_errors_and_write_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/contacts", json={"email": "ada@example.com", **body})

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert await all_contacts(client) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "The request body must be valid JSON."),
        (b'{"email": NaN}', "The request body must be valid JSON."),
        (b'["ada@example.com"]', "The request body must be a JSON object."),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_validation_error(
    client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post(
        "/contacts", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == error(422, "validation_error", message)


async def test_a_duplicate_email_returns_the_existing_id_and_leaves_the_contact_unchanged(
    client: httpx.AsyncClient,
) -> None:
    # Assumption (unconfirmed upstream): emails match case-insensitively and the duplicate
    # create is a pure no-op.
    original = await new_contact(client, "ada@example.com", first_name="Ada")
    segment_id = await new_segment(client)

    response = await client.post(
        "/contacts",
        json={"email": "ADA@Example.com", "first_name": "Eve", "segments": [{"id": segment_id}]},
    )

    assert response.status_code == 201
    assert response.json() == {"object": "contact", "id": original}
    contact = (await client.get(f"/contacts/{original}")).json()
    assert (contact["email"], contact["first_name"]) == ("ada@example.com", "Ada")
    assert (await client.get(f"/contacts/{original}/segments")).json()["data"] == []
    assert len(await all_contacts(client)) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/contacts/a+b@example.com",
        "/contacts/a+b%40example.com",
        "/contacts/a%2Bb%40example.com",
        "/contacts/A+B@EXAMPLE.COM",
    ],
)
async def test_a_contact_is_found_by_raw_or_percent_encoded_email(
    client: httpx.AsyncClient, path: str
) -> None:
    contact_id = await new_contact(client, "a+b@example.com")

    response = await client.get(path)

    assert response.status_code == 200
    assert response.json()["id"] == contact_id
    assert response.json()["email"] == "a+b@example.com"  # "+" was not read as a space


async def test_a_contact_is_found_by_its_id_in_any_case(client: httpx.AsyncClient) -> None:
    contact_id = await new_contact(client, "ada@example.com")

    response = await client.get(f"/contacts/{contact_id.upper()}")

    assert response.json()["id"] == contact_id


@pytest.mark.parametrize("ref", [UNKNOWN_ID, "nobody@example.com", "not-a-contact"])
async def test_an_unknown_contact_is_404_contact_not_found(
    client: httpx.AsyncClient, ref: str
) -> None:
    for method in ("GET", "PATCH"):  # DELETE answers 200: see the test below
        response = await client.request(method, f"/contacts/{ref}", json={})

        assert response.status_code == 404
        assert response.json() == error(404, "not_found", "Contact not found")


async def test_updating_changes_only_the_given_fields_and_null_clears_a_name(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await new_contact(client, "ada@example.com", first_name="Ada", last_name="L")

    response = await client.patch(
        f"/contacts/{contact_id}", json={"last_name": None, "unsubscribed": True}
    )

    assert response.status_code == 200
    assert response.json() == {"object": "contact", "id": contact_id}
    contact = (await client.get(f"/contacts/{contact_id}")).json()
    assert (contact["first_name"], contact["last_name"], contact["unsubscribed"]) == (
        "Ada",
        None,
        True,
    )


async def test_updating_by_email_ignores_echoed_id_and_email_keys(
    client: httpx.AsyncClient,
) -> None:
    # The Python SDK sends its whole params dict, identifiers included.
    contact_id = await new_contact(client, "ada@example.com")

    response = await client.patch(
        "/contacts/ada%40example.com",
        json={"id": UNKNOWN_ID, "email": "eve@example.com", "first_name": "Ada"},
    )

    assert response.json() == {"object": "contact", "id": contact_id}
    contact = (await client.get(f"/contacts/{contact_id}")).json()
    assert (contact["email"], contact["first_name"]) == ("ada@example.com", "Ada")


@pytest.mark.parametrize("body", [{"first_name": 1}, {"unsubscribed": None}, {"properties": 3}])
async def test_an_invalid_update_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    contact_id = await new_contact(client, "ada@example.com", first_name="Ada")

    response = await client.patch(f"/contacts/{contact_id}", json={"last_name": "L", **body})

    assert response.status_code == 422
    assert (await client.get(f"/contacts/{contact_id}")).json()["last_name"] is None


async def test_deleting_by_email_answers_with_the_uuid_and_removes_the_contact(
    client: httpx.AsyncClient,
) -> None:
    contact_id = await new_contact(client, "ada@example.com")

    response = await client.delete("/contacts/ada@example.com")

    assert response.status_code == 200
    assert response.json() == {"object": "contact", "contact": contact_id, "deleted": True}
    assert (await client.get(f"/contacts/{contact_id}")).status_code == 404


# -- contact properties on contacts ------------------------------------------------------------


async def test_deleting_an_unknown_contact_answers_deleted_with_the_value_given(
    client: httpx.AsyncClient,
) -> None:
    # Recorded 2025-10-08, 10-17 and 11-30 (resend-node HARs, audience path):
    # tests/fixtures/resend/contacts_legacy_delete_nonexistent_200.json.
    for ref in (UNKNOWN_ID, "ghost@example.com"):
        response = await client.delete(f"/contacts/{ref}")
        assert response.status_code == 200
        assert response.json() == {"object": "contact", "contact": ref, "deleted": True}


async def test_property_values_read_back_typed(client: httpx.AsyncClient) -> None:
    await new_property(client, "plan", "string")
    await new_property(client, "seats", "number")
    contact_id = await new_contact(
        client, "ada@example.com", properties={"plan": "pro", "seats": 2.5}
    )

    contact = (await client.get(f"/contacts/{contact_id}")).json()

    assert contact["properties"] == {
        "plan": {"type": "string", "value": "pro"},
        "seats": {"type": "number", "value": 2.5},
    }


@pytest.mark.parametrize(
    ("properties", "key"),
    [
        ({"nope": "x"}, "nope"),
        ({"seats": "3"}, "seats"),
        ({"seats": True}, "seats"),
        ({"plan": 3}, "plan"),
    ],
)
async def test_property_values_must_name_a_defined_key_of_the_right_type(
    client: httpx.AsyncClient, properties: dict[str, Any], key: str
) -> None:
    await new_property(client, "plan", "string")
    await new_property(client, "seats", "number")

    response = await client.post(
        "/contacts", json={"email": "ada@example.com", "properties": properties}
    )

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert f"`{key}`" in response.json()["message"]
    assert await all_contacts(client) == []


async def test_updating_properties_merges_and_null_clears_a_key(
    client: httpx.AsyncClient,
) -> None:
    await new_property(client, "plan", "string")
    await new_property(client, "seats", "number")
    contact_id = await new_contact(client, "ada@example.com", properties={"plan": "pro"})

    await client.patch(f"/contacts/{contact_id}", json={"properties": {"seats": 3}})
    merged = (await client.get(f"/contacts/{contact_id}")).json()["properties"]
    await client.patch(f"/contacts/{contact_id}", json={"properties": {"plan": None}})
    cleared = (await client.get(f"/contacts/{contact_id}")).json()["properties"]

    assert merged == {
        "plan": {"type": "string", "value": "pro"},
        "seats": {"type": "number", "value": 3},
    }
    assert cleared == {"seats": {"type": "number", "value": 3}}


async def test_deleting_a_property_removes_its_value_from_every_contact(
    client: httpx.AsyncClient,
) -> None:
    property_id = await new_property(client, "plan", "string")
    ids = [
        await new_contact(client, f"{name}@example.com", properties={"plan": "pro"})
        for name in ("ada", "eve")
    ]

    response = await client.delete(f"/contact-properties/{property_id}")

    assert response.json() == {"object": "contact_property", "deleted": True, "id": property_id}
    for contact_id in ids:
        assert (await client.get(f"/contacts/{contact_id}")).json()["properties"] == {}


# -- lists and pagination ----------------------------------------------------------------------


@pytest.fixture
async def five(client: httpx.AsyncClient) -> list[str]:
    """Contacts c1..c5 created in that order; the newest-first list is c5..c1."""
    for n in range(1, 6):
        await new_contact(client, f"c{n}@example.com")
    return [f"c{n}@example.com" for n in range(5, 0, -1)]


async def ids_by_email(client: httpx.AsyncClient) -> dict[str, str]:
    return {item["email"]: item["id"] for item in await all_contacts(client)}


async def test_without_limit_a_short_list_comes_whole_newest_first(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    response = await client.get("/contacts")

    body = response.json()
    assert list(body) == ["object", "has_more", "data"]
    assert (body["object"], body["has_more"]) == ("list", False)
    assert [item["email"] for item in body["data"]] == five
    assert all(list(item) == LIST_ITEM_KEYS for item in body["data"])


async def test_paging_forward_with_after_is_exclusive_and_has_more_until_the_end(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    ids = await ids_by_email(client)

    first = await emails_of(client, "/contacts?limit=2")
    second = await emails_of(client, f"/contacts?limit=2&after={ids[five[1]]}")
    last = await emails_of(client, f"/contacts?limit=2&after={ids[five[3]]}")

    assert first == (five[0:2], True)
    assert second == (five[2:4], True)
    assert last == (five[4:], False)


async def test_paging_backward_with_before_returns_the_newer_page_newest_first(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    ids = await ids_by_email(client)

    previous = await emails_of(client, f"/contacts?limit=2&before={ids[five[4]]}")
    first = await emails_of(client, f"/contacts?limit=2&before={ids[five[2]]}")

    assert previous == (five[2:4], True)
    assert first == (five[0:2], False)


async def test_a_cursor_without_limit_returns_the_rest_of_a_short_list(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    ids = await ids_by_email(client)

    assert await emails_of(client, f"/contacts?after={ids[five[1]]}") == (five[2:], False)
    assert await emails_of(client, f"/contacts?before={ids[five[1]]}") == (five[:1], False)


async def test_a_limit_covering_the_rest_reports_no_more(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    assert await emails_of(client, "/contacts?limit=5") == (five, False)
    assert await emails_of(client, "/contacts?limit=100") == (five, False)


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5", "", "1e2"])
async def test_a_limit_outside_1_to_100_is_a_validation_error(
    client: httpx.AsyncClient, limit: str
) -> None:
    response = await client.get("/contacts", params={"limit": limit})

    assert response.status_code == 422
    assert response.json() == error(
        422,
        "validation_error",
        "The pagination limit must be a number between 1 and 100. "
        "See https://resend.com/docs/pagination for more information.",
    )


async def test_after_and_before_together_is_a_validation_error(
    client: httpx.AsyncClient, five: list[str]
) -> None:
    ids = list((await ids_by_email(client)).values())

    response = await client.get(f"/contacts?after={ids[0]}&before={ids[1]}")

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"


@pytest.mark.parametrize("param", ["after", "before"])
async def test_an_unknown_cursor_is_a_validation_error(
    client: httpx.AsyncClient, five: list[str], param: str
) -> None:
    response = await client.get(f"/contacts?{param}={UNKNOWN_ID}")

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert f"`{param}`" in response.json()["message"]


async def test_a_segment_lists_only_its_members_newest_first(client: httpx.AsyncClient) -> None:
    segment_id = await new_segment(client)
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        segments = [segment_id] if email != "b@example.com" else []
        await new_contact(client, email, segments=segments)

    assert await emails_of(client, f"/segments/{segment_id}/contacts") == (
        ["c@example.com", "a@example.com"],
        False,
    )
    assert await emails_of(client, f"/segments/{segment_id}/contacts?limit=1") == (
        ["c@example.com"],
        True,
    )


async def test_without_limit_every_list_pages_by_the_documented_default_of_20(
    client: httpx.AsyncClient,
) -> None:
    # docs api-reference/pagination: "Default is 20, maximum is 100, and minimum is 1".
    segment_id = await new_segment(client)
    for n in range(25):
        await new_contact(client, f"p{n}@example.com", segments=[segment_id])
    for url in (
        "/contacts",
        f"/segments/{segment_id}/contacts",
        f"/contacts?segment_id={segment_id}",
    ):
        emails, has_more = await emails_of(client, url)
        assert (len(emails), has_more) == (20, True), url
        assert emails[0] == "p24@example.com"
    for _ in range(22):
        await new_segment(client)
    segments = (await client.get("/segments")).json()
    assert (len(segments["data"]), segments["has_more"]) == (20, True)


async def test_contacts_filtered_by_segment_id_are_only_its_members(
    client: httpx.AsyncClient,
) -> None:
    # GET /contacts?segment_id= is in Resend's OpenAPI file (the SDKs call the
    # /segments/{id}/contacts route instead); it must not answer with everybody.
    segment_id = await new_segment(client)
    await new_contact(client, "in@example.com", segments=[segment_id])
    await new_contact(client, "out@example.com")

    assert await emails_of(client, f"/contacts?segment_id={segment_id}") == (
        ["in@example.com"],
        False,
    )
    unknown = await client.get(f"/contacts?segment_id={UNKNOWN_ID}")
    assert unknown.status_code == 404
    assert unknown.json() == error(404, "not_found", "Audience not found")


async def test_listing_an_unknown_segment_is_404_audience_not_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/segments/{UNKNOWN_ID}/contacts")

    assert response.status_code == 404
    assert response.json() == error(404, "not_found", "Audience not found")


# -- segments and membership -------------------------------------------------------------------


async def test_a_segment_can_be_created_read_renamed_and_listed(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/segments", json={"name": "VIP"})
    segment_id = created.json()["id"]
    renamed = await client.patch(f"/segments/{segment_id}", json={"name": "Gold"})
    fetched = await client.get(f"/segments/{segment_id}")
    listed = await client.get("/segments")

    assert created.status_code == 201
    assert created.json() == {"object": "segment", "id": segment_id, "name": "VIP"}
    assert renamed.json() == {"object": "segment", "id": segment_id}
    segment = fetched.json()
    assert list(segment) == ["object", "id", "name", "created_at"]
    assert (segment["name"], TIMESTAMP.fullmatch(segment["created_at"]) is not None) == (
        "Gold",
        True,
    )
    assert listed.json() == {
        "object": "list",
        "has_more": False,
        "data": [{"id": segment_id, "name": "Gold", "created_at": segment["created_at"]}],
    }


async def test_a_segment_without_a_name_is_a_missing_required_field_error(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.post("/segments", json={}),
        await client.patch(f"/segments/{await new_segment(client)}", json={}),
    ):
        assert response.status_code == 422
        assert response.json() == error(422, "missing_required_field", "Missing `name` field.")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_an_unknown_segment_is_404_audience_not_found(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, f"/segments/{UNKNOWN_ID}", json={"name": "x"})

    assert response.status_code == 404
    assert response.json() == error(404, "not_found", "Audience not found")


async def test_deleting_a_segment_keeps_its_contacts(client: httpx.AsyncClient) -> None:
    segment_id = await new_segment(client)
    contact_id = await new_contact(client, "ada@example.com", segments=[{"id": segment_id}])

    response = await client.delete(f"/segments/{segment_id}")

    assert response.json() == {"object": "segment", "id": segment_id, "deleted": True}
    assert (await client.get(f"/contacts/{contact_id}")).status_code == 200
    assert (await client.get(f"/contacts/{contact_id}/segments")).json()["data"] == []
    assert (await client.get(f"/segments/{segment_id}")).status_code == 404


async def test_deleting_an_unknown_segment_still_answers_deleted(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete(f"/segments/{UNKNOWN_ID}")

    assert response.status_code == 200
    assert response.json() == {"object": "segment", "id": UNKNOWN_ID, "deleted": True}


async def test_adding_a_contact_to_a_segment_twice_is_harmless(
    client: httpx.AsyncClient,
) -> None:
    segment_id = await new_segment(client)
    await new_contact(client, "ada@example.com")

    responses = [
        await client.post(f"/contacts/ada%40example.com/segments/{segment_id}") for _ in range(2)
    ]
    listed = (await client.get("/contacts/ada@example.com/segments")).json()

    assert [r.status_code for r in responses] == [200, 200]
    assert [r.json() for r in responses] == [{"id": segment_id}] * 2
    assert [item["id"] for item in listed["data"]] == [segment_id]
    assert list(listed["data"][0]) == ["id", "name", "created_at"]


async def test_removing_a_contact_from_a_segment_answers_the_contact_segment_shape(
    client: httpx.AsyncClient,
) -> None:
    segment_id = await new_segment(client)
    contact_id = await new_contact(client, "ada@example.com", segments=[segment_id])

    response = await client.delete(f"/contacts/ada@example.com/segments/{segment_id}")

    assert response.json() == {
        "object": "contact_segment",
        "id": contact_id,
        "audienceId": segment_id,
        "deleted": True,
    }
    assert (await client.get(f"/segments/{segment_id}/contacts")).json()["data"] == []


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_membership_of_an_unknown_contact_or_segment_is_404(
    client: httpx.AsyncClient, method: str
) -> None:
    segment_id = await new_segment(client)
    await new_contact(client, "ada@example.com")

    no_contact = await client.request(method, f"/contacts/eve@example.com/segments/{segment_id}")
    no_segment = await client.request(method, f"/contacts/ada@example.com/segments/{UNKNOWN_ID}")

    assert no_contact.json() == error(404, "not_found", "Contact not found")
    assert no_segment.json() == error(404, "not_found", "Audience not found")


async def test_a_contact_created_with_an_unknown_segment_is_not_written(
    client: httpx.AsyncClient,
) -> None:
    segment_id = await new_segment(client)

    response = await client.post(
        "/contacts", json={"email": "ada@example.com", "segments": [segment_id, UNKNOWN_ID]}
    )

    assert response.status_code == 404
    assert await all_contacts(client) == []


# -- contact property definitions --------------------------------------------------------------


async def test_a_property_can_be_created_read_updated_and_listed(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/contact-properties", json={"key": "plan", "type": "string", "fallback_value": "free"}
    )
    property_id = created.json()["id"]
    updated = await client.patch(f"/contact-properties/{property_id}", json={"fallback_value": "x"})
    fetched = (await client.get(f"/contact-properties/{property_id}")).json()
    listed = (await client.get("/contact-properties")).json()

    assert created.status_code == 201
    assert created.json() == {"object": "contact_property", "id": property_id}
    assert updated.json() == {"object": "contact_property", "id": property_id}
    assert list(fetched) == ["object", "id", "key", "type", "fallback_value", "created_at"]
    assert (fetched["key"], fetched["type"], fetched["fallback_value"]) == ("plan", "string", "x")
    assert TIMESTAMP.fullmatch(fetched["created_at"])
    assert listed == {
        "object": "list",
        "has_more": False,
        "data": [{key: fetched[key] for key in list(fetched)[1:]}],
    }


async def test_a_null_fallback_clears_it(client: httpx.AsyncClient) -> None:
    property_id = await new_property(client, "seats", "number", fallback_value=1)

    await client.patch(f"/contact-properties/{property_id}", json={"fallback_value": None})

    assert (await client.get(f"/contact-properties/{property_id}")).json()["fallback_value"] is None


async def test_the_property_list_is_paginated_by_20_by_default(client: httpx.AsyncClient) -> None:
    for n in range(21):
        await new_property(client, f"p{n}", "number")

    body = (await client.get("/contact-properties")).json()

    assert len(body["data"]) == 20
    assert body["has_more"] is True
    assert body["data"][0]["key"] == "p20"


@pytest.mark.parametrize(
    ("body", "name", "message"),
    [
        ({"type": "string"}, "missing_required_field", "Missing `key` field."),
        ({"key": "plan"}, "missing_required_field", "Missing `type` field."),
        ({"key": "a-b", "type": "string"}, "validation_error", None),
        ({"key": "k" * 51, "type": "string"}, "validation_error", None),
        ({"key": "FIRST_NAME", "type": "string"}, "validation_error", None),
        ({"key": "flag", "type": "boolean"}, "validation_error", None),
        ({"key": "seats", "type": "number", "fallback_value": "1"}, "validation_error", None),
        ({"key": "seats", "type": "number", "fallback_value": True}, "validation_error", None),
        ({"key": "plan", "type": "string", "fallback_value": 1}, "validation_error", None),
    ],
)
async def test_invalid_property_definitions_are_rejected_and_write_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], name: str, message: str | None
) -> None:
    response = await client.post("/contact-properties", json=body)

    assert response.status_code == 422
    assert response.json()["name"] == name
    if message is not None:
        assert response.json()["message"] == message
    assert (await client.get("/contact-properties")).json()["data"] == []


async def test_a_50_character_key_is_accepted(client: httpx.AsyncClient) -> None:
    await new_property(client, "k" * 50, "string")


async def test_a_duplicate_property_key_is_a_validation_error(client: httpx.AsyncClient) -> None:
    await new_property(client, "plan", "string")

    response = await client.post("/contact-properties", json={"key": "plan", "type": "number"})

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert "`plan`" in response.json()["message"]


@pytest.mark.parametrize(
    "body", [{"key": "tier"}, {"type": "number"}, {"fallback_value": 3}, {"fallback_value": []}]
)
async def test_a_property_keeps_its_key_and_type_and_a_fallback_of_its_type(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    property_id = await new_property(client, "plan", "string", fallback_value="free")

    response = await client.patch(f"/contact-properties/{property_id}", json=body)

    assert response.status_code == 422
    fetched = (await client.get(f"/contact-properties/{property_id}")).json()
    assert (fetched["key"], fetched["type"], fetched["fallback_value"]) == (
        "plan",
        "string",
        "free",
    )


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("property_id", [UNKNOWN_ID, "plan"])
async def test_an_unknown_property_is_404_contact_property_not_found(
    client: httpx.AsyncClient, method: str, property_id: str
) -> None:
    response = await client.request(method, f"/contact-properties/{property_id}", json={})

    assert response.status_code == 404
    assert response.json() == error(404, "not_found", "Contact property not found")


# -- routing and failures ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/contacts/", "/contacts/a@b.co/topics/x/y"])
async def test_unknown_paths_are_404_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json()["name"] == "not_found"


async def test_a_wrong_method_is_405_and_names_the_allowed_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/contacts/ada@example.com")

    assert response.status_code == 405
    assert response.json() == error(405, "method_not_allowed", "Method not allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"


async def test_an_unexpected_error_is_a_logged_500_without_internals(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    app.state.store.close()  # every query now raises

    async with client_for(app, raise_app_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="contacts_mcp.emulator"):
            response = await client.get("/contacts")

    assert response.status_code == 500
    assert response.json() == error(500, "internal_server_error", "An unexpected error occurred.")
    assert [r.name for r in caplog.records] == ["contacts_mcp.emulator"]
    assert caplog.records[0].exc_info is not None


# -- storage lifecycle -------------------------------------------------------------------------


async def test_the_database_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    db_path = tmp_path / "nested" / "contacts.db"
    app = create_app(EmulatorOptions(db_path=str(db_path)))
    assert not db_path.parent.exists()

    async with client_for(app) as client:
        await new_contact(client, "ada@example.com")

    assert db_path.exists()
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    app.state.store.close()


async def test_data_survives_a_restart_on_a_file_database(tmp_path: Path) -> None:
    options = EmulatorOptions(db_path=str(tmp_path / "contacts.db"))
    first = create_app(options)
    async with first.router.lifespan_context(first), client_for(first) as client:
        contact_id = await new_contact(client, "ada@example.com")

    second = create_app(options)
    async with second.router.lifespan_context(second), client_for(second) as client:
        response = await client.get("/contacts/ada@example.com")

    assert response.json()["id"] == contact_id
