"""Topics and contacts' topic subscriptions (shared/reference/resend-contacts-api.md §9, §12).

Choices the reference marks UNCONFIRMED, pinned here as the emulator's behaviour:
topic names are unique case-insensitively (422); deleting an unknown topic is 404; a
contact's topic list shows every topic, with the topic's default where the contact made no
choice; the contact-topics PATCH answers with the contact's id.
"""

from __future__ import annotations

import json
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
TOPIC_KEYS = ["id", "name", "description", "default_subscription", "visibility", "created_at"]
CONTACT_TOPIC_KEYS = ["id", "name", "description", "subscription"]
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
LIMIT_MESSAGE = (
    "The pagination limit must be a number between 1 and 100. "
    "See https://resend.com/docs/pagination for more information."
)


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator", headers=HEADERS
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app()) as client:
        yield client


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "contacts.db"


@pytest.fixture
async def file_client(db_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an emulator on a database file, so that tests can look at its rows."""
    app = create_app(EmulatorOptions(db_path=str(db_path)))
    async with client_for(app) as client:
        yield client
    app.state.store.close()


def subscription_rows(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path)) as db:
        count: int = db.execute("SELECT COUNT(*) FROM topic_subscriptions").fetchone()[0]
    return count


def with_id(value: Any, topic_id: str) -> Any:
    """`value` with every "NEWS_ID" in it replaced by `topic_id` (parameters predate topics)."""
    return json.loads(json.dumps(value).replace("NEWS_ID", topic_id))


def error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "name": name}


TOPIC_NOT_FOUND = error(404, "not_found", "Topic not found")


async def new_topic(
    client: httpx.AsyncClient, name: str = "News", default: str = "opt_in", **fields: Any
) -> str:
    response = await client.post(
        "/topics", json={"name": name, "default_subscription": default, **fields}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_contact(client: httpx.AsyncClient, email: str, **fields: Any) -> str:
    response = await client.post("/contacts", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def get_topic(client: httpx.AsyncClient, topic_id: str) -> dict[str, Any]:
    response = await client.get(f"/topics/{topic_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def topic_names(client: httpx.AsyncClient, query: str = "") -> tuple[list[str], bool]:
    response = await client.get(f"/topics{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["name"] for item in body["data"]], body["has_more"]


async def choices(client: httpx.AsyncClient, contact: str) -> dict[str, str]:
    """Topic name -> the subscription the contact's topic list shows."""
    response = await client.get(f"/contacts/{contact}/topics")
    assert response.status_code == 200, response.text
    return {item["name"]: item["subscription"] for item in response.json()["data"]}


# -- creating and reading topics ---------------------------------------------------------------


async def test_creating_a_topic_answers_201_with_a_uuid(client: httpx.AsyncClient) -> None:
    response = await client.post("/topics", json={"name": "News", "default_subscription": "opt_in"})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["object", "id"]
    assert body["object"] == "topic"
    assert UUID.fullmatch(body["id"])


async def test_a_topic_reads_back_with_every_field_and_private_by_default(
    client: httpx.AsyncClient,
) -> None:
    topic_id = await new_topic(client, "News", "opt_out")

    body = await get_topic(client, topic_id)

    assert list(body) == ["object", *TOPIC_KEYS]
    assert body["object"] == "topic"
    assert body["id"] == topic_id
    assert (body["name"], body["description"], body["default_subscription"]) == (
        "News",
        None,
        "opt_out",
    )
    assert body["visibility"] == "private"
    assert TIMESTAMP.fullmatch(body["created_at"])


async def test_a_topic_keeps_its_description_and_visibility(client: httpx.AsyncClient) -> None:
    topic_id = await new_topic(client, "News", description="Weekly news", visibility="public")

    body = await get_topic(client, topic_id)

    assert (body["description"], body["visibility"]) == ("Weekly news", "public")


async def test_a_null_description_and_visibility_count_as_absent(
    client: httpx.AsyncClient,
) -> None:
    topic_id = await new_topic(client, "News", description=None, visibility=None)

    body = await get_topic(client, topic_id)

    assert (body["description"], body["visibility"]) == (None, "private")


async def test_a_50_character_name_and_a_200_character_description_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    topic_id = await new_topic(client, "n" * 50, description="d" * 200)

    body = await get_topic(client, topic_id)

    assert (len(body["name"]), len(body["description"])) == (50, 200)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"default_subscription": "opt_in"}, "Missing `name` field."),
        ({"name": "", "default_subscription": "opt_in"}, "Missing `name` field."),
        ({}, "Missing `name` field."),
        ({"name": "News"}, "Missing `default_subscription` field."),
        ({"name": "News", "default_subscription": None}, "Missing `default_subscription` field."),
    ],
)
async def test_a_topic_without_name_or_default_subscription_is_a_missing_required_field_error(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/topics", json=body)

    assert response.status_code == 422
    assert response.json() == error(422, "missing_required_field", message)
    assert await topic_names(client) == ([], False)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "n" * 51}, "name"),
        ({"name": 5}, "name"),
        ({"default_subscription": "maybe"}, "default_subscription"),
        ({"default_subscription": True}, "default_subscription"),
        ({"description": "d" * 201}, "description"),
        ({"description": 5}, "description"),
        ({"visibility": "secret"}, "visibility"),
        ({"visibility": ["public"]}, "visibility"),
    ],
)
async def test_invalid_topic_fields_are_validation_errors_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient, fields: dict[str, Any], field: str
) -> None:
    body = {"name": "News", "default_subscription": "opt_in", **fields}

    response = await client.post("/topics", json=body)

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert f"`{field}`" in response.json()["message"]
    assert await topic_names(client) == ([], False)


