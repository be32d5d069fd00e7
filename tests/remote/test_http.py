"""The Streamable HTTP transport, on a real uvicorn server on loopback: both eras, static
tokens, OAuth (JWTs against a JWKS served by the test), DNS-rebinding protection, bad
requests, and the safety modes; none of the refused requests reaches a tool."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.settings import AuthSettings
from mcp.types import ElicitResult
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contacts_mcp.remote.access import (
    JwtVerifier,
    StaticTokens,
    TokenSource,
    hash_token,
    parse_token_pairs,
)
from contacts_mcp.remote.http import HttpSettings
from contacts_mcp.server.surface import AuditLog, Surface
from tests.remote.conftest import audit_lines, contacts_server, mcp_client, serving

pytestmark = pytest.mark.anyio

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def post(url: str, body: Any = INIT, **headers: str) -> httpx.Response:
    return await request("POST", f"{url}/mcp", json=body, headers={**JSON_HEADERS, **headers})


async def request(method: str, url: str, **options: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.request(method, url, **options)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(f"# name:sha256\nbob:{hash_token(BOB)}\n", encoding="utf-8")
    return path


@pytest.fixture
def static_server(tmp_path: Path, token_file: Path) -> Iterator[tuple[str, Path]]:
    tokens = StaticTokens(TokenSource(parse_token_pairs(f"alice={ALICE}"), token_file))
    audit = tmp_path / "audit.jsonl"
    surface = Surface(audit=AuditLog(audit))
    with contacts_server(tmp_path, HttpSettings(static=tokens), surface=surface) as url:
        yield url, audit


async def test_loopback_without_tokens_serves_both_eras_and_health(
    era: str, tmp_path: Path
) -> None:
    with contacts_server(tmp_path) as url:
        async with mcp_client(url, era) as client:
            assert len((await client.list_tools()).tools) == 26
            made = await client.call_tool("create_contact", {"email": "ada@example.com"})
            assert not made.is_error, made.content
            found = await client.call_tool("get_contact", {"contact": "ada@example.com"})
            assert found.structured_content is not None
            assert found.structured_content["email"] == "ada@example.com"
        health = await request("GET", f"{url}/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok"
        assert body["backend"] == {
            "kind": "local", "reachable": True, "latency_ms": body["backend"]["latency_ms"]
        }  # fmt: skip
        assert "re_" not in health.text  # no key, no address


async def test_static_tokens_let_in_their_owners_only(
    era: str, static_server: tuple[str, Path], token_file: Path
) -> None:
    url, audit = static_server
    missing = await post(url)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await post(url, **bearer("not-a-token-at-all-0000"))
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    async with mcp_client(url, era, token=ALICE) as client:
        made = await client.call_tool("create_contact", {"email": "grace@example.com"})
        assert not made.is_error
    async with mcp_client(url, era, token=BOB) as client:  # from the file of hashes
        assert len((await client.list_tools()).tools) == 26
    assert [(line["caller"], line["tool"], line["target"], line["outcome"])
            for line in audit_lines(audit)] == [
        ("alice", "create_contact", "grace@example.com", "ok")
    ]  # fmt: skip
    # Revoked: its line leaves the file, and the next request is refused.
    token_file.write_text("# nobody\n", encoding="utf-8")
    assert (await post(url, **bearer(BOB))).status_code == 401
    assert (await post(url, **bearer(ALICE))).status_code == 200


async def test_a_session_is_bound_to_the_token_that_opened_it(
    static_server: tuple[str, Path],
) -> None:
    url, _ = static_server
    opened = await post(url, **bearer(ALICE))
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    other = await post(url, listing, **bearer(BOB), **{"mcp-session-id": session})
    assert other.status_code == 404  # as if it did not exist
    headers = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    own = await post(url, listing, **bearer(ALICE), **headers)
    assert own.status_code == 200


async def test_bad_requests_get_their_status_and_reach_nothing(
    static_server: tuple[str, Path],
) -> None:
    url, audit = static_server
    auth = bearer(ALICE)
    assert (await post(url, **auth, Host="evil.example")).status_code == 421
    assert (await post(url, **auth, Origin="http://evil.example")).status_code == 403
    oversized = {**INIT, "padding": "x" * (5 * 1024 * 1024)}
    assert (await post(url, oversized, **auth)).status_code == 413
    malformed = await request(
        "POST", f"{url}/mcp", content=b"{not json", headers={**JSON_HEADERS, **auth}
    )
    assert malformed.status_code == 400
    call = {"name": "create_contact", "arguments": {"email": "x@example.com"}}
    create = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call}
    assert (await post(url, create, **bearer("wrong-token-0000000000"))).status_code == 401
    assert (await post(url, create, Host="evil.example")).status_code == 401
    assert audit_lines(audit) == []  # no tool ran


# -- OAuth --------------------------------------------------------------------------------

ISSUER = "https://auth.example.com/"


class Issuer:
    """An authorization server's signing key and its JWKS."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def token(self, audience: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": audience, "sub": "user-42", "iat": now, "exp": now + 300,
                "scope": "contacts", **claims}  # fmt: skip
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def oauth_server(tmp_path: Path) -> Iterator[tuple[str, Issuer, Path]]:
    issuer = Issuer()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks)

    with serving(Starlette(routes=[Route("/jwks", jwks)])) as jwks_url:
        # The resource URL must be known before the port is: any loopback URL will do,
        # as long as tokens name it as their audience.
        resource = "http://127.0.0.1/mcp"
        verifier = JwtVerifier(issuer=ISSUER, jwks_url=f"{jwks_url}/jwks", audience=resource)
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(ISSUER),
            resource_server_url=AnyHttpUrl(resource),
            required_scopes=["contacts"],
            validate_token_resource=True,
        )
        audit = tmp_path / "audit.jsonl"
        with contacts_server(
            tmp_path,
            HttpSettings(oauth=True),
            surface=Surface(audit=AuditLog(audit)),
            token_verifier=verifier,
            auth=auth,
        ) as url:
            yield url, issuer, audit


