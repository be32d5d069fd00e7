"""The Streamable HTTP server: `/mcp` behind access control, `/healthz`, graceful stops.

Served by the MCP SDK's own transport (both protocol eras). What this module adds:

- Access control. OAuth mode is the SDK's: its `TokenVerifier` hook with our JWT
  verifier, its 401 with `WWW-Authenticate: Bearer … resource_metadata=…`, its Protected
  Resource Metadata (RFC 9728). Static tokens go through `StaticBearer` below, which
  publishes no OAuth metadata (there is no authorization server to point to) and marks
  the request authenticated the way the SDK does, so the SDK binds each session to the
  credential that opened it (another credential gets 404) and tools see the caller.
- DNS-rebinding protection, always on: Host and Origin are checked against an
  allow-list (loopback names by default, plus those given); the SDK answers 421 or 403.
- Refusal to serve beyond loopback with no access control.
- `/healthz`: liveness and whether the backend answers, without secrets.
- `POST /uploads`: a CSV for an import, from a client without MCP Apps (same bearer
  token and Host/Origin checks as `/mcp`); answers the upload's id.
- `/webhooks/resend`, when a signing secret is configured: Resend's contact events,
  verified and written through to the mirror (`remote.webhooks`). No bearer token there:
  the signature is the credential.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecuritySettings
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from contacts_mcp import __version__
from contacts_mcp.remote.webhooks import WEBHOOK_PATH, OnEvent, ResendWebhook

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from contacts_mcp.server.app import ContactsServer
    from contacts_mcp.server.toolkit import State
    from contacts_mcp.services.webhook_events import ContactEvent

__all__ = ["HttpSettings", "StaticBearer", "build_http_app", "is_loopback"]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
# Seconds a /healthz answer about the backend is reused: a health check every few
# seconds must not spend the account's rate limit.
HEALTH_CACHE_SECONDS = 30.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Static bearer tokens (StaticTokens), or None.
    static: TokenVerifier | None = None
    # OAuth: the server was built with the SDK's token verifier; only noted here.
    oauth: bool = False
    allowed_hosts: Sequence[str] = ()
    allowed_origins: Sequence[str] = ()
    stateless: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    # Seconds open requests get to finish after SIGTERM before they are cut.
    graceful_seconds: int = 20
    # Resend's `whsec_…` signing secret: serves /webhooks/resend (none: not served).
    webhook_secret: str | None = field(default=None, repr=False)

    def check(self) -> None:
        """Refuse settings that would expose the server (ValueError says what to do)."""
        if not is_loopback(self.host) and self.static is None and not self.oauth:
            raise ValueError(
                f"refusing to serve on {self.host} with no access control: give tokens "
                "(CONTACTS_MCP_TOKENS or --token-file) or OAuth (--oauth-issuer, "
                "--oauth-jwks-url, --resource-url), or bind to 127.0.0.1"
            )

    def security(self) -> TransportSecuritySettings:
        hosts = [f"{name}:*" for name in LOOPBACK_NAMES] + [*LOOPBACK_NAMES]
        origins = [f"http://{name}:*" for name in LOOPBACK_NAMES]
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):  # noqa: S104
            hosts += [self.host, f"{self.host}:*"]
        for host in self.allowed_hosts:
            hosts += [host] if ":" in host else [host, f"{host}:*"]
        origins += list(self.allowed_origins)
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


class StaticBearer:
    """Pure ASGI (SSE responses stream through): `/mcp` needs a known bearer token."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self._app = AuthContextMiddleware(app)
        self._verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != MCP_PATH:
            await self._app(scope, receive, send)
            return
        header = Request(scope).headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _unauthorized("Authentication required", given=False)(scope, receive, send)
            return
        access = await self._verifier.verify_token(token.strip())
        if access is None:
            await _unauthorized("Invalid or revoked token", given=True)(scope, receive, send)
            return
        scope["user"] = AuthenticatedUser(access)
        scope["auth"] = AuthCredentials(access.scopes)
        await self._app(scope, receive, send)


