"""The on-disk record of one import, so a crashed or cancelled import can resume.

One SQLite file per import (keyed by the file's content and the import's options) holds
which rows are done and how, the contacts that already existed, the addresses this
import sent a create for, and for API imports which parts were uploaded as which import
job. (Which row of a repeated email wins needs no record: it is always the first in the
file, and every run reads the file from the top.) Writes are batched: a crash loses at
most the last batch, and those rows are simply done again — every row operation is
idempotent. A row done again whose contact this import created (the create is written
down before it is sent) counts as created, not as an existing contact skipped or updated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contacts_mcp.services import sharing

__all__ = ["ExistingContact", "Journal", "Outcome", "PartRecord", "email_key"]

Outcome = Literal["created", "updated", "skipped", "failed", "duplicate"]
FLUSH_EVERY_ROWS = 200
FLUSH_EVERY_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS done (
    row INTEGER PRIMARY KEY, outcome TEXT NOT NULL, email TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS existing (
    email_key TEXT PRIMARY KEY, id TEXT NOT NULL, unsubscribed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS creating (
    email_key TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS parts (
    part INTEGER PRIMARY KEY, grp TEXT NOT NULL, import_id TEXT, rows INTEGER NOT NULL,
    finished INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (
    name TEXT PRIMARY KEY, value TEXT NOT NULL
);
"""


@dataclass
class PartRecord:
    """One uploaded (or to-be-uploaded) part of an API import."""

    number: int
    group: str
    import_id: str | None
    rows: int
    finished: bool = False


@dataclass(frozen=True)
class ExistingContact:
    id: str
    unsubscribed: bool


def email_key(email: str) -> str:
    # Matching is case-insensitive, as Resend's appears to be (see the reference, §14.4).
    return email.casefold()


class Journal:
    """One import's progress record. Not thread-safe: use it from one task at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Used from one task at a time, but that task may hop to a worker thread (the API
        # strategy writes its CSV parts off the event loop).
        self._db = sharing.connect(path)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.create_function("email_key", 1, email_key, deterministic=True)
        self._pending: list[tuple[int, str, str | None, str | None]] = []
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _transaction(self) -> AbstractContextManager[None]:
        # One commit for a whole batch, where autocommit would make one per row.
        return sharing.write_transaction(self._db)

    # -- rows -------------------------------------------------------------------------

    def record(self, row: int, outcome: Outcome, email: str | None, detail: str | None) -> None:
        """Mark a row done; written to disk in batches."""
        self._pending.append((row, outcome, email, detail))
        now = time.monotonic()
        if len(self._pending) >= FLUSH_EVERY_ROWS or now - self._last_flush >= FLUSH_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO done (row, outcome, email, detail) VALUES (?, ?, ?, ?)",
                    self._pending,
                )
            self._pending.clear()
        self._last_flush = time.monotonic()

    def done_rows(self) -> frozenset[int]:
        self.flush()
        return frozenset(int(r) for (r,) in self._db.execute("SELECT row FROM done"))

    def forget_missing(self) -> int:
        """Un-mark rows whose contact no longer exists; returns how many.

        Run after `existing` is refreshed: a row recorded as created or updated whose
        email is not among the existing contacts (the database was reset, or someone
        deleted it since) must be done again for the final state to be exact.
        """
        self.flush()
        with self._transaction():
            cursor = self._db.execute(
                "DELETE FROM done WHERE outcome IN ('created', 'updated', 'skipped') "
                "AND email IS NOT NULL AND email_key(email) NOT IN (SELECT email_key FROM existing)"
            )
        return max(cursor.rowcount, 0)

    def reset(self) -> None:
        """Forget everything: the import starts over."""
        self._pending.clear()
        with self._transaction():
            for table in ("done", "existing", "creating", "parts", "facts"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def counts(self) -> dict[str, int]:
        self.flush()
        return {
            str(outcome): int(n)
            for outcome, n in self._db.execute(
                "SELECT outcome, COUNT(*) FROM done GROUP BY outcome"
            )
        }

    def failures(self) -> Iterator[tuple[int, str, str]]:
        """(row, email, reason) of every failed or duplicate row, in file order."""
        self.flush()
        query = (
            "SELECT row, COALESCE(email, ''), COALESCE(detail, '') FROM done "
            "WHERE outcome IN ('failed', 'duplicate') ORDER BY row"
        )
        for row, email, detail in self._db.execute(query):
            yield int(row), str(email), str(detail)

    # -- contacts that already exist --------------------------------------------------

    def clear_existing(self) -> None:
        self._db.execute("DELETE FROM existing")

    def add_existing(self, contacts: Iterable[tuple[str, str, bool]]) -> None:
        """Store (email, id, unsubscribed) of contacts that exist before the import."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO existing (email_key, id, unsubscribed) VALUES (?, ?, ?)",
                ((email_key(e), i, int(u)) for e, i, u in contacts),
            )

    def existing(self, email: str) -> ExistingContact | None:
        found = self._db.execute(
            "SELECT id, unsubscribed FROM existing WHERE email_key = ?", (email_key(email),)
        ).fetchone()
        return (
            None
            if found is None
            else ExistingContact(id=str(found[0]), unsubscribed=bool(found[1]))
        )

    def mark_existing(self, email: str, contact_id: str, unsubscribed: bool) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO existing (email_key, id, unsubscribed) VALUES (?, ?, ?)",
            (email_key(email), contact_id, int(unsubscribed)),
        )

    def will_create(self, email: str) -> None:
        """Write down, before it is sent, that this import creates the contact at `email`
        (at once, not batched: the create may land even if this process dies)."""
        self._db.execute(
            "INSERT OR IGNORE INTO creating (email_key) VALUES (?)", (email_key(email),)
        )

    def created_here(self, email: str) -> bool:
        """Whether this import sent a create for `email` (in this run or an earlier one)."""
        found = self._db.execute(
            "SELECT 1 FROM creating WHERE email_key = ?", (email_key(email),)
        ).fetchone()
        return found is not None

    # -- what a run noted for later (the newest contact before an API import) ---------

    def fact(self, name: str) -> str | None:
        found = self._db.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
        return None if found is None else str(found[0])

    def note_fact(self, name: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO facts (name, value) VALUES (?, ?)", (name, value))

    # -- API import parts -------------------------------------------------------------

    def parts(self) -> list[PartRecord]:
        return [
            PartRecord(int(part), str(grp), None if job is None else str(job), int(rows), bool(fin))
            for part, grp, job, rows, fin in self._db.execute(
                "SELECT part, grp, import_id, rows, finished FROM parts ORDER BY part"
            )
        ]

    def save_part(self, part: PartRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO parts (part, grp, import_id, rows, finished) "
            "VALUES (?, ?, ?, ?, ?)",
            (part.number, part.group, part.import_id, part.rows, int(part.finished)),
        )
