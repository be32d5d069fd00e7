"""The tool surface: annotations set on purpose, and a snapshot of every definition.

The snapshot, `snapshots/tools.json` beside this file, is everything the model sees of
the tools: names, descriptions, schemas and annotations, in the order hosts list them. A
change to any of it fails this test until the snapshot is regenerated on purpose, and
the diff is then reviewed like code:

    UPDATE_SNAPSHOTS=1 python -m pytest tests/server/test_surface.py
"""

import json
import os
from pathlib import Path

import pytest
from mcp import Client

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.server import INSTRUCTIONS, build_server
from tests.server.conftest import Harness

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).with_name("snapshots") / "tools.json"

READ = (True, None, None, True)  # (readOnly, destructive, idempotent, openWorld)
CREATE = (False, False, True, True)
CHANGE = (False, True, True, True)
EXPECTED_HINTS = {
    "create_contact": CREATE,
    "get_contact": READ,
    "update_contact": CHANGE,
    "delete_contact": CHANGE,
    "list_contacts": READ,
    "search_contacts": READ,
    "update_contacts": CHANGE,
    "delete_contacts": CHANGE,
    "export_contacts": (False, False, False, True),  # a new file; replaces one only if asked
    "list_contact_properties": READ,
    "create_contact_property": CREATE,
    "update_contact_property": CHANGE,
    "delete_contact_property": CHANGE,
    "list_segments": READ,
    "create_segment": CREATE,
    "update_segment": CHANGE,
    "delete_segment": CHANGE,
    "list_topics": READ,
    "create_topic": CREATE,
    "update_topic": CHANGE,
    "delete_topic": CHANGE,
    "preview_import": READ,
    "import_contacts": CHANGE,
    "personal_data": READ,  # an access request: reads Resend and the local copies
    "forget_contacts": CHANGE,  # an erasure: deletes at Resend, removes local copies
    "get_job": CREATE,  # waits or cancels: not read-only, never destructive
}


async def surface(client: Client) -> list[dict[str, object]]:
    tools = (await client.list_tools(cache_mode="bypass")).tools
    return [
        tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        for tool in tools  # in registration order: hosts show tools in the order listed
    ]


async def test_every_tool_has_deliberate_annotations(harness: Harness) -> None:
    tools = {t.name: t for t in (await harness.client.list_tools()).tools}
    assert set(tools) == set(EXPECTED_HINTS)
    for name, (read_only, destructive, idempotent, open_world) in EXPECTED_HINTS.items():
        annotations = tools[name].annotations
        assert annotations is not None, name
        assert annotations.title, name
        assert annotations.read_only_hint is read_only, name
        assert annotations.destructive_hint is destructive, name
        assert annotations.idempotent_hint is idempotent, name
        assert annotations.open_world_hint is open_world, name


async def test_every_tool_declares_an_output_schema_and_describes_each_argument(
    harness: Harness,
) -> None:
    for tool in (await harness.client.list_tools()).tools:
        assert tool.output_schema is not None, tool.name
        assert tool.description, tool.name
        for name, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), f"{tool.name}.{name}"
            assert "title" not in schema, f"{tool.name}.{name}"


async def test_server_explains_contacts_ids_and_paging(harness: Harness) -> None:
    assert harness.client.instructions == INSTRUCTIONS
    for phrase in ("id (a UUID) or its email", "next_after", "pass `segment`", "resubscribe"):
        assert phrase in INSTRUCTIONS


async def test_tool_surface_matches_the_snapshot(era: str) -> None:
    server = build_server(BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:"))
    async with Client(server, mode=era) as client:
        current = await surface(client)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert current == json.loads(SNAPSHOT.read_text(encoding="utf-8"))
