"""Resend's official Python SDK works against the emulator unchanged, over real HTTP.

The SDK is synchronous (it uses `requests`), so these tests are plain functions; the
emulator runs under uvicorn in its own thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import resend
from resend.exceptions import (
    MissingRequiredFieldsError,
    RateLimitError,
    ResendError,
    ValidationError,
)
from starlette.applications import Starlette

from contacts_mcp.emulator import EmulatorOptions, create_app

Serve = Callable[[Starlette], str]
IMPORT_WAIT = 10.0  # seconds


@contextmanager
def point_sdk_at(base_url: str) -> Iterator[None]:
    """Aim the SDK's module-level settings at the emulator, and restore them afterwards."""
    saved = resend.api_key, resend.api_url
    resend.api_key, resend.api_url = "re_test_sdk", base_url
    try:
        yield
    finally:
        resend.api_key, resend.api_url = saved


@pytest.fixture
def emulator(serve: Serve) -> Iterator[None]:
    with point_sdk_at(serve(create_app())):
        yield


@pytest.mark.usefixtures("emulator")
def test_contacts_can_be_created_read_updated_and_removed_by_id_or_email() -> None:
    created = resend.Contacts.create({"email": "a+b@example.com", "first_name": "Ada"})
    contact_id = created["id"]

    by_id = resend.Contacts.get(id=contact_id)
    by_email = resend.Contacts.get(email="a+b@example.com")
    resend.Contacts.update({"id": contact_id, "last_name": "Lovelace"})
    resend.Contacts.update({"email": "a+b@example.com", "unsubscribed": True})
    updated = resend.Contacts.get(id=contact_id)

    assert created["object"] == "contact"
    assert by_id["email"] == by_email["email"] == "a+b@example.com"
    assert by_id["id"] == by_email["id"] == contact_id
    assert (updated["first_name"], updated["last_name"]) == ("Ada", "Lovelace")
    assert updated["unsubscribed"] is True

    other_id = resend.Contacts.create({"email": "eve@example.com"})["id"]
    removed_by_id = resend.Contacts.remove(id=contact_id)
    removed_by_email = resend.Contacts.remove(email="eve@example.com")

    assert removed_by_id["contact"] == contact_id
    assert removed_by_email["contact"] == other_id
    assert removed_by_email["deleted"] is True
    assert resend.Contacts.list()["data"] == []


@pytest.mark.usefixtures("emulator")
def test_contacts_can_be_listed_whole_by_page_and_by_segment() -> None:
    segment_id = resend.Segments.create({"name": "VIP"})["id"]
    for n in range(3):
        params: resend.Contacts.CreateParams = {"email": f"c{n}@example.com"}
        if n != 1:
            params["segments"] = [{"id": segment_id}]
        resend.Contacts.create(params)

    everything = resend.Contacts.list()
    first = resend.Contacts.list(params={"limit": 2})
    rest = resend.Contacts.list(params={"limit": 2, "after": first["data"][-1]["id"]})
    members = resend.Contacts.list(segment_id=segment_id)

    assert [c["email"] for c in everything["data"]] == [
        "c2@example.com",
        "c1@example.com",
        "c0@example.com",
    ]
    assert (len(first["data"]), first["has_more"]) == (2, True)
    assert ([c["email"] for c in rest["data"]], rest["has_more"]) == (["c0@example.com"], False)
    assert [c["email"] for c in members["data"]] == ["c2@example.com", "c0@example.com"]


@pytest.mark.usefixtures("emulator")
def test_segments_can_be_created_read_renamed_listed_and_removed() -> None:
    created = resend.Segments.create({"name": "VIP"})
    resend.Segments.update(created["id"], {"name": "Gold"})
    fetched = resend.Segments.get(created["id"])
    listed = resend.Segments.list()
    removed = resend.Segments.remove(created["id"])

    assert (created["object"], created["name"]) == ("segment", "VIP")
    assert (fetched["id"], fetched["name"]) == (created["id"], "Gold")
    assert [s["id"] for s in listed["data"]] == [created["id"]]
    assert (removed["id"], removed["deleted"]) == (created["id"], True)
    assert resend.Segments.list()["data"] == []


