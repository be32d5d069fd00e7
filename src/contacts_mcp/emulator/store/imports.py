"""Contact imports in SQLite: the `imports` table and applying CSV rows in batches.

A batch is applied set-wise: its valid rows go into a temporary staging table, and a few
statements decide duplicates, conflicts and creations for all of them at once. That keeps
a multi-million-row import at tens of thousands of rows a second, where one statement per
row (or `create_contact` per row) would be several times slower.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contacts_mcp.emulator.store.properties import PropertyValue
from contacts_mcp.emulator.store.sqlite import (
    Database,
    Page,
    PageRequest,
    is_uuid,
    new_id,
    new_ids,
    now,
)

__all__ = [
    "IMPORTS_SCHEMA",
    "IMPORT_STATUSES",
    "ContactImport",
    "ImportCounts",
    "ImportPlan",
    "ImportQueries",
    "ImportRow",
]

IMPORT_STATUSES = ("queued", "in_progress", "completed", "failed")

IMPORTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS imports_by_age ON imports (created_at, seq);
"""

# Per-connection scratch tables (SQLite's `temp` schema); imports run one at a time.
# `import_seen` holds the `seq` of every contact the import has applied a row to, so that a
# later row for the same contact counts as a duplicate without keeping millions of
# addresses in Python. Integer keys, mostly ascending (new contacts), keep it cheap where
# an index of email addresses would be the slowest part of a large import.
_SCRATCH = """
CREATE TEMP TABLE IF NOT EXISTS import_seen (seq INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS import_batch (
    n INTEGER PRIMARY KEY,
    new_id TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    unsubscribed INTEGER,
    contact_id TEXT,
    contact_seq INTEGER
);
CREATE TEMP TABLE IF NOT EXISTS import_values (n INTEGER NOT NULL, property_id TEXT NOT NULL,
    value TEXT NOT NULL);
DELETE FROM temp.import_seen;
"""
_DROP_SCRATCH = """
DROP TABLE IF EXISTS temp.import_seen;
DROP TABLE IF EXISTS temp.import_batch;
DROP TABLE IF EXISTS temp.import_values;
"""

# Values are stored as JSON text, like `store.contacts` does; one encoder saves json.dumps'
# per-call setup, which shows in a million-row import.
_encode = json.JSONEncoder().encode

_IMPORT_COLUMNS = (
    "i.id, i.status, i.created_at, i.completed_at, i.total, i.created, i.updated, i.skipped,"
    " i.failed"
)


@dataclass(frozen=True, slots=True)
class ImportCounts:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class ContactImport:
    id: str
    status: str
    created_at: str
    completed_at: str | None
    counts: ImportCounts


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid CSV row, ready to apply. None means "not in the file": leave it as it is."""

    email: str
    first_name: str | None
    last_name: str | None
    unsubscribed: bool | None
    values: tuple[PropertyValue | None, ...]
    """One value per `ImportPlan.property_ids`, in that order."""


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What applies to every row of one import."""

    on_conflict: str
    """"upsert" updates contacts that already exist; "skip" leaves them untouched."""
    property_ids: tuple[str, ...]
    segment_ids: tuple[str, ...]
    subscriptions: Mapping[str, str]
    """Topic id -> "opt_in"/"opt_out"."""


def _import(row: sqlite3.Row) -> ContactImport:
    return ContactImport(row[0], row[1], row[2], row[3], ImportCounts(*row[4:9]))


