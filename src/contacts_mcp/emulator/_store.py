"""The emulator's data on SQLite: the schema and every query, nothing about HTTP.

Every public method of `Store` is atomic: writes run in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ._sqlite import Database, Page, PageRequest, UnknownCursorError

__all__ = [
    "Contact",
    "Page",
    "PageRequest",
    "Property",
    "PropertyValue",
    "Segment",
    "Store",
    "UnknownCursorError",
    "is_uuid",
]

PropertyValue = str | int | float

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

# `seq` is the insertion order: it breaks ties between rows created in the same microsecond,
# so (created_at, seq) is a total order that cursors can point into.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    first_name TEXT,
    last_name TEXT,
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_by_age ON contacts (created_at, seq);
CREATE TABLE IF NOT EXISTS segments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_by_age ON segments (created_at, seq);
CREATE TABLE IF NOT EXISTS segment_members (
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (segment_id, contact_id)
);
CREATE INDEX IF NOT EXISTS segment_members_by_contact ON segment_members (contact_id);
CREATE TABLE IF NOT EXISTS properties (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    fallback_value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS properties_by_age ON properties (created_at, seq);
CREATE TABLE IF NOT EXISTS property_values (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    property_id TEXT NOT NULL REFERENCES properties (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (contact_id, property_id)
);
CREATE INDEX IF NOT EXISTS property_values_by_property ON property_values (property_id);
"""
# Property values and fallbacks are stored as JSON text so that 1 and 1.5 and "1" round-trip.

_CONTACT_COLUMNS = "c.id, c.email, c.first_name, c.last_name, c.unsubscribed, c.created_at"
_SEGMENT_COLUMNS = "s.id, s.name, s.created_at"
_PROPERTY_COLUMNS = "p.id, p.key, p.type, p.fallback_value, p.created_at"


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    unsubscribed: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Property:
    id: str
    key: str
    type: str
    fallback_value: PropertyValue | None
    created_at: str


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def _now() -> str:
    # Resend returns Postgres text timestamps, not ISO 8601. Six fractional digits always,
    # so that the strings sort in time order.
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _new_id() -> str:
    return str(uuid.uuid4())


