"""Resources, resource templates, completion and prompts, in both protocol eras."""

import json
from typing import Any

import pytest
from mcp import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextResourceContents

from tests.server.conftest import Harness

pytestmark = pytest.mark.anyio


async def read_json(harness: Harness, uri: str) -> Any:
    result = await harness.client.read_resource(uri)
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def seed(harness: Harness) -> dict[str, str]:
    vip = await harness.seed("POST", "/segments", {"name": "VIP"})
    await harness.seed("POST", "/segments", {"name": "Beta"})
    await harness.seed("POST", "/topics", {"name": "News", "default_subscription": "opt_in"})
    plan = await harness.seed("POST", "/contact-properties", {"key": "plan", "type": "string"})
    for i in range(25):
        email = f"m{i:02d}@example.com"
        await harness.seed("POST", "/contacts", {"email": email, "segments": [{"id": vip["id"]}]})
    return {"vip": vip["id"], "plan": plan["id"]}


async def test_resources_and_templates_are_listed(harness: Harness) -> None:
    resources = {r.name: str(r.uri) for r in (await harness.client.list_resources()).resources}
    assert resources == {
        "contact-properties": "resend://contact-properties",
        "segments": "resend://segments",
        "topics": "resend://topics",
        "local-data": "contacts-mcp://data/status",  # what the server keeps on this machine
        # The screens (MCP Apps).
        "bulk-review": "ui://contacts-mcp/bulk-review.html",
        "import-review": "ui://contacts-mcp/import-review.html",
        "search-results": "ui://contacts-mcp/search-results.html",
        "job-view": "ui://contacts-mcp/job-view.html",
    }
    templates = {
        t.name: t.uri_template
        for t in (await harness.client.list_resource_templates()).resource_templates
    }
    assert templates == {
        "contact-property": "resend://contact-properties/{property}",
        "segment": "resend://segments/{segment}",
        "file": "contacts-mcp://files/{file_id}{?page}",  # exports, snapshots, reports
    }


async def test_schema_lists_read_as_json(harness: Harness) -> None:
    await seed(harness)
    props = await read_json(harness, "resend://contact-properties")
    assert [(p["key"], p["type"]) for p in props] == [("plan", "string")]
    segments = await read_json(harness, "resend://segments")
    assert sorted(s["name"] for s in segments) == ["Beta", "VIP"]
    topics = await read_json(harness, "resend://topics")
    assert [(t["name"], t["default_subscription"]) for t in topics] == [("News", "opt_in")]


async def test_segment_template_gives_count_and_first_page(harness: Harness) -> None:
    ids = await seed(harness)
    by_name = await read_json(harness, "resend://segments/VIP")
    by_id = await read_json(harness, f"resend://segments/{ids['vip']}")
    assert by_name == by_id
    assert by_name["contact_count"] == 25
    assert len(by_name["contacts"]) == 20
    assert by_name["has_more"] is True
    assert by_name["contacts"][0]["email"] == "m24@example.com"


async def test_property_template_by_key_or_id(harness: Harness) -> None:
    ids = await seed(harness)
    by_key = await read_json(harness, "resend://contact-properties/plan")
    assert by_key["id"] == ids["plan"]
    assert await read_json(harness, f"resend://contact-properties/{ids['plan']}") == by_key


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("resend://segments/Gold", "No segment 'Gold'"),
        ("resend://contact-properties/nope", "No contact property 'nope'"),
    ],
)
async def test_unknown_template_values_are_not_found_errors(
    harness: Harness, uri: str, expected: str
) -> None:
    await seed(harness)
    with pytest.raises(MCPError) as info:
        await harness.client.read_resource(uri)
    assert info.value.code == -32602
    assert expected in info.value.message


async def test_template_arguments_complete_from_the_account(harness: Harness) -> None:
    await seed(harness)
    segment_ref = ResourceTemplateReference(uri="resend://segments/{segment}")
    completed = await harness.client.complete(segment_ref, {"name": "segment", "value": "v"})
    assert completed.completion.values == ["VIP"]
    everything = await harness.client.complete(segment_ref, {"name": "segment", "value": ""})
    assert everything.completion.values == ["Beta", "VIP"]
    property_ref = ResourceTemplateReference(uri="resend://contact-properties/{property}")
    keys = await harness.client.complete(property_ref, {"name": "property", "value": "pl"})
    assert keys.completion.values == ["plan"]
    prompt_ref = PromptReference(name="build-segment")
    names = await harness.client.complete(prompt_ref, {"name": "segment", "value": "B"})
    assert names.completion.values == ["Beta"]


async def test_prompts_are_listed_with_their_arguments(harness: Harness) -> None:
    prompts = {p.name: p for p in (await harness.client.list_prompts()).prompts}
    assert set(prompts) >= {"clean-up-contacts", "build-segment"}
    build = prompts["build-segment"]
    assert {a.name: a.required for a in build.arguments or []} == {"rule": True, "segment": True}
    assert {a.name: a.required for a in prompts["clean-up-contacts"].arguments or []} == {
        "segment": False
    }


async def test_build_segment_prompt_walks_through_confirmation(harness: Harness) -> None:
    result = await harness.client.get_prompt(
        "build-segment", {"rule": "plan is pro", "segment": "Pro users"}
    )
    text = result.messages[0].content
    assert text.type == "text"
    assert '"Pro users"' in text.text
    assert '"plan is pro"' in text.text
    assert "confirm" in text.text
    assert "add_segments" in text.text


async def test_clean_up_prompt_never_resubscribes_and_asks_first(harness: Harness) -> None:
    result = await harness.client.get_prompt("clean-up-contacts", {"segment": "VIP"})
    text = result.messages[0].content
    assert text.type == "text"
    assert 'segment "VIP"' in text.text
    assert "never re-subscribe" in text.text
    assert "Only after I confirm" in text.text


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("build-segment", {"segment": "VIP"}, "needs: rule"),
        ("build-segment", {"rule": " ", "segment": ""}, "needs: rule, segment"),
        ("no-such-prompt", {}, "Unknown prompt 'no-such-prompt'"),
    ],
)
async def test_prompt_mistakes_are_the_same_clear_error_in_both_eras(
    harness: Harness, name: str, arguments: dict[str, str], expected: str
) -> None:
    with pytest.raises(MCPError) as info:
        await harness.client.get_prompt(name, arguments)
    assert info.value.code == -32602
    assert expected in info.value.message
