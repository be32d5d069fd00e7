"""A fake Resend for client tests: canned JSON answers through `httpx.MockTransport`."""

import json
from typing import Any

import httpx

from contacts_mcp.api.client import ResendClient, build_http_client
from contacts_mcp.api.pacing import RatePacer


class Wire:
    """Answers every request with `reply` and keeps what was sent."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return httpx.Response(200, json=reply)

    def sent(self, index: int = 0) -> tuple[str, str, Any]:
        request = self.requests[index]
        body = json.loads(request.content) if request.content else None
        return request.method, request.url.raw_path.decode(), body


def client_for(wire: Wire) -> tuple[httpx.AsyncClient, ResendClient]:
    http = build_http_client(base_url="https://api.resend.com", transport=httpx.MockTransport(wire))
    return http, ResendClient(http, api_key="re_test", pacer=RatePacer(rate_limit=None))