async def test_a_duplicate_topic_name_in_any_case_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    # Assumption (unconfirmed upstream): Resend may well allow duplicate names.
    await new_topic(client, "News")

    response = await client.post(
        "/topics", json={"name": "NEWS", "default_subscription": "opt_out"}
    )

    assert response.status_code == 422
    assert response.json() == error(422, "validation_error", "A topic named `NEWS` already exists.")
    assert await topic_names(client) == (["News"], False)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("topic_id", [UNKNOWN_ID, "news"])
async def test_an_unknown_topic_is_404_topic_not_found(
    client: httpx.AsyncClient, method: str, topic_id: str
) -> None:
    # DELETE included: unlike segments, an unknown topic is not "deleted" (unconfirmed).
    response = await client.request(method, f"/topics/{topic_id}", json={"name": "x"})

    assert response.status_code == 404
    assert response.json() == TOPIC_NOT_FOUND


async def test_a_topic_is_found_by_its_id_in_any_case(client: httpx.AsyncClient) -> None:
    topic_id = await new_topic(client)

    assert (await get_topic(client, topic_id.upper()))["id"] == topic_id


# -- listing topics ----------------------------------------------------------------------------


async def test_the_topic_list_shows_every_field_but_object_newest_first(
    client: httpx.AsyncClient,
) -> None:
    old = await new_topic(client, "Old")
    new = await new_topic(client, "New", "opt_out", description="d", visibility="public")

    body = (await client.get("/topics")).json()

    assert list(body) == ["object", "has_more", "data"]
    assert (body["object"], body["has_more"]) == ("list", False)
    expected = [await get_topic(client, topic_id) for topic_id in (new, old)]
    assert body["data"] == [{key: item[key] for key in TOPIC_KEYS} for item in expected]
    assert all(list(item) == TOPIC_KEYS for item in body["data"])


async def test_the_topic_list_is_paginated_by_20_by_default(client: httpx.AsyncClient) -> None:
    for n in range(21):
        await new_topic(client, f"t{n}")

    default = await topic_names(client)
    everything = await topic_names(client, "?limit=100")

    assert default == ([f"t{n}" for n in range(20, 0, -1)], True)
    assert everything == ([f"t{n}" for n in range(20, -1, -1)], False)