def _unauthorized(description: str, *, given: bool) -> Response:
    challenge = 'Bearer realm="contacts-mcp"'
    if given:
        challenge += f', error="invalid_token", error_description="{description}"'
    return JSONResponse(
        {"error": "invalid_token" if given else "unauthorized", "error_description": description},
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


class _Health:
    """`/healthz`: the process answers; the backend's reachability, checked at most
    every `HEALTH_CACHE_SECONDS` with one cheap request."""

    def __init__(self, state: Callable[[], State], kind: str, *, webhooks: bool) -> None:
        self._state = state
        self._kind = kind
        self._webhooks = "on" if webhooks else "off"
        self._checked_at = 0.0
        self._backend: dict[str, Any] = {}

    async def respond(self, request: Request) -> Response:
        try:
            state = self._state()
        except RuntimeError:
            return JSONResponse(
                {"status": "starting", "version": __version__, "webhooks": self._webhooks},
                status_code=503,
            )
        if time.monotonic() - self._checked_at > HEALTH_CACHE_SECONDS or not self._backend:
            self._backend = await _probe(state, self._kind)
            self._checked_at = time.monotonic()
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "backend": self._backend,
                "webhooks": self._webhooks,
            }
        )


async def _probe(state: State, kind: str) -> dict[str, Any]:
    from contacts_mcp.api.errors import ResendError

    started = time.monotonic()
    try:
        await state.client.list_contacts(limit=1)
    except ResendError as exc:
        # The error's class only: its text could name the account.
        return {"kind": kind, "reachable": False, "problem": type(exc).__name__}
    return {
        "kind": kind,
        "reachable": True,
        "latency_ms": round((time.monotonic() - started) * 1000),
    }


def _mirror_writer(state: Callable[[], State]) -> OnEvent:
    """Apply a webhook's contact event to the running server's mirror."""

    async def apply(event: ContactEvent) -> bool:
        return await state().sets.apply_event(event)

    return apply


UPLOADS_PATH = "/uploads"
UPLOAD_READ_BYTES = 1024 * 1024


class _Uploads:
    """`POST /uploads`: a CSV in the request body (streamed to disk, under the import
    cap) becomes an upload of the caller's, whose id `preview_import` and
    `import_contacts` take as `upload`. For clients without MCP Apps, whose people have
    no file picker; the same bearer token as `/mcp` says who the caller is."""

    def __init__(
        self,
        state: Callable[[], State],
        verifier: TokenVerifier | None,
        security: TransportSecuritySettings,
    ) -> None:
        self._state = state
        self._verifier = verifier
        self._security = security

    async def receive(self, request: Request) -> Response:
        refused = self._refuse_foreign(request)
        if refused is not None:
            return refused
        caller = "local"
        if self._verifier is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            access = (
                await self._verifier.verify_token(token.strip())
                if scheme.lower() == "bearer" and token.strip()
                else None
            )
            if access is None:
                return _unauthorized("A valid bearer token is required", given=bool(token))
            caller = access.client_id
        try:
            state = self._state()
        except RuntimeError:
            return JSONResponse({"error": "starting"}, status_code=503)
        name = (request.query_params.get("name") or "upload.csv")[:200]
        from contacts_mcp.services.explain import UserFacingError

        try:
            upload = state.uploads.begin(caller, name)
            size = 0
            async for chunk in request.stream():
                for start in range(0, len(chunk), UPLOAD_READ_BYTES):
                    part = chunk[start : start + UPLOAD_READ_BYTES]
                    state.uploads.append(upload.id, caller, size, part)
                    size += len(part)
            upload = state.uploads.finish(upload.id, caller)
        except UserFacingError as exc:
            return JSONResponse({"error": "refused", "message": str(exc)}, status_code=413)
        from contacts_mcp.services.jobs import utc_iso

        return JSONResponse(
            {"upload_id": upload.id, "size": upload.size, "expires_at": utc_iso(upload.expires)},
            status_code=201,
        )

    def _refuse_foreign(self, request: Request) -> Response | None:
        """The Host and Origin checks `/mcp` has (DNS rebinding): a web page the person
        visits must not post files to a server on their machine."""
        host = request.headers.get("host", "")
        origin = request.headers.get("origin")
        if not _matches(host, self._security.allowed_hosts):
            return JSONResponse({"error": "invalid host"}, status_code=421)
        if origin is not None and not _matches(origin, self._security.allowed_origins):
            return JSONResponse({"error": "invalid origin"}, status_code=403)
        return None