@pytest.mark.usefixtures("emulator")
def test_contact_segment_membership_works_by_id_and_by_email() -> None:
    segment_id = resend.Segments.create({"name": "VIP"})["id"]
    contact_id = resend.Contacts.create({"email": "ada@example.com"})["id"]

    added = resend.Contacts.Segments.add({"segment_id": segment_id, "contact_id": contact_id})
    by_email = resend.Contacts.Segments.list({"email": "ada@example.com"})
    removed = resend.Contacts.Segments.remove(
        {"segment_id": segment_id, "email": "ada@example.com"}
    )
    by_id = resend.Contacts.Segments.list({"contact_id": contact_id})

    assert added["id"] == segment_id
    assert [(s["id"], s["name"]) for s in by_email["data"]] == [(segment_id, "VIP")]
    assert (removed["id"], removed["deleted"]) == (contact_id, True)
    assert by_id["data"] == []


@pytest.mark.usefixtures("emulator")
def test_contact_properties_can_be_managed_and_used_on_contacts() -> None:
    created = resend.ContactProperties.create(
        {"key": "seats", "type": "number", "fallback_value": 1}
    )
    resend.ContactProperties.update({"id": created["id"], "fallback_value": 5})
    fetched = resend.ContactProperties.get(created["id"])
    listed = resend.ContactProperties.list()
    contact_id = resend.Contacts.create({"email": "ada@example.com", "properties": {"seats": 3}})[
        "id"
    ]
    with_value = resend.Contacts.get(id=contact_id)
    removed = resend.ContactProperties.remove(created["id"])
    without_value = resend.Contacts.get(id=contact_id)

    assert created["object"] == "contact_property"
    assert (fetched["key"], fetched["type"], fetched["fallback_value"]) == ("seats", "number", 5)
    assert [p["id"] for p in listed["data"]] == [created["id"]]
    assert with_value.get("properties") == {"seats": {"type": "number", "value": 3}}
    assert (removed["id"], removed["deleted"]) == (created["id"], True)
    assert without_value.get("properties") == {}


@pytest.mark.usefixtures("emulator")
def test_topics_can_be_created_read_updated_listed_and_removed() -> None:
    created = resend.Topics.create(
        {"name": "News", "default_subscription": "opt_out", "description": "Weekly"}
    )
    resend.Topics.create({"name": "Offers", "default_subscription": "opt_in"})
    updated = resend.Topics.update(created["id"], {"name": "Digest", "description": "Monthly"})
    fetched = resend.Topics.get(created["id"])
    listed = resend.Topics.list()
    first = resend.Topics.list({"limit": 1})
    rest = resend.Topics.list({"limit": 1, "after": first["data"][0]["id"]})
    removed = resend.Topics.remove(created["id"])

    assert dict(created)["object"] == "topic"  # on the wire, though not in the SDK's type
    assert updated["id"] == created["id"]
    assert (fetched["name"], fetched["description"], fetched["default_subscription"]) == (
        "Digest",
        "Monthly",
        "opt_out",
    )
    assert [t["name"] for t in listed["data"]] == ["Offers", "Digest"]
    assert ([t["name"] for t in first["data"]], first["has_more"]) == (["Offers"], True)
    assert ([t["name"] for t in rest["data"]], rest["has_more"]) == (["Digest"], False)
    assert (removed["object"], removed["id"], removed["deleted"]) == ("topic", created["id"], True)
    with pytest.raises(ResendError) as gone:
        resend.Topics.get(created["id"])
    assert (gone.value.code, gone.value.message) == (404, "Topic not found")


@pytest.mark.usefixtures("emulator")
def test_contact_topic_subscriptions_can_be_set_at_creation_listed_and_updated() -> None:
    news = resend.Topics.create({"name": "News", "default_subscription": "opt_in"})["id"]
    offers = resend.Topics.create({"name": "Offers", "default_subscription": "opt_out"})["id"]
    contact_id = resend.Contacts.create(
        {"email": "a+b@example.com", "topics": [{"id": news, "subscription": "opt_out"}]}
    )["id"]

    at_creation = resend.Contacts.Topics.list(email="a+b@example.com")
    updated = resend.Contacts.Topics.update(
        {"email": "a+b@example.com", "topics": [{"id": offers, "subscription": "opt_in"}]}
    )
    by_id = resend.Contacts.Topics.list(contact_id=contact_id)
    first = resend.Contacts.Topics.list(contact_id=contact_id, params={"limit": 1})
    resend.Contacts.Topics.update(
        {"id": contact_id, "topics": [{"id": news, "subscription": "opt_in"}]}
    )
    again = resend.Contacts.Topics.list(contact_id=contact_id)

    def choices(listed: resend.ContactsTopics.ListResponse) -> list[tuple[str, str]]:
        return [(t["name"], t["subscription"]) for t in listed["data"]]

    assert choices(at_creation) == [("Offers", "opt_out"), ("News", "opt_out")]
    assert updated["id"] == contact_id
    assert choices(by_id) == [("Offers", "opt_in"), ("News", "opt_out")]
    assert (choices(first), first["has_more"]) == ([("Offers", "opt_in")], True)
    assert choices(again) == [("Offers", "opt_in"), ("News", "opt_in")]


