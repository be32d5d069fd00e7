"""Resend's contact webhook payloads, parsed into `ContactEvent`s (shapes from
resend.com/docs/webhooks/contacts/created and the SDKs' `ContactEventData`)."""

import re
from typing import Any

import pytest

from contacts_mcp.services.webhook_events import ContactEvent, parse_contact_event

DOCUMENTED: dict[str, Any] = {
    "type": "contact.created",
    "created_at": "2024-11-17T19:32:22.980Z",
    "data": {
        "id": "e169aa45-1ecf-4183-9955-b1499d5701d3",
        "audience_id": "78261eea-8f8b-4381-83c6-79fa7120f1cf",
        "segment_ids": ["78261eea-8f8b-4381-83c6-79fa7120f1cf"],
        "created_at": "2024-11-17T19:32:22.980Z",
        "updated_at": "2024-11-17T19:32:22.980Z",
        "email": "steve.wozniak@gmail.com",
        "first_name": "Steve",
        "last_name": "Wozniak",
        "unsubscribed": False,
    },
}


def parse(payload: Any) -> ContactEvent | None:
    return parse_contact_event(payload, event_id="msg_1", received_at=1700000000.0)


def with_data(**changes: Any) -> dict[str, Any]:
    data = {**DOCUMENTED["data"], **changes}
    return {**DOCUMENTED, "data": {k: v for k, v in data.items() if v is not ...}}


def test_the_documented_payload_becomes_a_contact_event() -> None:
    assert parse(DOCUMENTED) == ContactEvent(
        type="contact.created",
        id="e169aa45-1ecf-4183-9955-b1499d5701d3",
        email="steve.wozniak@gmail.com",
        first_name="Steve",
        last_name="Wozniak",
        unsubscribed=False,
        created_at="2024-11-17T19:32:22.980Z",
        updated_at="2024-11-17T19:32:22.980Z",
        event_id="msg_1",
        received_at=1700000000.0,
        segment_ids=("78261eea-8f8b-4381-83c6-79fa7120f1cf",),
    )


@pytest.mark.parametrize("kind", ["contact.updated", "contact.deleted"])
def test_updates_and_deletes_carry_the_same_data(kind: str) -> None:
    event = parse({**DOCUMENTED, "type": kind})
    assert event is not None
    assert (event.type, event.id, event.unsubscribed) == (kind, DOCUMENTED["data"]["id"], False)


def test_missing_or_null_names_are_empty_and_older_payloads_have_no_segments() -> None:
    event = parse(with_data(first_name=None, last_name=..., segment_ids=..., updated_at=None))
    assert event is not None
    assert (event.first_name, event.last_name) == ("", "")
    assert event.segment_ids is None
    assert event.updated_at is None


@pytest.mark.parametrize("kind", ["email.delivered", "contact.topics.updated", "domain.created"])
def test_other_event_types_are_not_contact_events(kind: str) -> None:
    assert parse({"type": kind, "created_at": "2024-11-17T19:32:22.980Z", "data": {}}) is None


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([], "not a JSON object"),
        ({"data": {}}, "`type`"),
        ({"type": "contact.updated"}, "`data`"),
        (with_data(id=...), "`data.id`"),
        (with_data(id=""), "`data.id`"),
        (with_data(email="nobody"), "`data.email`"),
        (with_data(email=42), "`data.email`"),
        (with_data(unsubscribed="false"), "`data.unsubscribed`"),
        (with_data(unsubscribed=...), "`data.unsubscribed`"),
        (with_data(first_name=["Steve"]), "`data.first_name`"),
        (with_data(created_at=...), "`data.created_at`"),
        (with_data(segment_ids="78261eea"), "`data.segment_ids`"),
        (with_data(segment_ids=[1]), "`data.segment_ids`"),
        (with_data(id="x" * 500), "longer than"),
    ],
)
def test_a_malformed_contact_event_is_an_error_that_says_what_is_wrong(
    payload: Any, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse(payload)