class ImportQueries(Database):
    """The `imports` queries of `Store`, and the set-wise application of CSV rows."""

    def create_import(self) -> ContactImport:
        job = ContactImport(new_id(), "queued", now(), None, ImportCounts())
        with self._write() as db:
            db.execute(
                "INSERT INTO imports (id, status, created_at) VALUES (?, ?, ?)",
                (job.id, job.status, job.created_at),
            )
        return job

    def get_import(self, import_id: str) -> ContactImport | None:
        if not is_uuid(import_id):
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {_IMPORT_COLUMNS} FROM imports i WHERE i.id = ?",  # noqa: S608 - constant
                (import_id.lower(),),
            ).fetchone()
        return None if row is None else _import(row)

    def list_imports(self, page: PageRequest, *, status: str | None = None) -> Page[ContactImport]:
        narrow, narrow_args = ("", ()) if status is None else (" AND i.status = ?", (status,))
        rows, has_more = self._page(
            columns=_IMPORT_COLUMNS,
            source="imports i",
            where="1 = 1",
            args=(),
            alias="i",
            page=page,
            narrow=narrow,
            narrow_args=narrow_args,
        )
        return Page([_import(row) for row in rows], has_more)

    def start_import(self, import_id: str) -> None:
        """Mark an import in progress and get the scratch tables ready for its rows."""
        with self._write() as db:
            db.execute("UPDATE imports SET status = 'in_progress' WHERE id = ?", (import_id,))
        with self._read() as db:
            # Outside a transaction: executescript would commit one.
            db.executescript(_SCRATCH)

    def count_import_rows(self, import_id: str, total: int) -> None:
        with self._write() as db:
            db.execute("UPDATE imports SET total = ? WHERE id = ?", (total, import_id))

    def finish_import(self, import_id: str, status: str) -> None:
        """Set the final status ("completed"/"failed") and drop the scratch tables."""
        with self._write() as db:
            db.execute(
                "UPDATE imports SET status = ?, completed_at = ? WHERE id = ?",
                (status, now(), import_id),
            )
        with self._read() as db:
            db.executescript(_DROP_SCRATCH)

    def fail_unfinished_imports(self, import_ids: Sequence[str]) -> None:
        """Fail these imports if still queued or running: their files are gone with the
        worker. Only these: another process's emulator may be running others."""
        with self._write() as db:
            db.execute(
                "UPDATE imports SET status = 'failed', completed_at = ?"
                " WHERE status IN ('queued', 'in_progress')"
                " AND id IN (SELECT value FROM json_each(?))",
                (now(), json.dumps(list(import_ids))),
            )

    def apply_import_rows(
        self, import_id: str, plan: ImportPlan, rows: Sequence[ImportRow], failed: int
    ) -> None:
        """Apply one batch of valid rows in one transaction, and add to the import's counts.

        `failed` counts the batch's rows that were invalid before they got here. Rows whose
        email an earlier row of the file already used (case-insensitively) fail too: the
        first occurrence wins. `start_import` must have run on this connection.
        """
        # Duplicates inside the batch are cheap to find here; duplicates of earlier batches
        # are found in SQL, against `import_seen`.
        staged: dict[str, tuple[object, ...]] = {}
        values: list[tuple[int, str, str]] = []
        ids = new_ids(len(rows))
        property_ids = plan.property_ids
        for n, row in enumerate(rows):
            key = row.email.lower()
            if key in staged:
                failed += 1
                continue
            unsubscribed = None if row.unsubscribed is None else int(row.unsubscribed)
            staged[key] = (n, ids[n], row.email, key, row.first_name, row.last_name, unsubscribed)
            for property_id, value in zip(property_ids, row.values, strict=True):
                if value is not None:
                    values.append((n, property_id, _encode(value)))
        with self._write() as db:
            db.execute("DELETE FROM temp.import_batch")
            db.execute("DELETE FROM temp.import_values")
            db.executemany(
                "INSERT INTO temp.import_batch (n, new_id, email, email_key, first_name,"
                " last_name, unsubscribed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                staged.values(),
            )
            db.executemany(
                "INSERT INTO temp.import_values (n, property_id, value) VALUES (?, ?, ?)", values
            )
            db.execute(
                "UPDATE temp.import_batch SET contact_id = c.id, contact_seq = c.seq"
                " FROM contacts c WHERE c.email_key = import_batch.email_key"
            )
            failed += db.execute(
                "DELETE FROM temp.import_batch"
                " WHERE contact_seq IN (SELECT seq FROM temp.import_seen)"
            ).rowcount
            db.execute(
                "INSERT INTO temp.import_seen SELECT contact_seq FROM temp.import_batch"
                " WHERE contact_seq IS NOT NULL"
            )
            created, updated, skipped = self._write_contacts(db, plan)
            db.execute(
                "INSERT INTO temp.import_seen SELECT c.seq FROM temp.import_batch b"
                " JOIN contacts c ON c.id = b.contact_id WHERE b.contact_seq IS NULL"
            )
            self._write_memberships(db, plan)
            db.execute(
                "UPDATE imports SET created = created + ?, updated = updated + ?,"
                " skipped = skipped + ?, failed = failed + ? WHERE id = ?",
                (created, updated, skipped, failed, import_id),
            )

    @staticmethod
    def _write_contacts(db: sqlite3.Connection, plan: ImportPlan) -> tuple[int, int, int]:
        """Create, update or skip the staged rows; return how many of each."""
        updated = skipped = 0
        if plan.on_conflict == "skip":
            # Untouched means untouched: no fields, properties, segments or topics.
            skipped = db.execute(
                "DELETE FROM temp.import_batch WHERE contact_id IS NOT NULL"
            ).rowcount
        else:
            # Only what the file sets; an empty cell keeps the contact's value. The email's
            # spelling stays as first stored.
            updated = db.execute(
                "UPDATE contacts SET first_name = COALESCE(b.first_name, contacts.first_name),"
                " last_name = COALESCE(b.last_name, contacts.last_name),"
                " unsubscribed = COALESCE(b.unsubscribed, contacts.unsubscribed)"
                " FROM temp.import_batch b WHERE b.contact_id = contacts.id"
            ).rowcount
        # One timestamp per batch; `seq` (in file order, by ORDER BY) breaks the ties.
        created = db.execute(
            "INSERT INTO contacts (id, email, email_key, first_name, last_name, unsubscribed,"
            " created_at) SELECT new_id, email, email_key, first_name, last_name,"
            " COALESCE(unsubscribed, 0), ? FROM temp.import_batch WHERE contact_id IS NULL"
            " ORDER BY n",
            (now(),),
        ).rowcount
        db.execute("UPDATE temp.import_batch SET contact_id = new_id WHERE contact_id IS NULL")
        return created, updated, skipped

    @staticmethod
    def _write_memberships(db: sqlite3.Connection, plan: ImportPlan) -> None:
        """Property values, segments and topics of the staged (created or updated) rows.

        Each joins the live definition, so a property, segment or topic deleted while the
        import runs is left out instead of breaking a foreign key. The `WHERE true` tells
        SQLite's parser that `ON CONFLICT` belongs to the INSERT, not to a join.
        """
        db.execute(
            "INSERT INTO property_values (contact_id, property_id, value)"
            " SELECT b.contact_id, p.id, v.value FROM temp.import_values v"
            " JOIN temp.import_batch b ON b.n = v.n JOIN properties p ON p.id = v.property_id"
            " WHERE true"
            " ON CONFLICT (contact_id, property_id) DO UPDATE SET value = excluded.value"
        )
        if plan.segment_ids:
            db.execute(
                "INSERT OR IGNORE INTO segment_members (segment_id, contact_id)"
                " SELECT s.id, b.contact_id FROM temp.import_batch b"
                " JOIN segments s ON s.id IN (SELECT value FROM json_each(?))",
                (json.dumps(plan.segment_ids),),
            )
        if plan.subscriptions:
            # An existing contact (upsert) takes the import's choice over its own.
            db.execute(
                "INSERT INTO topic_subscriptions (contact_id, topic_id, subscription)"
                " SELECT b.contact_id, t.id, j.value FROM temp.import_batch b"
                " JOIN json_each(?) j JOIN topics t ON t.id = j.key"
                " WHERE true ON CONFLICT (contact_id, topic_id)"
                " DO UPDATE SET subscription = excluded.subscription",
                (json.dumps(dict(plan.subscriptions)),),
            )
