"""The emulator's Starlette app: route table, error handlers and lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contacts_mcp.emulator.limits import Gate, ResponseLost
from contacts_mcp.emulator.options import EmulatorOptions
from contacts_mcp.emulator.routes import contacts as contacts
from contacts_mcp.emulator.routes import imports as imports
from contacts_mcp.emulator.routes import properties as properties
from contacts_mcp.emulator.routes import segments as segments
from contacts_mcp.emulator.routes import suppressions as suppressions
from contacts_mcp.emulator.routes import topics as topics
from contacts_mcp.emulator.routes import webhooks as webhooks
from contacts_mcp.emulator.store import Store
from contacts_mcp.emulator.webhooks import Deliveries
from contacts_mcp.emulator.wire import ApiError, error_response

__all__ = ["create_app"]

logger = logging.getLogger("contacts_mcp.emulator")

# Order matters where paths overlap: routes for `/contacts/imports…` must come before
# `/contacts/{contact}`, which would otherwise take "imports" as a contact.
ROUTES = [
    Route("/contacts/imports", imports.create_import, methods=["POST"]),
    Route("/contacts/imports", imports.list_imports, methods=["GET"]),
    Route("/contacts/imports/{import_id}", imports.get_import, methods=["GET"]),
    Route("/contacts", contacts.create_contact, methods=["POST"]),
    Route("/contacts", contacts.list_contacts, methods=["GET"]),
    Route("/contacts/{contact}", contacts.get_contact, methods=["GET"]),
    Route("/contacts/{contact}", contacts.update_contact, methods=["PATCH"]),
    Route("/contacts/{contact}", contacts.delete_contact, methods=["DELETE"]),
    Route("/contacts/{contact}/segments", segments.list_contact_segments, methods=["GET"]),
    Route(
        "/contacts/{contact}/segments/{segment_id}",
        segments.add_contact_to_segment,
        methods=["POST"],
    ),
    Route(
        "/contacts/{contact}/segments/{segment_id}",
        segments.remove_contact_from_segment,
        methods=["DELETE"],
    ),
    Route("/contacts/{contact}/topics", topics.list_contact_topics, methods=["GET"]),
    Route("/contacts/{contact}/topics", topics.update_contact_topics, methods=["PATCH"]),
    Route("/segments", segments.create_segment, methods=["POST"]),
    Route("/segments", segments.list_segments, methods=["GET"]),
    Route("/segments/{segment_id}", segments.get_segment, methods=["GET"]),
    Route("/segments/{segment_id}", segments.update_segment, methods=["PATCH"]),
    Route("/segments/{segment_id}", segments.delete_segment, methods=["DELETE"]),
    Route("/segments/{segment_id}/contacts", contacts.list_segment_contacts, methods=["GET"]),
    Route("/contact-properties", properties.create_property, methods=["POST"]),
    Route("/contact-properties", properties.list_properties, methods=["GET"]),
    Route("/contact-properties/{property_id}", properties.get_property, methods=["GET"]),
    Route("/contact-properties/{property_id}", properties.update_property, methods=["PATCH"]),
    Route("/contact-properties/{property_id}", properties.delete_property, methods=["DELETE"]),
    Route("/topics", topics.create_topic, methods=["POST"]),
    Route("/topics", topics.list_topics, methods=["GET"]),
    Route("/topics/{topic_id}", topics.get_topic, methods=["GET"]),
    Route("/topics/{topic_id}", topics.update_topic, methods=["PATCH"]),
    Route("/topics/{topic_id}", topics.delete_topic, methods=["DELETE"]),
    Route("/suppressions", suppressions.add_suppression, methods=["POST"]),
    Route("/suppressions", suppressions.list_suppressions, methods=["GET"]),
    Route("/suppressions/batch/add", suppressions.add_suppressions, methods=["POST"]),
    Route("/suppressions/{suppression}", suppressions.get_suppression, methods=["GET"]),
    Route("/suppressions/{suppression}", suppressions.delete_suppression, methods=["DELETE"]),
    Route("/webhooks", webhooks.create_webhook, methods=["POST"]),
    Route("/webhooks", webhooks.list_webhooks, methods=["GET"]),
    Route("/webhooks/{webhook_id}", webhooks.get_webhook, methods=["GET"]),
    Route("/webhooks/{webhook_id}", webhooks.update_webhook, methods=["PATCH"]),
    Route("/webhooks/{webhook_id}", webhooks.delete_webhook, methods=["DELETE"]),
]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.name, exc.message)


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names only the first route that matched the path; there is one route
    # per method here, so gather them all.
    path = request.scope["path"]
    methods = {
        method
        for route in ROUTES
        if route.methods and route.path_regex.fullmatch(path)
        for method in route.methods
    }
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing failures (unknown path, wrong method) in Resend's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(
            405,
            "method_not_allowed",
            "Method not allowed",
            {"allow": _allowed_methods(request)},
        )
    if exc.status_code == 404:
        return error_response(404, "not_found", "The requested endpoint does not exist.")
    return error_response(exc.status_code, "application_error", exc.detail)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette sends this response and then re-raises, so uvicorn logs the traceback too and
    # an in-process caller (httpx.ASGITransport) sees the exception unless it opts out.
    if not isinstance(exc, ResponseLost):  # a planned fault, logged by the Gate
        logger.error("Unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_server_error", "An unexpected error occurred.")


def create_app(options: EmulatorOptions | None = None) -> Starlette:
    """Build a Resend-compatible contacts API on SQLite.

    Cheap: the database is opened by the lifespan or, where no lifespan runs (as under
    `httpx.ASGITransport`), by the first request. `app.state.store` is the store; closing
    it also stops the contact imports running in the background (`store.imports`).
    `app.state.webhooks` (`Deliveries`) sends webhook events: the lifespan runs it; an
    in-process caller runs `app.state.webhooks.running()` itself.
    """
    options = options or EmulatorOptions()
    store = Store(options.db_path, import_delay=options.import_delay)
    deliveries = Deliveries(
        store, sender=options.webhook_sender, retry_delays=options.webhook_retry_delays
    )
    store.contact_listener = deliveries.contact_changed

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.open()  # fail at startup, not at the first request, if the file is unusable
        try:
            async with deliveries.running():
                yield
        finally:
            store.close()

    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(Gate, options=options)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    # Resend does not redirect `/contacts/` to `/contacts`; a 307 would only confuse clients.
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.options = options
    app.state.webhooks = deliveries
    return app
