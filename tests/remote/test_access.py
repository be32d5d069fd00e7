"""Access checks on their own: the JWT verifier against hostile tokens, and static tokens
from the environment and a file of hashes. The JWKS is served by httpx.MockTransport."""

import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from contacts_mcp.remote.access import (
    JwtVerifier,
    StaticTokens,
    TokenSource,
    hash_token,
    parse_token_pairs,
)

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com/"
AUDIENCE = "https://contacts.example.com/mcp"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_JWK = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": now + 300, **overrides}


def verifier(jwks: dict[str, Any], fetched: list[int]) -> JwtVerifier:
    def answer(request: httpx.Request) -> httpx.Response:
        fetched.append(1)
        return httpx.Response(200, json=jwks)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return JwtVerifier(issuer=ISSUER, jwks_url="https://auth.example.com/jwks",
                       audience=AUDIENCE, http=http)  # fmt: skip


async def test_hostile_tokens_are_refused_without_errors() -> None:
    fetched: list[int] = []
    check = verifier({"keys": [{**PUBLIC_JWK, "kid": "k1", "alg": "RS256"}]}, fetched)
    good = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": "k1"})
    assert (await check.verify_token(good)) is not None
    # "none", a symmetric algorithm keyed with the public key, and the wrong key type.
    unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": "k1"})
    assert await check.verify_token(unsigned) is None
    confused = jwt.api_jws.PyJWS().encode(
        b'{"iss":"x"}',
        key=b"the-public-key-used-as-a-shared-secret",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert await check.verify_token(confused) is None
    ec_key = ec.generate_private_key(ec.SECP256R1())
    other_alg = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "k1"})
    assert await check.verify_token(other_alg) is None
    # A JWK that names no algorithm: the RSA key still cannot check an ES256 signature.
    unnamed = verifier({"keys": [{**PUBLIC_JWK, "kid": "k1"}]}, [])
    assert await unnamed.verify_token(other_alg) is None
    assert await check.verify_token("not.a.jwt") is None
    assert await check.verify_token(jwt.encode(claims(sub=None), KEY, algorithm="RS256",
                                               headers={"kid": "k1"})) is None  # fmt: skip
    # Made-up key ids do not turn into a stream of JWKS fetches.
    for n in range(20):
        made_up = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": f"x{n}"})
        assert await check.verify_token(made_up) is None
    assert len(fetched) == 1


async def test_a_jwt_names_its_caller_by_subject() -> None:
    check = verifier({"keys": [{**PUBLIC_JWK, "kid": "k1"}]}, [])
    token = jwt.encode(claims(scope="contacts read"), KEY, algorithm="RS256",
                       headers={"kid": "k1"})  # fmt: skip
    access = await check.verify_token(token)
    assert access is not None
    assert (access.client_id, access.scopes, access.resource) == (
        "u1",
        ["contacts", "read"],
        AUDIENCE,
    )
    assert access.token == ""  # the raw token is not kept


async def test_static_tokens_from_the_environment_and_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name=token"):
        parse_token_pairs("alice")
    with pytest.raises(ValueError, match="at least 16"):
        parse_token_pairs("alice=short")
    file = tmp_path / "tokens"
    file.write_text(f"bob:{hash_token('bob-token-0123456789')}\n", encoding="utf-8")
    tokens = StaticTokens(TokenSource(parse_token_pairs("alice=alice-token-0123456789"), file))
    assert tokens.names == ["alice", "bob"]
    bob = await tokens.verify_token("bob-token-0123456789")
    assert bob is not None
    assert bob.client_id == "bob"
    file.write_text("bob:not-a-hash\n", encoding="utf-8")  # a broken file refuses its names
    assert await tokens.verify_token("bob-token-0123456789") is None
    assert await tokens.verify_token("alice-token-0123456789") is not None
    with pytest.raises(ValueError, match="no tokens given"):
        StaticTokens(TokenSource({}))
