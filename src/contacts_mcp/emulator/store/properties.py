"""Contact-property definitions in SQLite, and the table of values contacts hold for them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["PROPERTIES_SCHEMA", "Property", "PropertyQueries", "PropertyValue"]

PropertyValue = str | int | float

# Property values and fallbacks are stored as JSON text so that 1 and 1.5 and "1" round-trip.
PROPERTIES_SCHEMA = """
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

_PROPERTY_COLUMNS = "p.id, p.key, p.type, p.fallback_value, p.created_at"


@dataclass(frozen=True, slots=True)
class Property:
    id: str
    key: str
    type: str
    fallback_value: PropertyValue | None
    created_at: str


def _property(row: sqlite3.Row) -> Property:
    fallback = None if row[3] is None else json.loads(row[3])
    return Property(row[0], row[1], row[2], fallback, row[4])


class PropertyQueries(Database):
    """The `properties` queries of `Store`."""

    def create_property(
        self, key: str, type_: str, fallback_value: PropertyValue | None
    ) -> Property | None:
        """Define a property; None when the key is taken (keys are case-sensitive)."""
        prop = Property(new_id(), key, type_, fallback_value, now())
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

    def properties_by_key(self) -> dict[str, Property]:
        """Every defined property, by key."""
        with self._read() as db:
            rows = db.execute(
                "SELECT p.id, p.key, p.type, p.fallback_value, p.created_at FROM properties p"
            ).fetchall()
        return {row[1]: _property(row) for row in rows}

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
