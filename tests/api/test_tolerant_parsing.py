"""The client reads every shape Resend is known to send, and bounds every list it follows.

Shapes come from Resend's own sources: typed properties from the docs and resend-node's
types, flat properties and `id` in delete answers from the OpenAPI file and SDK mocks,
`boolean` property types from the SDK fixes of 2026-08 (resend-python #254, resend-go
#146), lists without `has_more` from endpoints that answer everything at once. Anything
else becomes an `UnexpectedResponseError` that names the endpoint, never the data.
"""

from typing import Any

import pytest

from contacts_mcp.api.base import MAX_PAGES, endpoint
from contacts_mcp.api.errors import APIError, ListTooLongError, UnexpectedResponseError
from tests.api.wire import Wire, client_for

pytestmark = pytest.mark.anyio

CONTACT_ID = "e169aa45-1ecf-4183-9955-b1499d5701d3"
CREATED = "2025-11-30 20:39:59.540771+00"


def contact(**fields: Any) -> dict[str, Any]:
    return {
        "object": "contact",
        "id": CONTACT_ID,
        "email": "ada@example.com",
        "first_name": None,
        "last_name": None,
        "created_at": CREATED,
        "unsubscribed": False,
        **fields,
    }


def uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def topic(i: int, subscription: str = "opt_in") -> dict[str, Any]:
    return {"id": uuid(i), "name": f"Topic {i}", "description": None, "subscription": subscription}


async def test_typed_properties_are_read_as_sent() -> None:
    properties = {
        "plan": {"type": "string", "value": "pro"},
        "seats": {"type": "number", "value": 3},
    }
    http, client = client_for(Wire(contact(properties=properties)))
    async with http:
        found = await client.get_contact(CONTACT_ID)
    assert {k: (v.type, v.value) for k, v in found.properties.items()} == {
        "plan": ("string", "pro"),
        "seats": ("number", 3),
    }


async def test_flat_properties_become_typed_values() -> None:
    flat = {"plan": "pro", "seats": 3, "ratio": 0.5, "vip": True, "note": None}
    http, client = client_for(Wire(contact(properties=flat)))
    async with http:
        found = await client.get_contact("ada@example.com")
    assert {k: (v.type, v.value) for k, v in found.properties.items()} == {
        "plan": ("string", "pro"),
        "seats": ("number", 3),
        "ratio": ("number", 0.5),
        "vip": ("boolean", True),
        "note": ("string", None),
    }


async def test_null_or_missing_properties_read_as_none() -> None:
    http, client = client_for(Wire(contact(properties=None), contact()))
    async with http:
        assert (await client.get_contact(CONTACT_ID)).properties == {}
        assert (await client.get_contact(CONTACT_ID)).properties == {}


async def test_a_nested_property_value_is_kept_readable() -> None:
    http, client = client_for(
        Wire(contact(properties={"tags": {"type": "string", "value": ["a"]}}))
    )
    async with http:
        found = await client.get_contact(CONTACT_ID)
    assert found.properties["tags"].value == '["a"]'


async def test_property_types_resend_has_but_we_never_create_do_not_break_the_list() -> None:
    def prop(i: int, type_: str, fallback: Any) -> dict[str, Any]:
        return {
            "id": uuid(i),
            "key": f"k{i}",
            "type": type_,
            "fallback_value": fallback,
            "created_at": CREATED,
        }

    wire = Wire(
        {
            "object": "list",
            "data": [prop(1, "boolean", False), prop(2, "string", None), prop(3, "date", None)],
        }
    )
    http, client = client_for(wire)
    async with http:
        props = await client.list_contact_properties()
    assert [(p.key, p.type, p.fallback_value) for p in props] == [
        ("k1", "boolean", False),
        ("k2", "string", None),
        ("k3", "date", None),
    ]
    assert len(wire.requests) == 1  # no has_more: that was the whole list


async def test_a_delete_answer_may_name_the_contact_id_or_contact() -> None:
    http, client = client_for(
        Wire(
            {"object": "contact", "contact": CONTACT_ID, "deleted": True},
            {"object": "contact", "id": CONTACT_ID, "deleted": True},
            {"id": CONTACT_ID},
        )
    )
    async with http:
        answers = [await client.delete_contact(CONTACT_ID) for _ in range(3)]
    assert [(a.contact, a.deleted) for a in answers] == [(CONTACT_ID, True)] * 3


async def test_null_names_descriptions_visibility_and_flags_are_accepted() -> None:
    http, client = client_for(
        Wire(
            {"object": "list", "data": [{"id": uuid(1), "name": None, "created_at": CREATED}]},
            {
                "object": "topic",
                "id": uuid(2),
                "name": None,
                "description": None,
                "default_subscription": "opt_in",
                "visibility": None,
                "created_at": CREATED,
            },
            contact(unsubscribed=None, first_name=None),
        )
    )
    async with http:
        segments = await client.list_segments()
        found_topic = await client.get_topic(uuid(2))
        found = await client.get_contact(CONTACT_ID)
    assert segments[0].name == ""
    assert (found_topic.name, found_topic.visibility) == ("", "private")
    assert found.unsubscribed is False