async def test_the_topic_list_pages_with_after_and_before(client: httpx.AsyncClient) -> None:
    ids = [await new_topic(client, f"t{n}") for n in range(1, 6)]  # newest-first: t5..t1

    first = await topic_names(client, "?limit=2")
    second = await topic_names(client, f"?limit=2&after={ids[3]}")
    last = await topic_names(client, f"?limit=2&after={ids[1]}")
    previous = await topic_names(client, f"?limit=2&before={ids[0]}")

    assert first == (["t5", "t4"], True)
    assert second == (["t3", "t2"], True)
    assert last == (["t1"], False)
    assert previous == (["t3", "t2"], True)


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?limit=x", f"?after={UNKNOWN_ID}", f"?before={UNKNOWN_ID}"]
)
async def test_bad_topic_list_parameters_are_validation_errors(
    client: httpx.AsyncClient, query: str
) -> None:
    await new_topic(client)

    response = await client.get(f"/topics{query}")

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"


async def test_topic_list_cursors_cannot_be_combined(client: httpx.AsyncClient) -> None:
    first, second = await new_topic(client, "a"), await new_topic(client, "b")

    response = await client.get(f"/topics?after={first}&before={second}")

    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"


# -- updating and deleting topics --------------------------------------------------------------


async def test_updating_a_topic_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    topic_id = await new_topic(client, "News", "opt_out", description="Weekly")
    before = await get_topic(client, topic_id)

    renamed = await client.patch(f"/topics/{topic_id}", json={"name": "Digest"})
    after_rename = await get_topic(client, topic_id)
    published = await client.patch(
        f"/topics/{topic_id}", json={"visibility": "public", "description": None}
    )
    after_publish = await get_topic(client, topic_id)

    assert renamed.status_code == published.status_code == 200
    assert renamed.json() == published.json() == {"object": "topic", "id": topic_id}
    assert after_rename == {**before, "name": "Digest"}
    assert after_publish == {
        **before,
        "name": "Digest",
        "description": None,
        "visibility": "public",
    }


async def test_an_empty_update_changes_nothing(client: httpx.AsyncClient) -> None:
    topic_id = await new_topic(client, "News", description="Weekly")
    before = await get_topic(client, topic_id)

    response = await client.patch(f"/topics/{topic_id}", json={})

    assert response.json() == {"object": "topic", "id": topic_id}
    assert await get_topic(client, topic_id) == before


@pytest.mark.parametrize("value", ["opt_out", "opt_in"])
async def test_the_default_subscription_cannot_be_changed(
    client: httpx.AsyncClient, value: str
) -> None:
    # Refused even when it repeats the current value, and nothing else in the body is applied.
    topic_id = await new_topic(client, "News", "opt_in")

    response = await client.patch(
        f"/topics/{topic_id}", json={"name": "Digest", "default_subscription": value}
    )

    assert response.status_code == 422
    assert response.json() == error(
        422,
        "validation_error",
        "`default_subscription` cannot be changed after a topic is created.",
    )
    topic = await get_topic(client, topic_id)
    assert (topic["name"], topic["default_subscription"]) == ("News", "opt_in")


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"name": "n" * 51}, "validation_error"),
        ({"name": ""}, "missing_required_field"),
        ({"name": None}, "missing_required_field"),
        ({"description": "d" * 201}, "validation_error"),
        ({"description": []}, "validation_error"),
        ({"visibility": "secret"}, "validation_error"),
    ],
)
async def test_an_invalid_topic_update_changes_nothing(
    client: httpx.AsyncClient, fields: dict[str, Any], name: str
) -> None:
    topic_id = await new_topic(client, "News", description="Weekly")
    before = await get_topic(client, topic_id)

    response = await client.patch(f"/topics/{topic_id}", json={"visibility": "public", **fields})

    assert response.status_code == 422
    assert response.json()["name"] == name
    assert await get_topic(client, topic_id) == before


async def test_renaming_onto_another_topics_name_is_refused_but_recasing_its_own_is_not(
    client: httpx.AsyncClient,
) -> None:
    await new_topic(client, "News")
    topic_id = await new_topic(client, "Digest")

    taken = await client.patch(f"/topics/{topic_id}", json={"name": "news"})
    recased = await client.patch(f"/topics/{topic_id}", json={"name": "DIGEST"})

    assert taken.status_code == 422
    assert taken.json() == error(422, "validation_error", "A topic named `news` already exists.")
    assert recased.status_code == 200
    assert await topic_names(client) == (["DIGEST", "News"], False)


