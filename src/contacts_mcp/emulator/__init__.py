"""A local, Resend-compatible contacts API (Starlette on SQLite).

It serves contacts, segments, contact properties, topics and CSV contact imports (applied
in the background), and speaks Resend's wire format — status codes, error bodies, list
envelopes, timestamps, id-or-email paths — so the project's client and Resend's official
SDKs work against it unchanged, in-process over `httpx.ASGITransport` or over HTTP under
uvicorn. It can also enforce a rate limit and inject faults (429/500/503, latency,
responses lost after a write) for reliability tests and benchmarks.

    app = create_app(EmulatorOptions(db_path="contacts.db", rate_limit=10))
"""

from contacts_mcp.emulator.app import create_app
from contacts_mcp.emulator.limits import ResponseLost
from contacts_mcp.emulator.options import EmulatorOptions

__all__ = ["EmulatorOptions", "ResponseLost", "create_app"]