@pytest.mark.parametrize(
    "answer",
    [
        [contact()],  # a list where an object belongs
        {"object": "contact", "email": "ada@example.com"},  # no id
        contact(properties=["plan"]),  # properties as a list
        "OK",
    ],
)
async def test_an_unreadable_answer_is_an_api_error_naming_the_endpoint_not_the_data(
    answer: Any,
) -> None:
    http, client = client_for(Wire(answer))
    async with http:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.get_contact("ada@example.com")
    error = caught.value
    assert isinstance(error, APIError)
    assert error.endpoint == "GET /contacts/{id}"
    assert "GET /contacts/{id}" in error.message
    assert "ada@example.com" not in str(error)
    assert len(str(error)) < 300


def test_endpoint_templates_hide_ids_and_emails() -> None:
    assert endpoint("GET", f"/contacts/{CONTACT_ID}/topics") == "GET /contacts/{id}/topics"
    assert endpoint("DELETE", "/contacts/a%40b.c/segments/x") == (
        "DELETE /contacts/{id}/segments/{id}"
    )
    assert endpoint("GET", "/contacts/imports/abc") == "GET /contacts/imports/{id}"
    assert endpoint("GET", "/contact-properties") == "GET /contact-properties"


async def test_a_contacts_25_topics_are_all_read_across_pages() -> None:
    wire = Wire(
        {"object": "list", "has_more": True, "data": [topic(i) for i in range(20)]},
        {"object": "list", "has_more": False, "data": [topic(i) for i in range(20, 25)]},
    )
    http, client = client_for(wire)
    async with http:
        topics = await client.list_contact_topics(CONTACT_ID)
    assert [t.id for t in topics] == [uuid(i) for i in range(25)]
    assert dict(wire.requests[1].url.params) == {"limit": "100", "after": uuid(19)}


async def test_a_contacts_segments_are_all_read_across_pages() -> None:
    def seg(i: int) -> dict[str, Any]:
        return {"id": uuid(i), "name": f"S{i}", "created_at": CREATED}

    wire = Wire(
        {"object": "list", "has_more": True, "data": [seg(i) for i in range(20)]},
        {"object": "list", "has_more": False, "data": [seg(20)]},
    )
    http, client = client_for(wire)
    async with http:
        segments = await client.list_contact_segments("ada@example.com")
    assert len(segments) == 21
    assert wire.sent(1)[1].startswith("/contacts/ada%40example.com/segments?")


async def test_a_repeated_cursor_stops_paging_within_three_requests() -> None:
    # The API answers the same page, claiming more, for every cursor.
    wire = Wire({"object": "list", "has_more": True, "data": [topic(1), topic(2)]})
    http, client = client_for(wire)
    async with http:
        with pytest.raises(UnexpectedResponseError, match="same cursor came back"):
            await client.list_contact_topics(CONTACT_ID)
    assert len(wire.requests) <= 3


async def test_an_empty_page_claiming_more_ends_the_list() -> None:
    wire = Wire(
        {"object": "list", "has_more": True, "data": [topic(1)]},
        {"object": "list", "has_more": True, "data": []},
        {"object": "list", "has_more": False, "data": [topic(9)]},  # never asked for
    )
    http, client = client_for(wire)
    async with http:
        topics = await client.list_contact_topics(CONTACT_ID)
    assert [t.id for t in topics] == [uuid(1)]
    assert len(wire.requests) == 2


async def test_a_list_that_never_ends_is_cut_at_the_page_cap() -> None:
    pages = iter(range(MAX_PAGES + 10))

    class Endless(Wire):
        def __call__(self, request: Any) -> Any:
            self.replies = [{"object": "list", "has_more": True, "data": [topic(next(pages))]}]
            return super().__call__(request)

    wire = Endless({})
    http, client = client_for(wire)
    async with http:
        with pytest.raises(UnexpectedResponseError, match=f"past {MAX_PAGES:,} pages"):
            await client.list_contact_topics(CONTACT_ID)
    assert len(wire.requests) == MAX_PAGES


async def test_iterating_contacts_stops_on_a_repeated_cursor() -> None:
    page = {"object": "list", "has_more": True, "data": [contact(id=uuid(1)), contact(id=uuid(2))]}
    wire = Wire(page)
    http, client = client_for(wire)
    seen: list[str] = []

    async def read_all() -> None:
        async for item in client.iter_contacts():
            seen.append(item.id)

    async with http:
        with pytest.raises(UnexpectedResponseError, match="GET /contacts"):
            await read_all()
    assert len(wire.requests) <= 3
    assert seen[:2] == [uuid(1), uuid(2)]


