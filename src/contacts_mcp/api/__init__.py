"""The thin Resend client: one method per endpoint, over an injected `httpx.AsyncClient`.

- `client`: `ResendClient` and its one `_request` (auth, User-Agent, pacing, retries,
  error mapping); `build_http_client` makes the `httpx.AsyncClient` it is given.
- `contacts`, `schema`, `imports`: the endpoint groups (contacts; segments, contact
  properties and topics; Contact Imports).
- `base`: what the endpoint groups share (paths, the "unset" marker, paging).
- `retry`, `pacing`: when to retry and how fast to send.
- `errors`: the exception tree and the pure mapper from a response to an exception.
- `models`: the wire models, Resend's field names and all.

It knows nothing of MCP, the services above it, or the emulator it may be talking to.
Modules are imported by their full path; this file re-exports nothing.
"""
