"""Topics in SQLite, and contacts' explicit subscriptions to them."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from contacts_mcp.emulator.store.sqlite import Database, Page, PageRequest, is_uuid, new_id, now

__all__ = ["TOPICS_SCHEMA", "ContactTopic", "Topic", "TopicQueries"]

# `name_key` is the lower-cased name: names are unique case-insensitively (our choice).
# A subscription row exists only where a contact chose explicitly; otherwise the topic's
# `default_subscription` applies.
TOPICS_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    description TEXT,
    default_subscription TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS topics_by_age ON topics (created_at, seq);
CREATE TABLE IF NOT EXISTS topic_subscriptions (
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    topic_id TEXT NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    subscription TEXT NOT NULL,
    PRIMARY KEY (contact_id, topic_id)
);
CREATE INDEX IF NOT EXISTS topic_subscriptions_by_topic ON topic_subscriptions (topic_id);
"""

_TOPIC_COLUMNS = "t.id, t.name, t.description, t.default_subscription, t.visibility, t.created_at"
_CONTACT_TOPIC_COLUMNS = (
    "t.id, t.name, t.description, COALESCE(s.subscription, t.default_subscription)"
)


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: str
    description: str | None
    default_subscription: str
    visibility: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ContactTopic:
    """A topic as one contact sees it: their own choice, or else the topic's default."""

    id: str
    name: str
    description: str | None
    subscription: str


def _topic(row: sqlite3.Row) -> Topic:
    return Topic(row[0], row[1], row[2], row[3], row[4], row[5])


def _contact_topic(row: sqlite3.Row) -> ContactTopic:
    return ContactTopic(row[0], row[1], row[2], row[3])


class TopicQueries(Database):
    """The `topics` and `topic_subscriptions` queries of `Store`."""

    def create_topic(
        self, *, name: str, description: str | None, default_subscription: str, visibility: str
    ) -> Topic | None:
        """Create a topic; None when another topic has the name (case-insensitively)."""
        topic = Topic(new_id(), name, description, default_subscription, visibility, now())
        with self._write() as db:
            inserted = db.execute(
                "INSERT INTO topics (id, name, name_key, description, default_subscription,"
                " visibility, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name_key) DO NOTHING",
                (
                    topic.id,
                    name,
                    name.lower(),
                    description,
                    default_subscription,
                    visibility,
                    topic.created_at,
                ),
            ).rowcount
        return topic if inserted else None

    def get_topic(self, topic_id: str) -> Topic | None:
        if not is_uuid(topic_id):
            return None
        with self._read() as db:
            row = db.execute(
                f"SELECT {_TOPIC_COLUMNS} FROM topics t WHERE t.id = ?",  # noqa: S608 - constant
                (topic_id.lower(),),
            ).fetchone()
        return None if row is None else _topic(row)

    def update_topic(self, topic: Topic) -> bool:
        """Store `topic`'s name, description and visibility; False if the name is taken.

        `default_subscription` is never written: it is fixed when a topic is created.
        """
        with self._write() as db:
            taken = db.execute(
                "SELECT 1 FROM topics WHERE name_key = ? AND id <> ?",
                (topic.name.lower(), topic.id),
            ).fetchone()
            if taken is not None:
                return False
            db.execute(
                "UPDATE topics SET name = ?, name_key = ?, description = ?, visibility = ?"
                " WHERE id = ?",
                (topic.name, topic.name.lower(), topic.description, topic.visibility, topic.id),
            )
        return True

    def delete_topic(self, topic_id: str) -> None:
        """Delete a topic; every contact's subscription to it goes by cascade."""
        with self._write() as db:
            db.execute("DELETE FROM topics WHERE id = ?", (topic_id,))

    def list_topics(self, page: PageRequest) -> Page[Topic]:
        rows, has_more = self._page(
            columns=_TOPIC_COLUMNS, source="topics t", where="1 = 1", args=(), alias="t", page=page
        )
        return Page([_topic(row) for row in rows], has_more)

    def set_subscriptions(self, contact_id: str, subscriptions: Mapping[str, str]) -> None:
        """Record the contact's choice ("opt_in"/"opt_out") per topic id; others stay."""
        with self._write() as db:
            db.executemany(
                "INSERT INTO topic_subscriptions (contact_id, topic_id, subscription)"
                " VALUES (?, ?, ?) ON CONFLICT (contact_id, topic_id)"
                " DO UPDATE SET subscription = excluded.subscription",
                [(contact_id, topic_id, choice) for topic_id, choice in subscriptions.items()],
            )

    def list_contact_topics(self, page: PageRequest, contact_id: str) -> Page[ContactTopic]:
        """Every topic, newest first, with the contact's subscription or the default."""
        # The join's `?` precedes the WHERE clause's in both of `_page`'s queries, so the
        # contact id can travel as the first of `args`.
        rows, has_more = self._page(
            columns=_CONTACT_TOPIC_COLUMNS,
            source="topics t LEFT JOIN topic_subscriptions s"
            " ON s.topic_id = t.id AND s.contact_id = ?",
            where="1 = 1",
            args=(contact_id,),
            alias="t",
            page=page,
        )
        return Page([_contact_topic(row) for row in rows], has_more)
