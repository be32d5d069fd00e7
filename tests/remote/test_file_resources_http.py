"""Over HTTP, with two static tokens: a file one caller exported is a resource only they
can read. Another caller is refused exactly as for an id that was never given out."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, MCPError
from mcp.types import ResourceLink

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.remote.access import StaticTokens, TokenSource, parse_token_pairs
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.server import build_server
from tests.remote.conftest import mcp_client, serving
from tests.remote.test_http import ALICE, BOB

pytestmark = pytest.mark.anyio


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """Alice and Bob's server: exports go to `exports`, the data folder is apart."""
    (tmp_path / "exports").mkdir()
    imports = ImportSettings(
        files=FilePolicy(allowed_dirs=(tmp_path / "exports",)), state_dir=tmp_path / "state"
    )
    server = build_server(BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:"), imports)
    tokens = StaticTokens(TokenSource(parse_token_pairs(f"alice={ALICE},bob={BOB}")))
    with serving(build_http_app(server, HttpSettings(static=tokens))) as base:
        yield base


async def refusal(client: Client, uri: str) -> tuple[int, str]:
    with pytest.raises(MCPError) as refused:
        await client.read_resource(uri)
    return refused.value.code, refused.value.message


async def test_an_export_is_read_by_its_caller_alone(era: str, url: str, tmp_path: Path) -> None:
    async with mcp_client(url, era, token=ALICE) as alice:
        made = await alice.call_tool("create_contact", {"email": "ada@example.com"})
        assert not made.is_error, made.content
        exported = await alice.call_tool(
            "export_contacts", {"contacts": ["ada@example.com"], "path": "alice.csv"}
        )
        assert not exported.is_error, exported.content
        assert exported.structured_content is not None
        assert exported.structured_content["status"] == "completed"
        [link] = [block for block in exported.content if isinstance(block, ResourceLink)]
        read = await alice.read_resource(link.uri)
        [contents] = read.contents
        assert hasattr(contents, "text")
        assert contents.text.encode() == (tmp_path / "exports" / "alice.csv").read_bytes()
    unknown = f"contacts-mcp://files/{secrets.token_urlsafe(16)}"
    async with mcp_client(url, era, token=BOB) as bob:
        assert await refusal(bob, str(link.uri)) == await refusal(bob, unknown)
        _, message = await refusal(bob, str(link.uri))
        assert "No such file was written for you" in message
        assert "alice" not in message
        # Nor does a result of Bob's link to it.
        jobs = await bob.call_tool("get_job", {})
        assert not [block for block in jobs.content if isinstance(block, ResourceLink)]