async def test_deleting_a_topic_answers_deleted_and_removes_it(client: httpx.AsyncClient) -> None:
    topic_id = await new_topic(client)

    response = await client.delete(f"/topics/{topic_id}")

    assert response.status_code == 200
    assert response.json() == {"object": "topic", "id": topic_id, "deleted": True}
    assert (await client.get(f"/topics/{topic_id}")).json() == TOPIC_NOT_FOUND
    assert await topic_names(client) == ([], False)


async def test_deleting_a_topic_removes_every_contacts_subscription_to_it(
    file_client: httpx.AsyncClient, db_path: Path
) -> None:
    kept = await new_topic(file_client, "Kept")
    doomed = await new_topic(file_client, "Doomed")
    topics = [{"id": kept, "subscription": "opt_out"}, {"id": doomed, "subscription": "opt_out"}]
    for email in ("ada@example.com", "eve@example.com"):
        await new_contact(file_client, email, topics=topics)
    assert subscription_rows(db_path) == 4

    await file_client.delete(f"/topics/{doomed}")

    assert subscription_rows(db_path) == 2
    assert await choices(file_client, "ada@example.com") == {"Kept": "opt_out"}


# -- a contact's topics ------------------------------------------------------------------------


async def test_a_contact_lists_every_topic_with_its_choice_or_the_default_newest_first(
    client: httpx.AsyncClient,
) -> None:
    # Assumption (unconfirmed upstream): topics without an explicit choice are listed too.
    weekly = await new_topic(client, "Weekly", "opt_in", description="Every week")
    await new_topic(client, "Offers", "opt_out")
    await new_topic(client, "Product", "opt_in")
    contact_id = await new_contact(
        client, "ada@example.com", topics=[{"id": weekly, "subscription": "opt_out"}]
    )

    response = await client.get(f"/contacts/{contact_id}/topics")

    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["object", "has_more", "data"]
    assert (body["object"], body["has_more"]) == ("list", False)
    assert all(list(item) == CONTACT_TOPIC_KEYS for item in body["data"])
    assert [(item["name"], item["subscription"]) for item in body["data"]] == [
        ("Product", "opt_in"),
        ("Offers", "opt_out"),
        ("Weekly", "opt_out"),
    ]
    assert body["data"][2] == {
        "id": weekly,
        "name": "Weekly",
        "description": "Every week",
        "subscription": "opt_out",
    }


async def test_a_contact_without_topics_to_choose_from_lists_none(
    client: httpx.AsyncClient,
) -> None:
    await new_contact(client, "ada@example.com")

    response = await client.get("/contacts/ada@example.com/topics")

    assert response.json() == {"object": "list", "has_more": False, "data": []}


async def test_a_contacts_topics_page_optionally(client: httpx.AsyncClient) -> None:
    ids = [await new_topic(client, f"t{n}") for n in range(1, 4)]  # newest-first: t3..t1
    await new_contact(client, "ada@example.com")

    def names(response: httpx.Response) -> tuple[list[str], bool]:
        body = response.json()
        return [item["name"] for item in body["data"]], body["has_more"]

    first = await client.get("/contacts/ada@example.com/topics?limit=2")
    rest = await client.get(f"/contacts/ada@example.com/topics?limit=2&after={ids[1]}")
    newer = await client.get(f"/contacts/ada@example.com/topics?before={ids[0]}")
    too_big = await client.get("/contacts/ada@example.com/topics?limit=101")
    unknown = await client.get(f"/contacts/ada@example.com/topics?after={UNKNOWN_ID}")

    assert names(first) == (["t3", "t2"], True)
    assert names(rest) == (["t1"], False)
    assert names(newer) == (["t3", "t2"], False)
    assert too_big.json() == error(422, "validation_error", LIMIT_MESSAGE)
    assert unknown.status_code == 422


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("ref", [UNKNOWN_ID, "nobody@example.com", "not-a-contact"])
async def test_the_topics_of_an_unknown_contact_are_404_contact_not_found(
    client: httpx.AsyncClient, method: str, ref: str
) -> None:
    response = await client.request(method, f"/contacts/{ref}/topics", json=[])

    assert response.status_code == 404
    assert response.json() == error(404, "not_found", "Contact not found")