async def test_oauth_access_tokens_are_checked_against_the_issuers_keys(
    era: str, oauth_server: tuple[str, Issuer, Path]
) -> None:
    url, issuer, audit = oauth_server
    audience = "http://127.0.0.1/mcp"
    refused = await post(url)
    assert refused.status_code == 401
    challenge = refused.headers["WWW-Authenticate"]
    assert "resource_metadata=" in challenge
    metadata = (await request("GET", f"{url}/.well-known/oauth-protected-resource/mcp")).json()
    assert metadata["resource"] == audience
    assert metadata["authorization_servers"] == [ISSUER]
    async with mcp_client(url, era, token=issuer.token(audience)) as client:
        made = await client.call_tool("create_contact", {"email": "lin@example.com"})
        assert not made.is_error
    assert [line["caller"] for line in audit_lines(audit)] == ["user-42"]
    expired = issuer.token(audience, exp=int(time.time()) - 3600)
    assert (await post(url, **bearer(expired))).status_code == 401
    assert (await post(url, **bearer(issuer.token("https://other.example/mcp")))).status_code == 401
    assert (
        await post(url, **bearer(issuer.token(audience, iss="https://evil.example/")))
    ).status_code == 401
    assert (await post(url, **bearer(issuer.token(audience, scope="other")))).status_code == 403
    forged = Issuer().token(audience)  # signed by another key, same kid
    assert (await post(url, **bearer(forged))).status_code == 401
    assert len(audit_lines(audit)) == 1  # none of those reached a tool


def test_beyond_loopback_access_control_is_required() -> None:
    with pytest.raises(ValueError, match=r"refusing to serve on 0\.0\.0\.0 with no access control"):
        HttpSettings(host="0.0.0.0").check()  # noqa: S104
    tokens = StaticTokens(TokenSource(parse_token_pairs(f"alice={ALICE}")))
    HttpSettings(host="0.0.0.0", static=tokens).check()  # noqa: S104