def _matches(value: str, allowed: Sequence[str]) -> bool:
    for pattern in allowed:
        if pattern.endswith(":*"):
            if value.startswith(pattern[:-1]) or value == pattern[:-2]:
                return True
        elif value == pattern:
            return True
    return False


def build_http_app(
    server: ContactsServer, settings: HttpSettings, *, on_event: OnEvent | None = None
) -> Starlette | StaticBearer:
    """The ASGI app: `/mcp` (the SDK's transport, behind access control), `/healthz`, and
    `/webhooks/resend` when `settings.webhook_secret` is set. Its events go to `on_event`
    (default: the running server's mirror)."""
    settings.check()
    # Bound methods: Starlette would serve a callable instance as a raw ASGI app.
    webhooks = settings.webhook_secret is not None
    health = _Health(server.live_state, server.backend_kind, webhooks=webhooks)
    server.custom_route("/healthz", methods=["GET"], include_in_schema=False)(health.respond)
    verifier = settings.static if settings.static is not None else server.bearer_verifier
    uploads = _Uploads(server.live_state, verifier, settings.security())
    server.custom_route(UPLOADS_PATH, methods=["POST"], include_in_schema=False)(uploads.receive)
    if settings.webhook_secret is not None:
        hook = ResendWebhook(settings.webhook_secret, on_event or _mirror_writer(server.live_state))
        server.custom_route(WEBHOOK_PATH, methods=["POST"], include_in_schema=False)(hook.receive)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.stateless,
        transport_security=settings.security(),
        host=settings.host,
        max_request_body_size=settings.max_body_bytes,
    )
    if settings.static is not None:
        return StaticBearer(app, settings.static)
    return app


def serve_http(server: ContactsServer, settings: HttpSettings) -> None:
    """Serve until SIGTERM or SIGINT: then stop accepting, give open requests
    `graceful_seconds`, and stop the server's jobs at a checkpoint (journaled, resumed
    by the next start)."""
    import uvicorn

    app = build_http_app(server, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # uvicorn's loggers go through the root handler, whose formatter keeps keys and
        # email addresses out of the log (cli.py), rather than handlers of their own.
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=settings.graceful_seconds,
        # Behind a proxy the client's address is the proxy's; nothing here trusts it.
        proxy_headers=False,
        server_header=False,
    )
    logger.warning(
        "contacts-mcp %s serving MCP at http://%s:%d%s (%s; %s)",
        __version__,
        settings.host,
        settings.port,
        MCP_PATH,
        "static tokens" if settings.static else "OAuth" if settings.oauth else "loopback, no auth",
        f"Resend webhooks at {WEBHOOK_PATH}"
        if settings.webhook_secret is not None
        else "Resend webhooks off: no signing secret",
    )
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for whoever
    # handles it next: here, that ends the serve as a normal exit (status 0).
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run()
    except _StoppedBySignal:
        logger.warning(
            "contacts-mcp stopped on SIGTERM: open requests were finished (or cut after "
            "%d s), running jobs paused at their last checkpoint",
            settings.graceful_seconds,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


class _StoppedBySignal(Exception):  # noqa: N818 - a way out, not an error
    """SIGTERM, after uvicorn's graceful stop."""


def _stopped(signum: int, frame: object) -> None:
    raise _StoppedBySignal
