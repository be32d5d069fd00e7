"""Suppressions in SQLite: the addresses the team will not send to (a Resend beta)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["SUPPRESSIONS_SCHEMA", "Suppression", "SuppressionQueries"]

# `email` is stored trimmed and lower-cased, as Resend does (its Ruby SDK documents it):
# one suppression per address, whatever its case. `origin` is why the address is
# suppressed; the API adds only "manual" ones, bounces and complaints add the others.
SUPPRESSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS suppressions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL DEFAULT 'manual',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS suppressions_by_age ON suppressions (created_at, seq);
"""

_COLUMNS = "x.id, x.email, x.origin, x.created_at"


@dataclass(frozen=True, slots=True)
class Suppression:
    id: str
    email: str
    origin: str
    created_at: str


def _suppression(row: sqlite3.Row) -> Suppression:
    return Suppression(row[0], row[1], row[2], row[3])


class SuppressionQueries(Database):
    """The `suppressions` queries of `Store`. Emails given to them are already normalised
    (trimmed, lower-cased)."""

    def add_suppressions(self, emails: Sequence[str]) -> list[str]:
        """Suppress each address; the ids in the same order. An address already
        suppressed keeps its suppression (and id): adding is idempotent."""
        ids = []
        with self._write() as db:
            for email in emails:
                db.execute(
                    "INSERT INTO suppressions (id, email, created_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (email) DO NOTHING",
                    (new_id(), email, now()),
                )
                row = db.execute("SELECT id FROM suppressions WHERE email = ?", (email,))
                ids.append(str(row.fetchone()[0]))
        return ids

    def find_suppression(self, ref: str) -> Suppression | None:
        """Look a suppression up by id or, when `ref` contains "@", by email."""
        if is_uuid(ref):
            where = "x.id = ?"
        elif "@" in ref:
            where = "x.email = ?"
        else:
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM suppressions x WHERE {where}",  # noqa: S608 - constants
                (ref.strip().lower(),),
            ).fetchone()
        return None if row is None else _suppression(row)

    def delete_suppression(self, suppression_id: str) -> None:
        # Erasing: an address taken off the list is personal data the team let go of.
        with self._write(erase=True) as db:
            db.execute("DELETE FROM suppressions WHERE id = ?", (suppression_id,))

    def list_suppressions(self, page: PageRequest) -> Page[Suppression]:
        rows, has_more = self._page(
            columns=_COLUMNS, source="suppressions x", where="1 = 1", args=(), alias="x", page=page
        )
        return Page([_suppression(row) for row in rows], has_more)
