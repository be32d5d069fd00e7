"""Who may call the HTTP server: static bearer tokens, or OAuth 2.1 access tokens (JWTs).

The Resend key never leaves the server: clients prove who they are with credentials of
the server's own. Both kinds are `TokenVerifier`s (the MCP SDK's interface) returning an
`AccessToken` whose `client_id` names the caller for the audit log: the token's name,
or the JWT's subject.

Static tokens come from the environment (`name=token` pairs) or from a file of
`name:sha256-hex` lines, so the file never holds a usable token. The file is read again
when it changes: deleting a line revokes that name without a restart. Every presented
token is hashed and compared with every known hash in constant time.

JWTs are checked by PyJWT against the issuer's JWKS (fetched over HTTPS, cached, and
fetched again for an unknown key id, at most once a minute): signature, `iss`, `aud`
(this server's resource URL), `exp`, `nbf`, with a minute of leeway for clocks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

__all__ = [
    "JwtVerifier",
    "StaticTokens",
    "TokenSource",
    "hash_token",
    "new_token",
    "parse_token_pairs",
]

logger = logging.getLogger(__name__)

# Algorithms a JWT may be signed with: asymmetric only (an HMAC "key" from a public JWKS
# would let anyone sign), as RFC 8725 advises.
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
JWKS_REFRESH_SECONDS = 60.0
JWKS_RETRY_SECONDS = 5.0
CLOCK_LEEWAY_SECONDS = 60


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe, with a prefix that says what it is."""
    return "cmcp_" + secrets.token_urlsafe(32)


def parse_token_pairs(raw: str) -> dict[str, str]:
    """`alice=tok1,bob=tok2` as name → token hash; ValueError on a malformed pair."""
    found: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, token = part.strip().partition("=")
        if not sep or not name.strip() or len(token.strip()) < 16:
            raise ValueError(
                "each entry must be name=token, with a token of at least 16 characters"
            )
        found[name.strip()] = hash_token(token.strip())
    return found


@dataclass
class TokenSource:
    """Static tokens: name → sha256 hex, from the environment and an optional file."""

    from_environment: Mapping[str, str]
    file: Path | None = None


class StaticTokens(TokenVerifier):
    """Bearer tokens of the server's own, each with a name."""

    def __init__(self, source: TokenSource) -> None:
        self._environment = dict(source.from_environment)
        self._file = source.file
        self._file_stamp: tuple[float, int] | None = None
        self._from_file: dict[str, str] = {}
        self._reload()
        if not self._environment and not self._from_file:
            raise ValueError("no tokens given")

    @property
    def names(self) -> list[str]:
        return sorted({*self._environment, *self._from_file})

    def _reload(self) -> None:
        if self._file is None:
            return
        stat = self._file.stat()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._file_stamp:
            return
        entries: dict[str, str] = {}
        for number, line in enumerate(self._file.read_text(encoding="utf-8").splitlines(), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            name, sep, digest = text.partition(":")
            digest = digest.strip().lower()
            if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{self._file}, line {number}: expected name:sha256-hex")
            entries[name.strip()] = digest
        self._from_file, self._file_stamp = entries, stamp

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            self._reload()
        except (OSError, ValueError):
            # A file being rewritten, or removed: refuse its names until it reads well.
            logger.warning("the token file cannot be read; its tokens are refused meanwhile")
            self._from_file, self._file_stamp = {}, None
        presented = hash_token(token)
        caller = None
        # Every entry is compared, whatever matched: the time taken says nothing.
        for name, digest in (*self._environment.items(), *self._from_file.items()):
            if hmac.compare_digest(presented, digest):
                caller = name
        if caller is None:
            return None
        return AccessToken(token="", client_id=caller, scopes=[])


class JwtVerifier(TokenVerifier):
    """OAuth 2.1 access tokens (JWT) from an external authorization server."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str,
        audience: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks_url = jwks_url
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = anyio.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm = header.get("alg")
        if algorithm not in JWT_ALGORITHMS:
            return None
        key = await self._key(header.get("kid"))
        if key is None:
            return None
        try:
            # The PyJWK itself, not its raw key: PyJWT then verifies with the algorithm
            # the key is bound to (its JWK's "alg", or its type's), and refuses a token
            # whose header names another.
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:  # bad signature or claims, or another algorithm than the key's
            return None
        # Required scopes are the SDK's to check (AuthSettings): a valid token without
        # them gets 403 insufficient_scope, not 401.
        scope = claims.get("scope")
        scopes = scope.split() if isinstance(scope, str) else []
        return AccessToken(
            token="",
            client_id=str(claims["sub"]),
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=self.audience,
        )

    async def _key(self, key_id: object) -> jwt.PyJWK | None:
        wanted = key_id if isinstance(key_id, str) else None
        found = self._pick(wanted)
        if found is not None:
            return found
        async with self._lock:
            # An unknown key id may be a rotation: fetch again, but not on every request
            # (a stream of made-up key ids must not become a stream of fetches); sooner
            # while no key set was ever read.
            wait = JWKS_REFRESH_SECONDS if self._keys else JWKS_RETRY_SECONDS
            if time.monotonic() - self._fetched_at >= wait or self._fetched_at == 0.0:
                await self._fetch()
        return self._pick(wanted)

    def _pick(self, key_id: str | None) -> jwt.PyJWK | None:
        if key_id is not None:
            return self._keys.get(key_id)
        # No kid: acceptable only when the issuer publishes a single key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            if self._http is not None:
                response = await self._http.get(self._jwks_url)
            else:
                async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
                    response = await http.get(self._jwks_url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            logger.warning("the JWKS at %s could not be read: %s", self._jwks_url, exc)
            return
        self._keys = {key.key_id or f"key-{n}": key for n, key in enumerate(keys)}
