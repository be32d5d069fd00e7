"""The emulator's data on SQLite: the schema and every query, nothing about HTTP.

`Store` gathers the per-resource query classes (`_store_contacts`, `_store_segments`,
`_store_properties`, `_store_topics`) over one `Database`. Every public method is atomic:
writes run in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

from ._sqlite import Page, PageRequest, UnknownCursorError, is_uuid
from ._store_contacts import CONTACTS_SCHEMA, Contact, ContactQueries
from ._store_properties import PROPERTIES_SCHEMA, Property, PropertyQueries, PropertyValue
from ._store_segments import SEGMENTS_SCHEMA, Segment, SegmentQueries
from ._store_topics import TOPICS_SCHEMA, ContactTopic, Topic, TopicQueries

__all__ = [
    "Contact",
    "ContactTopic",
    "Page",
    "PageRequest",
    "Property",
    "PropertyValue",
    "Segment",
    "Store",
    "Topic",
    "UnknownCursorError",
    "is_uuid",
]

# `seq` in each table is the insertion order: it breaks ties between rows created in the
# same microsecond, so (created_at, seq) is a total order that cursors can point into.
_SCHEMA = CONTACTS_SCHEMA + SEGMENTS_SCHEMA + PROPERTIES_SCHEMA + TOPICS_SCHEMA


class Store(ContactQueries, SegmentQueries, PropertyQueries, TopicQueries):
    """The emulator's data. Opens its SQLite connection on first use, not on creation."""

    def __init__(self, path: str) -> None:
        super().__init__(path, _SCHEMA)
