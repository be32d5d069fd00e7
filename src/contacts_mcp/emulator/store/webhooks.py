"""Webhook endpoints in SQLite: where events go, which ones, and the secret they are signed with."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["WEBHOOKS_SCHEMA", "Webhook", "WebhookQueries", "WebhookStatus"]

WEBHOOKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    endpoint TEXT NOT NULL,
    events TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'enabled',
    signing_secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_age ON webhooks (created_at, seq);
"""

WebhookStatus = Literal["enabled", "disabled"]
_COLUMNS = "w.id, w.endpoint, w.events, w.status, w.signing_secret, w.created_at"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    endpoint: str
    events: tuple[str, ...]
    status: WebhookStatus
    signing_secret: str
    created_at: str


def _webhook(row: sqlite3.Row) -> Webhook:
    status: WebhookStatus = "disabled" if row[3] == "disabled" else "enabled"
    return Webhook(row[0], row[1], tuple(json.loads(row[2])), status, row[4], row[5])


def new_signing_secret() -> str:
    """A secret in Svix's form: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


class WebhookQueries(Database):
    """The `webhooks` queries of `Store`."""

    def create_webhook(self, endpoint: str, events: Sequence[str]) -> Webhook:
        webhook = Webhook(new_id(), endpoint, tuple(events), "enabled", new_signing_secret(), now())
        with self._write() as db:
            db.execute(
                "INSERT INTO webhooks (id, endpoint, events, status, signing_secret, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    webhook.id,
                    webhook.endpoint,
                    json.dumps(list(webhook.events)),
                    webhook.status,
                    webhook.signing_secret,
                    webhook.created_at,
                ),
            )
        return webhook

    def get_webhook(self, webhook_id: str) -> Webhook | None:
        if not is_uuid(webhook_id):
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM webhooks w WHERE w.id = ?",  # noqa: S608 - a constant
                (webhook_id.lower(),),
            ).fetchone()
        return None if row is None else _webhook(row)

    def update_webhook(self, webhook: Webhook) -> None:
        """Store `webhook`'s endpoint, events and status."""
        with self._write() as db:
            db.execute(
                "UPDATE webhooks SET endpoint = ?, events = ?, status = ? WHERE id = ?",
                (webhook.endpoint, json.dumps(list(webhook.events)), webhook.status, webhook.id),
            )

    def delete_webhook(self, webhook_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))

    def list_webhooks(self, page: PageRequest) -> Page[Webhook]:
        rows, has_more = self._page(
            columns=_COLUMNS, source="webhooks w", where="1 = 1", args=(), alias="w", page=page
        )
        return Page([_webhook(row) for row in rows], has_more)

    def webhooks_for(self, event_type: str) -> list[Webhook]:
        """The enabled webhooks subscribed to `event_type`, oldest first."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM webhooks w WHERE w.status = 'enabled'"  # noqa: S608
                " ORDER BY w.seq"
            ).fetchall()
        return [hook for hook in map(_webhook, rows) if event_type in hook.events]