async def test_stateless_mode_serves_without_sessions(era: str, tmp_path: Path) -> None:
    with contacts_server(tmp_path, HttpSettings(stateless=True)) as url:
        opened = await post(url)
        assert opened.status_code == 200
        assert "mcp-session-id" not in opened.headers
        async with mcp_client(url, era) as client:
            made = await client.call_tool("create_contact", {"email": "kay@example.com"})
            assert not made.is_error, made.content
            # A job started by one request is followed by the next (one instance).
            found = await client.call_tool(
                "search_contacts", {"where": [], "count_only": True, "refresh": "full"}
            )
            assert found.structured_content is not None
            assert found.structured_content["count"] == 1


async def test_the_sdk_client_with_a_wrong_token_never_connects(
    era: str, static_server: tuple[str, Path]
) -> None:
    url, audit = static_server
    # The SDK raises its MCPError inside (nested) exception groups.
    with pytest.raises(ExceptionGroup) as refused:
        async with mcp_client(url, era, token="wrong-token-0123456789") as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, match="Server returned an error response")
    assert audit_lines(audit) == []


async def test_read_only_over_http_lists_and_runs_no_write_tool(era: str, tmp_path: Path) -> None:
    with contacts_server(tmp_path, surface=Surface(read_only=True)) as url:
        async with mcp_client(url, era) as client:
            tools = (await client.list_tools()).tools
            assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
            refused = await client.call_tool("delete_contact", {"contact": "a@example.com"})
            assert refused.is_error
            text = refused.content[0]
            assert text.type == "text"
            assert "read-only" in text.text


async def test_a_bulk_run_over_http_asks_the_person(era: str, tmp_path: Path) -> None:
    asked: list[str] = []

    async def person(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    with contacts_server(tmp_path) as url:
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            Client(
                streamable_http_client(f"{url}/mcp", http_client=http),
                mode=era,
                elicitation_callback=person,
            ) as client,
        ):
            named = [f"u{i}@example.com" for i in range(3)]
            for email in named:
                await client.call_tool("create_contact", {"email": email})
            preview = await client.call_tool("delete_contacts", {"contacts": named})
            assert preview.structured_content is not None
            token = preview.structured_content["preview"]["confirm"]
            run = await client.call_tool("delete_contacts", {"contacts": named, "confirm": token})
            assert run.is_error
            assert asked == ["Delete 3 contacts. This cannot be undone; a snapshot is kept for "
                             "re-import. Approve?"]  # fmt: skip
            left = await client.call_tool("list_contacts", {})
            assert left.structured_content is not None
            assert len(left.structured_content["contacts"]) == 3


async def test_each_caller_sees_and_stops_only_their_own_jobs(
    era: str, tmp_path: Path, token_file: Path
) -> None:
    """Jobs belong to the token that started them; a sync of the mirror is everyone's to
    wait on, and only its starter's to stop."""
    tokens = StaticTokens(TokenSource(parse_token_pairs(f"alice={ALICE}"), token_file))
    rows = "\n".join(f"u{i}@example.com" for i in range(200))
    import_arguments = {
        "csv_text": f"email\n{rows}\n",
        "columns": {"email": "email"},
        "on_conflict": "upsert",
        "strategy": "rows",
    }
    with contacts_server(tmp_path, HttpSettings(static=tokens), wait_seconds=0) as url:
        async with mcp_client(url, era, token=ALICE) as alice:
            started = await alice.call_tool("import_contacts", import_arguments)
            assert started.structured_content is not None
            job_id = started.structured_content["job_id"]
            async with mcp_client(url, era, token=BOB) as bob:
                listed = await bob.call_tool("get_job", {})
                assert listed.structured_content == {
                    "job": None,
                    "recent": [],
                    "api_import": None,
                    "stopped_at": None,
                }
                for arguments in ({"job_id": job_id}, {"job_id": job_id, "cancel": True}):
                    refused = await bob.call_tool("get_job", arguments)
                    assert refused.is_error
                    assert refused.content[0].type == "text"
                    # Told as a job that does not exist: nothing of Alice's shows.
                    assert f"No job '{job_id}' on this server." in refused.content[0].text
                # With no wait budget, Bob's first search answers with the sync it started.
                searched = await bob.call_tool("search_contacts", {"where": [], "count_only": True})
                assert searched.content[0].type == "text"
                assert "mirror is being filled" in searched.content[0].text
            own = await alice.call_tool("get_job", {})
            assert own.structured_content is not None
            kinds = {job["kind"]: job for job in own.structured_content["recent"]}
            assert set(kinds) == {"import", "sync"}  # hers, and Bob's sync: shared
            stop = await alice.call_tool(
                "get_job", {"job_id": kinds["sync"]["job_id"], "cancel": True}
            )
            assert stop.is_error
            assert stop.content[0].type == "text"
            assert "started by another caller" in stop.content[0].text
            waited = await alice.call_tool("get_job", {"job_id": job_id, "wait_seconds": 50})
            assert waited.structured_content is not None
            job = waited.structured_content["job"]
            while job["status"] == "working":
                again = await alice.call_tool("get_job", job["next_call"]["arguments"])
                assert again.structured_content is not None
                job = again.structured_content["job"]
            assert job["status"] == "completed"
            assert job["result"]["created"] == 200