def _contact(row: sqlite3.Row) -> Contact:
    return Contact(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


def _segment(row: sqlite3.Row) -> Segment:
    return Segment(row[0], row[1], row[2])


def _property(row: sqlite3.Row) -> Property:
    fallback = None if row[3] is None else json.loads(row[3])
    return Property(row[0], row[1], row[2], fallback, row[4])


class Store(Database):
    """The emulator's data. Opens its SQLite connection on first use, not on creation."""

    def __init__(self, path: str) -> None:
        super().__init__(path, _SCHEMA)

    # -- contacts ----------------------------------------------------------------------

    def find_contact(self, ref: str) -> Contact | None:
        """Look a contact up by id or, when `ref` contains "@", by email (case-insensitive)."""
        if is_uuid(ref):
            sql = "SELECT c.id, c.email, c.first_name, c.last_name, c.unsubscribed, c.created_at"
            sql += " FROM contacts c WHERE c.id = ?"
        elif "@" in ref:
            sql = "SELECT c.id, c.email, c.first_name, c.last_name, c.unsubscribed, c.created_at"
            sql += " FROM contacts c WHERE c.email_key = ?"
        else:
            return None
        with self._read() as db:
            row = db.execute(sql, (ref.lower(),)).fetchone()
        return None if row is None else _contact(row)

    def create_contact(
        self,
        *,
        email: str,
        first_name: str | None,
        last_name: str | None,
        unsubscribed: bool,
        values: Mapping[str, PropertyValue],
        segment_ids: Sequence[str],
    ) -> tuple[str, bool]:
        """Insert a contact; return its id and whether it is new.

        An email that already exists (case-insensitively) returns the existing id and
        writes nothing.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM contacts WHERE email_key = ?", (email.lower(),)
            ).fetchone()
            if row is not None:
                return str(row[0]), False
            contact_id = _new_id()
            db.execute(
                "INSERT INTO contacts (id, email, email_key, first_name, last_name, unsubscribed,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (contact_id, email, email.lower(), first_name, last_name, unsubscribed, _now()),
            )
            self._set_values(db, contact_id, values)
            db.executemany(
                "INSERT OR IGNORE INTO segment_members (segment_id, contact_id) VALUES (?, ?)",
                [(segment_id, contact_id) for segment_id in segment_ids],
            )
        return contact_id, True

    def update_contact(self, contact: Contact, values: Mapping[str, PropertyValue | None]) -> None:
        """Store `contact`'s names and flag, and merge `values` (None clears a key)."""
        with self._write() as db:
            db.execute(
                "UPDATE contacts SET first_name = ?, last_name = ?, unsubscribed = ? WHERE id = ?",
                (contact.first_name, contact.last_name, contact.unsubscribed, contact.id),
            )
            self._set_values(db, contact.id, values)

    @staticmethod
    def _set_values(
        db: sqlite3.Connection, contact_id: str, values: Mapping[str, PropertyValue | None]
    ) -> None:
        for key, value in values.items():
            if value is None:
                db.execute(
                    "DELETE FROM property_values WHERE contact_id = ?"
                    " AND property_id = (SELECT id FROM properties WHERE key = ?)",
                    (contact_id, key),
                )
            else:
                db.execute(
                    "INSERT INTO property_values (contact_id, property_id, value)"
                    " SELECT ?, id, ? FROM properties WHERE key = ?"
                    " ON CONFLICT (contact_id, property_id) DO UPDATE SET value = excluded.value",
                    (contact_id, json.dumps(value), key),
                )

    def delete_contact(self, contact_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))

    def contact_values(self, contact_id: str) -> list[tuple[str, str, PropertyValue]]:
        """(key, type, value) of every property the contact has set, oldest property first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT p.key, p.type, v.value FROM property_values v"
                " JOIN properties p ON p.id = v.property_id"
                " WHERE v.contact_id = ? ORDER BY p.seq",
                (contact_id,),
            ).fetchall()
        return [(row[0], row[1], json.loads(row[2])) for row in rows]

    def list_contacts(self, page: PageRequest, *, segment_id: str | None = None) -> Page[Contact]:
        args: tuple[str, ...] = ()
        if segment_id is None:
            source, where = "contacts c", "1 = 1"
        else:
            source = "contacts c JOIN segment_members m ON m.contact_id = c.id"
            where, args = "m.segment_id = ?", (segment_id,)
        rows, has_more = self._page(
            columns=_CONTACT_COLUMNS, source=source, where=where, args=args, alias="c", page=page
        )
        return Page([_contact(row) for row in rows], has_more)

    # -- segments ----------------------------------------------------------------------

    def create_segment(self, name: str) -> Segment:
        segment = Segment(_new_id(), name, _now())
        with self._write() as db:
            db.execute(
                "INSERT INTO segments (id, name, created_at) VALUES (?, ?, ?)",
                (segment.id, segment.name, segment.created_at),
            )
        return segment

    def get_segment(self, segment_id: str) -> Segment | None:
        if not is_uuid(segment_id):
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT s.id, s.name, s.created_at FROM segments s WHERE s.id = ?",
                (segment_id.lower(),),
            ).fetchone()
        return None if row is None else _segment(row)

    def rename_segment(self, segment_id: str, name: str) -> None:
        with self._write() as db:
            db.execute("UPDATE segments SET name = ? WHERE id = ?", (name, segment_id))

    def delete_segment(self, segment_id: str) -> None:
        """Delete a segment and its memberships; the member contacts stay."""
        with self._write() as db:
            db.execute("DELETE FROM segments WHERE id = ?", (segment_id.lower(),))

    def add_member(self, segment_id: str, contact_id: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO segment_members (segment_id, contact_id) VALUES (?, ?)",
                (segment_id, contact_id),
            )

    def remove_member(self, segment_id: str, contact_id: str) -> None:
        with self._write() as db:
            db.execute(
                "DELETE FROM segment_members WHERE segment_id = ? AND contact_id = ?",
                (segment_id, contact_id),
            )

    def list_segments(self, page: PageRequest, *, contact_id: str | None = None) -> Page[Segment]:
        args: tuple[str, ...] = ()
        if contact_id is None:
            source, where = "segments s", "1 = 1"
        else:
            source = "segments s JOIN segment_members m ON m.segment_id = s.id"
            where, args = "m.contact_id = ?", (contact_id,)
        rows, has_more = self._page(
            columns=_SEGMENT_COLUMNS, source=source, where=where, args=args, alias="s", page=page
        )
        return Page([_segment(row) for row in rows], has_more)

    # -- contact properties ------------------------------------------------------------

    def create_property(
        self, key: str, type_: str, fallback_value: PropertyValue | None
    ) -> Property | None:
        """Define a property; None when the key is taken (keys are case-sensitive)."""
        prop = Property(_new_id(), key, type_, fallback_value, _now())
        fallback = None if fallback_value is None else json.dumps(fallback_value)
        with self._write() as db:
            inserted = db.execute(
                "INSERT INTO properties (id, key, type, fallback_value, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (prop.id, key, type_, fallback, prop.created_at),
            ).rowcount
        return prop if inserted else None

    def get_property(self, property_id: str) -> Property | None:
        if not is_uuid(property_id):
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT p.id, p.key, p.type, p.fallback_value, p.created_at"
                " FROM properties p WHERE p.id = ?",
                (property_id.lower(),),
            ).fetchone()
        return None if row is None else _property(row)

    def property_types(self) -> dict[str, str]:
        """Every defined property key and its type."""
        with self._read() as db:
            return {row[0]: row[1] for row in db.execute("SELECT key, type FROM properties")}

    def set_fallback(self, property_id: str, fallback_value: PropertyValue | None) -> None:
        fallback = None if fallback_value is None else json.dumps(fallback_value)
        with self._write() as db:
            db.execute(
                "UPDATE properties SET fallback_value = ? WHERE id = ?", (fallback, property_id)
            )

    def delete_property(self, property_id: str) -> None:
        """Delete a definition; its value disappears from every contact (by cascade)."""
        with self._write() as db:
            db.execute("DELETE FROM properties WHERE id = ?", (property_id,))

    def list_properties(self, page: PageRequest) -> Page[Property]:
        rows, has_more = self._page(
            columns=_PROPERTY_COLUMNS,
            source="properties p",
            where="1 = 1",
            args=(),
            alias="p",
            page=page,
        )
        return Page([_property(row) for row in rows], has_more)
