"""Contacts in SQLite: the `contacts` table and the writes a contact create fans out to."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from contacts_mcp.emulator.store.properties import PropertyValue
from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["CONTACTS_SCHEMA", "Contact", "ContactListener", "ContactQueries"]

# `email_key` is the lower-cased email: one contact per address, whatever its case.
CONTACTS_SCHEMA = """
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
"""

_CONTACT_COLUMNS = "c.id, c.email, c.first_name, c.last_name, c.unsubscribed, c.created_at"


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    unsubscribed: bool
    created_at: str


def _contact(row: sqlite3.Row) -> Contact:
    return Contact(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


# Told of a change ("contact.created", "contact.updated" or "contact.deleted"), the contact
# after it (before it, for a delete) and its segment ids, once the change is committed.
ContactListener = Callable[[str, Contact, list[str]], None]


# Segments of more members are listed by walking the contacts in age order (where one in
# ten or more is a member); smaller ones by sorting their members.
WALK_SEGMENTS_ABOVE = 10_000


class ContactQueries(Database):
    """The `contacts` queries of `Store`, with the contact's property values.

    `contact_listener` hears of each create, update and delete made through these
    methods (webhook events). Imports write their rows in bulk, not through them, and
    so fire nothing: Resend sends no contact events for imports either.
    """

    contact_listener: ContactListener | None = None

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
        subscriptions: Mapping[str, str],
    ) -> tuple[str, bool]:
        """Insert a contact; return its id and whether it is new.

        `subscriptions` maps topic ids to "opt_in"/"opt_out". An email that already exists
        (case-insensitively) returns the existing id and writes nothing.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM contacts WHERE email_key = ?", (email.lower(),)
            ).fetchone()
            if row is not None:
                return str(row[0]), False
            contact_id, created_at = new_id(), now()
            db.execute(
                "INSERT INTO contacts (id, email, email_key, first_name, last_name, unsubscribed,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (contact_id, email, email.lower(), first_name, last_name, unsubscribed, created_at),
            )
            self._set_values(db, contact_id, values)
            db.executemany(
                "INSERT OR IGNORE INTO segment_members (segment_id, contact_id) VALUES (?, ?)",
                [(segment_id, contact_id) for segment_id in segment_ids],
            )
            db.executemany(
                "INSERT INTO topic_subscriptions (contact_id, topic_id, subscription)"
                " VALUES (?, ?, ?)",
                [(contact_id, topic_id, choice) for topic_id, choice in subscriptions.items()],
            )
        contact = Contact(contact_id, email, first_name, last_name, unsubscribed, created_at)
        self._changed("contact.created", contact, list(dict.fromkeys(segment_ids)))
        return contact_id, True

    def update_contact(self, contact: Contact, values: Mapping[str, PropertyValue | None]) -> None:
        """Store `contact`'s names and flag, and merge `values` (None clears a key)."""
        with self._write() as db:
            db.execute(
                "UPDATE contacts SET first_name = ?, last_name = ?, unsubscribed = ? WHERE id = ?",
                (contact.first_name, contact.last_name, contact.unsubscribed, contact.id),
            )
            self._set_values(db, contact.id, values)
        self._changed("contact.updated", contact)

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
        """Delete a contact; its values, memberships and subscriptions go by cascade.

        Erasing: no copy of the rows is left in the database file or its WAL.
        """
        with self._write(erase=True) as db:
            row = db.execute(
                f"SELECT {_CONTACT_COLUMNS} FROM contacts c WHERE c.id = ?",  # noqa: S608
                (contact_id,),
            ).fetchone()
            segments = [] if row is None else self._segments_of(db, contact_id)
            db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        if row is not None:
            self._changed("contact.deleted", _contact(row), segments)

    def _changed(self, kind: str, contact: Contact, segments: list[str] | None = None) -> None:
        if self.contact_listener is None:
            return
        if segments is None:
            with self._read() as db:
                segments = self._segments_of(db, contact.id)
        self.contact_listener(kind, contact, segments)

    @staticmethod
    def _segments_of(db: sqlite3.Connection, contact_id: str) -> list[str]:
        rows = db.execute(
            "SELECT segment_id FROM segment_members WHERE contact_id = ?", (contact_id,)
        ).fetchall()
        return [row[0] for row in rows]

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
            where, args = "m.segment_id = ?", (segment_id,)
            with self._read() as db:
                # Counted only up to the threshold: a whole count is a scan of the segment's
                # members on every page, which made paging a big segment quadratic.
                members = db.execute(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM segment_members WHERE segment_id = ? "
                    "LIMIT ?)",
                    (*args, WALK_SEGMENTS_ABOVE + 1),
                ).fetchone()[0]
            # SQLite reads a segment's members, then sorts them all, for every page: 78 ms
            # a page for 60,000 members. For a big segment, walking the contacts in age
            # order (CROSS JOIN fixes that order) finds a page in a few hundred rows.
            join = "CROSS JOIN" if members > WALK_SEGMENTS_ABOVE else "JOIN"
            source = f"contacts c {join} segment_members m ON m.contact_id = c.id"
        rows, has_more = self._page(
            columns=_CONTACT_COLUMNS, source=source, where=where, args=args, alias="c", page=page
        )
        return Page([_contact(row) for row in rows], has_more)