async def test_a_late_yes_over_http_runs_the_delete_once_on_the_next_call(
    tmp_path: Path,
) -> None:
    """The handshake era over Streamable HTTP: the host drops the call (here after 1 s),
    the person says yes later (2 s); the next call runs it, without asking again."""
    asked: list[str] = []

    async def slow_person(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        await anyio.sleep(2)
        return ElicitResult(action="accept", content={"approve": True})

    with contacts_server(tmp_path) as url:
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            Client(
                streamable_http_client(f"{url}/mcp", http_client=http),
                mode="legacy",
                elicitation_callback=slow_person,
            ) as client,
        ):
            named = [f"u{i}@example.com" for i in range(3)]
            for email in named:
                await client.call_tool("create_contact", {"email": email})
            preview = await client.call_tool("delete_contacts", {"contacts": named})
            assert preview.structured_content is not None
            confirmed = {
                "contacts": named,
                "confirm": preview.structured_content["preview"]["confirm"],
            }
            with pytest.raises(MCPError, match="timed out"):
                await client.call_tool("delete_contacts", confirmed, read_timeout_seconds=1)
            again = await client.call_tool("delete_contacts", confirmed)
            assert not again.is_error, again.content
            assert len(asked) == 1
            left = await client.call_tool("list_contacts", {})
            assert left.structured_content is not None
            assert left.structured_content["contacts"] == []


async def test_a_csv_posted_to_uploads_is_its_senders_to_import(
    era: str, static_server: tuple[str, Path]
) -> None:
    url, _ = static_server
    body = "email,first_name\nann@example.com,Ann\nben@example.com,Ben\n"
    headers = {"Content-Type": "text/csv", **bearer(ALICE)}
    missing = await request("POST", f"{url}/uploads", content=body)
    assert missing.status_code == 401
    foreign = await request(
        "POST",
        f"{url}/uploads",
        content=body,
        headers={**headers, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    posted = await request("POST", f"{url}/uploads?name=people.csv", content=body, headers=headers)
    assert posted.status_code == 201, posted.text
    upload = posted.json()["upload_id"]
    assert posted.json()["size"] == len(body)
    async with mcp_client(url, era, token=BOB) as bob:
        refused = await bob.call_tool("preview_import", {"upload": upload})
        assert refused.is_error
        assert refused.content[0].type == "text"
        assert "No upload" in refused.content[0].text
    async with mcp_client(url, era, token=ALICE) as alice:
        arguments = {"upload": upload, "columns": {"email": "email"}, "on_conflict": "upsert"}
        done = await alice.call_tool("import_contacts", arguments)
        assert done.structured_content is not None
        job = done.structured_content
        while job["status"] == "working":
            waited = await alice.call_tool("get_job", job["next_call"]["arguments"])
            assert waited.structured_content is not None
            job = waited.structured_content["job"]
        assert job["result"]["created"] == 2