@pytest.mark.usefixtures("emulator")
def test_api_errors_raise_the_sdk_error_classes() -> None:
    with pytest.raises(ResendError) as not_found:
        resend.Contacts.get(email="nobody@example.com")
    with pytest.raises(ValidationError) as invalid:
        resend.Contacts.create({"email": "not-an-email"})
    with pytest.raises(MissingRequiredFieldsError) as missing:
        resend.Segments.create({"name": ""})

    assert (not_found.value.code, not_found.value.error_type) == (404, "not_found")
    assert not_found.value.message == "Contact not found"
    assert (invalid.value.code, invalid.value.error_type) == (422, "validation_error")
    assert (missing.value.code, missing.value.message) == (422, "Missing `name` field.")


def finished_import(import_id: str) -> resend.ContactImport:
    """Poll `Contacts.Imports.get` until the import is completed or failed (bounded)."""
    deadline = time.monotonic() + IMPORT_WAIT
    while True:
        job = resend.Contacts.Imports.get(import_id)
        if job["status"] in ("completed", "failed"):
            return job
        assert time.monotonic() < deadline, f"import still {job['status']}"
        time.sleep(0.01)  # bounded poll: the SDK is synchronous


@pytest.mark.usefixtures("emulator")
def test_contact_imports_can_be_created_from_a_csv_polled_and_listed() -> None:
    segment_id = resend.Segments.create({"name": "VIP"})["id"]
    topic_id = resend.Topics.create({"name": "News", "default_subscription": "opt_in"})["id"]
    resend.ContactProperties.create({"key": "plan", "type": "string"})
    resend.Contacts.create({"email": "ada@example.com", "first_name": "Ada"})
    csv = b"Email,Given,Plan\nADA@example.com,Augusta,pro\ngrace@example.com,Grace,\nbad,,\n"

    created = resend.Contacts.Imports.create(
        {
            "file": csv,
            "filename": "people.csv",
            "column_map": {
                "email": "Email",
                "first_name": "Given",
                "properties": {"plan": {"column": "Plan", "type": "string"}},
            },
            "on_conflict": "upsert",
            "segments": [{"id": segment_id}],
            "topics": [{"id": topic_id, "subscription": "opt_out"}],
        }
    )
    done = finished_import(created["id"])
    skipped = finished_import(
        resend.Contacts.Imports.create(
            {"file": b"email\ngrace@example.com\n", "on_conflict": "skip"}
        )["id"]
    )
    listed = resend.Contacts.Imports.list()
    first = resend.Contacts.Imports.list({"limit": 1, "status": "completed"})
    ada = resend.Contacts.get(email="ada@example.com")

    assert (created["object"], done["id"]) == ("contact_import", created["id"])
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    assert dict(done["counts"]) == {
        "total": 3,
        "created": 1,
        "updated": 1,
        "skipped": 0,
        "failed": 1,
    }
    assert skipped["counts"]["skipped"] == 1
    assert [job["id"] for job in listed["data"]] == [skipped["id"], created["id"]]
    assert ([job["id"] for job in first["data"]], first["has_more"]) == ([skipped["id"]], True)
    assert ada["first_name"] == "Augusta"
    assert ada.get("properties") == {"plan": {"type": "string", "value": "pro"}}
    members = resend.Contacts.list(segment_id=segment_id)["data"]
    assert sorted(c["email"] for c in members) == ["ada@example.com", "grace@example.com"]
    with pytest.raises(ResendError) as unknown:
        resend.Contacts.Imports.get("00000000-0000-0000-0000-000000000000")
    assert (unknown.value.code, unknown.value.message) == (404, "Contact import not found")


def test_rate_limiting_raises_the_sdk_rate_limit_error_with_headers(serve: Serve) -> None:
    app = create_app(EmulatorOptions(rate_limit=10, fault_429=1.0))

    with point_sdk_at(serve(app)):
        with pytest.raises(RateLimitError) as limited:
            resend.Contacts.list()

        assert limited.value.code == 429
        assert limited.value.headers["retry-after"] == "1"
        assert limited.value.headers["ratelimit-limit"] == "10"
