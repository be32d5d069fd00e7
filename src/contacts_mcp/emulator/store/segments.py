"""Segments in SQLite, and which contacts are members of them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["SEGMENTS_SCHEMA", "Segment", "SegmentQueries"]

SEGMENTS_SCHEMA = """
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
"""

_SEGMENT_COLUMNS = "s.id, s.name, s.created_at"


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    created_at: str


def _segment(row: sqlite3.Row) -> Segment:
    return Segment(row[0], row[1], row[2])


class SegmentQueries(Database):
    """The `segments` and `segment_members` queries of `Store`."""

    def create_segment(self, name: str) -> Segment:
        segment = Segment(new_id(), name, now())
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
