"""ResendClient's suppressions endpoint on the wire."""

import httpx
import pytest

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.errors import NotFoundError, UnexpectedResponseError
from contacts_mcp.api.pacing import RatePacer
from tests.api.wire import Wire, client_for

pytestmark = pytest.mark.anyio

SUPPRESSION = "e169aa45-1ecf-4183-9955-b1499d5701d3"


async def test_add_suppression_sends_only_the_email() -> None:
    wire = Wire({"object": "suppression", "id": SUPPRESSION})
    http, client = client_for(wire)
    async with http:
        created = await client.add_suppression("Ada+news@example.com")
    assert wire.sent() == ("POST", "/suppressions", {"email": "Ada+news@example.com"})
    assert (created.id, created.object) == (SUPPRESSION, "suppression")


async def test_an_unreadable_answer_names_the_endpoint_not_the_address() -> None:
    http, client = client_for(Wire({"object": "suppression"}))
    async with http:
        with pytest.raises(UnexpectedResponseError) as caught:
            await client.add_suppression("ada@example.com")
    assert caught.value.endpoint == "POST /suppressions"


async def test_a_team_without_the_beta_gets_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"statusCode": 404, "message": "Not found", "name": "not_found"}
        return httpx.Response(404, json=body)

    http = build_http_client(transport=httpx.MockTransport(handler))
    client = ResendClient(http, api_key="re_test", pacer=RatePacer(), max_retries=0)
    async with http:
        with pytest.raises(NotFoundError):
            await client.add_suppression("ada@example.com")