@pytest.mark.parametrize("wrap", [False, True])
async def test_a_contacts_topics_update_from_a_bare_array_or_a_topics_object(
    client: httpx.AsyncClient, wrap: bool
) -> None:
    news = await new_topic(client, "News", "opt_in")
    offers = await new_topic(client, "Offers", "opt_out")
    contact_id = await new_contact(client, "a+b@example.com")
    topics = [{"id": news, "subscription": "opt_out"}, {"id": offers, "subscription": "opt_in"}]

    response = await client.patch(
        "/contacts/a%2Bb%40example.com/topics", json={"topics": topics} if wrap else topics
    )

    assert response.status_code == 200
    assert response.json() == {"object": "contact_topics", "id": contact_id}
    assert await choices(client, contact_id) == {"News": "opt_out", "Offers": "opt_in"}


async def test_a_topics_update_leaves_unlisted_topics_and_other_contacts_alone(
    client: httpx.AsyncClient,
) -> None:
    news = await new_topic(client, "News", "opt_in")
    offers = await new_topic(client, "Offers", "opt_out")
    await new_contact(client, "ada@example.com", topics=[{"id": news, "subscription": "opt_out"}])
    await new_contact(client, "eve@example.com")

    await client.patch(
        "/contacts/ada@example.com/topics", json=[{"id": offers, "subscription": "opt_in"}]
    )
    await client.patch(
        "/contacts/ada@example.com/topics",
        json=[{"id": offers.upper(), "subscription": "opt_out"}],
    )

    assert await choices(client, "ada@example.com") == {"News": "opt_out", "Offers": "opt_out"}
    assert await choices(client, "eve@example.com") == {"News": "opt_in", "Offers": "opt_out"}


async def test_an_empty_topics_update_is_accepted_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await new_topic(client, "News", "opt_in")
    contact_id = await new_contact(client, "ada@example.com")

    response = await client.patch(f"/contacts/{contact_id}/topics", json=[])

    assert response.json() == {"object": "contact_topics", "id": contact_id}
    assert await choices(client, contact_id) == {"News": "opt_in"}


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({}, "missing_required_field"),
        ({"topics": None}, "missing_required_field"),
        ({"topics": "News"}, "validation_error"),
        ("News", "validation_error"),
        (["NEWS_ID"], "validation_error"),
        ([{"subscription": "opt_in"}], "validation_error"),
        ([{"id": 5, "subscription": "opt_in"}], "validation_error"),
        ([{"id": "NEWS_ID"}], "validation_error"),
        ([{"id": "NEWS_ID", "subscription": "unsubscribed"}], "validation_error"),
    ],
)
async def test_a_malformed_topics_update_is_a_422_and_writes_nothing(
    client: httpx.AsyncClient, body: Any, name: str
) -> None:
    news = await new_topic(client, "News", "opt_in")
    await new_contact(client, "ada@example.com")
    if isinstance(body, list):
        # Every malformed entry follows a valid one, to show that nothing is applied.
        body = [{"id": news, "subscription": "opt_out"}, *with_id(body, news)]

    response = await client.patch("/contacts/ada@example.com/topics", json=body)

    assert response.status_code == 422
    assert response.json()["name"] == name
    if name == "missing_required_field":
        assert response.json()["message"] == "Missing `topics` field."
    assert await choices(client, "ada@example.com") == {"News": "opt_in"}


async def test_a_topics_update_naming_an_unknown_topic_is_404_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    news = await new_topic(client, "News", "opt_in")
    await new_contact(client, "ada@example.com")

    response = await client.patch(
        "/contacts/ada@example.com/topics",
        json=[
            {"id": news, "subscription": "opt_out"},
            {"id": UNKNOWN_ID, "subscription": "opt_in"},
        ],
    )

    assert response.status_code == 404
    assert response.json() == TOPIC_NOT_FOUND
    assert await choices(client, "ada@example.com") == {"News": "opt_in"}


# -- topics on contact create and delete -------------------------------------------------------