class NewIdsForEver(Wire):
    """A contact list that answers `per_page` new contacts on every page, claiming more."""

    def __init__(self, per_page: int) -> None:
        super().__init__({})
        self.per_page = per_page
        self.next_id = 0

    def __call__(self, request: Any) -> Any:
        first = self.next_id
        self.next_id += self.per_page
        page = [contact(id=uuid(i)) for i in range(first, self.next_id)]
        self.replies = [{"object": "list", "has_more": True, "data": page}]
        return super().__call__(request)


@pytest.mark.parametrize(("per_page", "requests"), [(100, 3), (1, 3), (1000, 1)])
async def test_iterating_contacts_stops_past_the_clients_contact_bound(
    per_page: int, requests: int
) -> None:
    # 250 contacts: 3 pages of 100. One new id a page is stopped after as many pages; a
    # page far over the size asked for, by its contacts.
    wire = NewIdsForEver(per_page)
    http, client = client_for(wire)
    client.max_contacts = 250
    seen = 0

    async def read_all() -> None:
        nonlocal seen
        async for _ in client.iter_contacts():
            seen += 1

    async with http:
        with pytest.raises(ListTooLongError, match=r"GET /contacts.*past 250 contacts") as caught:
            await read_all()
    assert len(wire.requests) == requests
    assert seen <= 250
    assert caught.value.of == "contacts"


async def test_an_account_of_exactly_the_contact_bound_is_read_whole() -> None:
    pages = [
        {"object": "list", "has_more": True, "data": [contact(id=uuid(i)) for i in range(100)]},
        {
            "object": "list",
            "has_more": True,
            "data": [contact(id=uuid(i)) for i in range(100, 200)],
        },
        {
            "object": "list",
            "has_more": False,
            "data": [contact(id=uuid(i)) for i in range(200, 250)],
        },
    ]
    http, client = client_for(Wire(*pages))
    client.max_contacts = 250
    async with http:
        ids = [found.id async for found in client.iter_contacts()]
    assert ids == [uuid(i) for i in range(250)]


async def test_a_list_that_lists_an_earlier_page_again_stops_at_once() -> None:
    # Pages 1, 2, then 1 again: a circle of two pages, with a new cursor each time.
    first = [topic(1), topic(2)]
    second = [topic(3), topic(4)]
    wire = Wire(*({"object": "list", "has_more": True, "data": p} for p in (first, second, first)))
    http, client = client_for(wire)
    async with http:
        with pytest.raises(UnexpectedResponseError, match="same cursor came back"):
            await client.list_contact_topics(CONTACT_ID)
    assert len(wire.requests) == 3


async def test_a_page_listing_one_item_twice_is_refused() -> None:
    wire = Wire({"object": "list", "has_more": False, "data": [topic(1), topic(1)]})
    http, client = client_for(wire)
    async with http:
        with pytest.raises(UnexpectedResponseError, match="the same item twice"):
            await client.list_contact_topics(CONTACT_ID)


SEGMENT_ID = "78261eea-8f8b-4381-83c6-79fa7120f1cf"


@pytest.mark.parametrize(
    "answer",
    [
        {"id": SEGMENT_ID},  # docs
        {"object": "contact_segment", "contact_id": CONTACT_ID, "segment_id": SEGMENT_ID},  # OAS
    ],
)
async def test_each_known_answer_to_adding_a_contact_to_a_segment_is_a_write_done(
    answer: dict[str, Any],
) -> None:
    http, client = client_for(Wire(answer))
    async with http:
        await client.add_contact_to_segment(CONTACT_ID, SEGMENT_ID)


@pytest.mark.parametrize("answer", [{}, [], "ok", {"id": ""}, {"status": "queued"}, None])
async def test_a_write_answered_in_a_shape_resend_never_uses_is_not_done(answer: Any) -> None:
    removed = {"object": "contact_segment", "id": CONTACT_ID, "deleted": False}
    http, client = client_for(Wire(answer))
    async with http:
        for write in (
            client.add_contact_to_segment(CONTACT_ID, SEGMENT_ID),
            client.remove_contact_from_segment(CONTACT_ID, SEGMENT_ID),
            client.update_contact_topics(CONTACT_ID, {SEGMENT_ID: "opt_out"}),
        ):
            with pytest.raises(UnexpectedResponseError, match="naming no id") as caught:
                await write
            assert CONTACT_ID not in str(caught.value)  # the endpoint, never the data
    http, client = client_for(Wire(removed))
    async with http:
        with pytest.raises(UnexpectedResponseError):
            await client.remove_contact_from_segment(CONTACT_ID, SEGMENT_ID)
