"""Suppressions (a Resend private beta), through `ResendClient` where it has the method.

Choices the docs leave open, pinned here as the emulator's behaviour: addresses are
trimmed and lower-cased; adding one again answers the same id; one invalid address fails
a whole batch; deleting names a suppression by id or email.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.errors import InvalidRequestError, NotFoundError
from contacts_mcp.api.pacing import RatePacer
from contacts_mcp.emulator import EmulatorOptions, create_app

pytestmark = pytest.mark.anyio

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00")
SUPPRESSION_KEYS = ["object", "id", "email", "origin", "source_id", "created_at"]


@dataclass
class Emulator:
    """The client under test, and the same HTTP client for endpoints it has no method for."""

    client: ResendClient
    http: httpx.AsyncClient


@asynccontextmanager
async def open_emulator(app: Starlette) -> AsyncIterator[Emulator]:
    http = build_http_client(base_url="http://emulator", transport=httpx.ASGITransport(app=app))
    async with http:
        yield Emulator(ResendClient(http, api_key="re_test", pacer=RatePacer()), http)
    app.state.store.close()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # A stated limit far above what the tests send, so that the pacer never waits.
    async with open_emulator(create_app(EmulatorOptions(stated_rate_limit=1000))) as opened:
        yield opened


async def call(emulator: Emulator, method: str, path: str, **request: Any) -> httpx.Response:
    return await emulator.http.request(
        method, path, headers={"Authorization": "Bearer re_test"}, **request
    )


async def listed(emulator: Emulator, **params: Any) -> dict[str, Any]:
    response = await call(emulator, "GET", "/suppressions", params=params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_an_address_is_suppressed_once_whatever_its_case(emulator: Emulator) -> None:
    first = await emulator.client.add_suppression("Ada@Example.com")
    assert first.object == "suppression"
    assert UUID.fullmatch(first.id)
    again = await emulator.client.add_suppression("ada@example.com")
    padded = await emulator.client.add_suppression(" ADA@EXAMPLE.COM ")
    assert again.id == padded.id == first.id
    assert [item["email"] for item in (await listed(emulator))["data"]] == ["ada@example.com"]


async def test_an_invalid_address_is_a_validation_error(emulator: Emulator) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await emulator.client.add_suppression("not-an-address")
    assert caught.value.status_code == 422
    assert caught.value.name == "validation_error"
    assert (await listed(emulator))["data"] == []


async def test_a_missing_address_is_a_missing_field(emulator: Emulator) -> None:
    response = await call(emulator, "POST", "/suppressions", json={})
    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": "Missing `email` field.",
        "name": "missing_required_field",
    }


async def test_a_batch_answers_an_id_per_address_in_order(emulator: Emulator) -> None:
    existing = await emulator.client.add_suppression("grace@example.com")
    response = await call(
        emulator,
        "POST",
        "/suppressions/batch/add",
        json={"emails": ["alan@example.com", "GRACE@example.com", "alan@example.com"]},
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["object"] for item in data] == ["suppression"] * 3
    assert data[1]["id"] == existing.id
    assert data[0]["id"] == data[2]["id"] != existing.id
    emails = sorted(item["email"] for item in (await listed(emulator))["data"])
    assert emails == ["alan@example.com", "grace@example.com"]


@pytest.mark.parametrize(
    "emails",
    [[], [f"p{n}@example.com" for n in range(101)], "a@example.com", ["a@example.com", 7]],
    ids=["empty", "101", "not a list", "not strings"],
)
async def test_a_batch_of_the_wrong_shape_adds_nothing(emulator: Emulator, emails: Any) -> None:
    response = await call(emulator, "POST", "/suppressions/batch/add", json={"emails": emails})
    assert response.status_code == 422
    assert response.json()["name"] == "validation_error"
    assert (await listed(emulator))["data"] == []


async def test_one_invalid_address_fails_the_whole_batch(emulator: Emulator) -> None:
    response = await call(
        emulator,
        "POST",
        "/suppressions/batch/add",
        json={"emails": ["ok@example.com", "nope"]},
    )
    assert response.status_code == 422
    assert "`emails[1]`" in response.json()["message"]
    assert (await listed(emulator))["data"] == []


async def test_the_list_is_paginated_newest_first(emulator: Emulator) -> None:
    ids = [(await emulator.client.add_suppression(f"p{n}@example.com")).id for n in range(3)]
    first = await listed(emulator, limit=2)
    assert first["object"] == "list"
    assert first["has_more"] is True
    assert [item["id"] for item in first["data"]] == ids[:0:-1]
    item = first["data"][0]
    assert list(item) == SUPPRESSION_KEYS
    assert item["object"] == "suppression"
    assert item["email"] == "p2@example.com"
    assert item["origin"] == "manual"
    assert item["source_id"] is None
    assert TIMESTAMP.fullmatch(item["created_at"])
    rest = await listed(emulator, limit=2, after=ids[1])
    assert rest["has_more"] is False
    assert [item["id"] for item in rest["data"]] == ids[:1]


async def test_a_suppression_is_read_and_deleted_by_id_or_email(emulator: Emulator) -> None:
    ada = await emulator.client.add_suppression("ada@example.com")
    grace = await emulator.client.add_suppression("grace@example.com")
    found = await call(emulator, "GET", "/suppressions/ADA%40example.com")
    assert found.json()["id"] == ada.id

    by_email = await call(emulator, "DELETE", "/suppressions/Ada%40Example.com")
    by_id = await call(emulator, "DELETE", f"/suppressions/{grace.id}")
    assert by_email.json() == {"object": "suppression", "id": ada.id, "deleted": True}
    assert by_id.json() == {"object": "suppression", "id": grace.id, "deleted": True}
    assert (await listed(emulator))["data"] == []
    gone = await call(emulator, "DELETE", "/suppressions/ada%40example.com")
    assert gone.status_code == 404
    assert gone.json()["message"] == "Suppression not found"
    # Suppressed again after a delete, it is a new suppression.
    assert (await emulator.client.add_suppression("ada@example.com")).id != ada.id


async def test_a_team_without_the_beta_gets_404s() -> None:
    app = create_app(EmulatorOptions(stated_rate_limit=1000, suppressions_api=False))
    async with open_emulator(app) as emulator:
        with pytest.raises(NotFoundError) as caught:
            await emulator.client.add_suppression("ada@example.com")
        assert caught.value.name == "not_found"
        for method, path in [
            ("GET", "/suppressions"),
            ("POST", "/suppressions/batch/add"),
            ("DELETE", "/suppressions/ada%40example.com"),
        ]:
            response = await call(emulator, method, path, json={"emails": ["a@example.com"]})
            assert response.status_code == 404, path