async def test_a_contact_created_with_topics_has_those_subscriptions(
    client: httpx.AsyncClient,
) -> None:
    news = await new_topic(client, "News", "opt_in")
    offers = await new_topic(client, "Offers", "opt_out")
    await new_topic(client, "Product", "opt_in")

    contact_id = await new_contact(
        client,
        "ada@example.com",
        topics=[{"id": news, "subscription": "opt_out"}, {"id": offers, "subscription": "opt_in"}],
    )

    assert await choices(client, contact_id) == {
        "News": "opt_out",
        "Offers": "opt_in",
        "Product": "opt_in",
    }


@pytest.mark.parametrize(
    ("entry", "status"),
    [
        ({"id": UNKNOWN_ID, "subscription": "opt_in"}, 404),
        ({"id": "news", "subscription": "opt_in"}, 404),
        ({"id": "NEWS_ID", "subscription": "maybe"}, 422),
        ({"id": "NEWS_ID"}, 422),
    ],
)
async def test_a_contact_created_with_a_bad_topic_is_not_written(
    client: httpx.AsyncClient, entry: dict[str, Any], status: int
) -> None:
    news = await new_topic(client, "News")
    topics = [{"id": news, "subscription": "opt_out"}, with_id(entry, news)]

    response = await client.post("/contacts", json={"email": "ada@example.com", "topics": topics})

    assert response.status_code == status
    if status == 404:
        assert response.json() == TOPIC_NOT_FOUND
    else:
        assert response.json()["name"] == "validation_error"
    assert (await client.get("/contacts")).json()["data"] == []


async def test_a_duplicate_contact_create_leaves_its_subscriptions_unchanged(
    client: httpx.AsyncClient,
) -> None:
    news = await new_topic(client, "News", "opt_in")
    original = await new_contact(client, "ada@example.com")

    response = await client.post(
        "/contacts",
        json={"email": "ada@example.com", "topics": [{"id": news, "subscription": "opt_out"}]},
    )

    assert response.status_code == 201
    assert response.json() == {"object": "contact", "id": original}
    assert await choices(client, original) == {"News": "opt_in"}


async def test_deleting_a_contact_removes_its_subscriptions(
    file_client: httpx.AsyncClient, db_path: Path
) -> None:
    news = await new_topic(file_client, "News", "opt_in")
    topics = [{"id": news, "subscription": "opt_out"}]
    await new_contact(file_client, "ada@example.com", topics=topics)
    await new_contact(file_client, "eve@example.com", topics=topics)

    response = await file_client.delete("/contacts/ada@example.com")
    await new_contact(file_client, "ada@example.com")

    assert response.status_code == 200
    assert subscription_rows(db_path) == 1
    assert await choices(file_client, "ada@example.com") == {"News": "opt_in"}
    assert await choices(file_client, "eve@example.com") == {"News": "opt_out"}


async def test_deleting_a_segment_or_property_keeps_a_contacts_subscriptions(
    client: httpx.AsyncClient,
) -> None:
    news = await new_topic(client, "News", "opt_in")
    segment_id = (await client.post("/segments", json={"name": "VIP"})).json()["id"]
    property_id = (
        await client.post("/contact-properties", json={"key": "plan", "type": "string"})
    ).json()["id"]
    contact_id = await new_contact(
        client,
        "ada@example.com",
        segments=[{"id": segment_id}],
        properties={"plan": "pro"},
        topics=[{"id": news, "subscription": "opt_out"}],
    )

    deleted = [
        await client.delete(f"/segments/{segment_id}"),
        await client.delete(f"/contact-properties/{property_id}"),
    ]

    assert [r.status_code for r in deleted] == [200, 200]
    assert await choices(client, contact_id) == {"News": "opt_out"}
    assert (await client.get(f"/contacts/{contact_id}")).json()["properties"] == {}


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/topics", "GET, HEAD, POST"),
        (f"/topics/{UNKNOWN_ID}", "DELETE, GET, HEAD, PATCH"),
        ("/contacts/ada@example.com/topics", "GET, HEAD, PATCH"),
    ],
)
async def test_a_wrong_method_on_a_topic_path_is_405_naming_the_allowed_ones(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    response = await client.put(path)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
