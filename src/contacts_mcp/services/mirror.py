"""A per-account SQLite mirror of a Resend account's contacts, for searches and counts.

Resend has no search: it lists contacts a page at a time, without their properties, and
returns properties one contact at a time. A question like "how many contacts at acme.com
on the pro plan are not in the Customers segment" would take hundreds of requests. The
mirror keeps a copy of every contact, its properties when known, and segment memberships,
so that such questions take milliseconds over 100,000 contacts.

Full sync: staging, then an atomic swap. A full sync writes into `staged_*` tables of the
same shape as the live ones, one page per transaction together with its checkpoint (list
cursor, segment, phase): a crash loses at most the page in flight, and `begin_full_sync`
resumes from the saved checkpoint. Searches keep reading the live tables meanwhile.
`finish_full_sync` drops the live tables and renames the staged ones in their place (the
memberships are rebuilt from the staged ones, joined to the new contacts), all in one
transaction, so no reader ever sees half of one sync and half of another; the live indexes
are built then, in one sorted pass each, which is faster than maintaining them row by row.

Where every fact came from, and when (the truth model). Each fact carries its source
(`Source`: a list page, a contact read, our own write, an import, a webhook) and the time
it was observed or written:
- a contact's fields (email, names, `unsubscribed`): `seen_at`/`seen_by`. `seen_at` is
  NULL when an import may have changed them without our learning how (Resend's Contact
  Imports API reports counts only): the fields are then not vouched for;
- its property values, as a set: `props_at`/`props_by`, when all of them were last read
  (NULL: the set is not known). Each value also has its own `at`/`by`: a write of one key
  makes that value known without making the others so. List pages carry no values, so a
  value is only ever as fresh as its last read or write, and a full sync does not renew it;
- each membership: `at`/`by`, NULL meaning "from the segment lists of the last full sync".
Only list pages and contact reads observe Resend; anything observed may have changed there
since, which is why the tools re-check what they act on. Property filters match only values
the mirror holds: a filter never guesses about the others, and `state()` says how many
contacts are covered, for the caller to qualify an answer.

Write-through: the server's own writes go to the live tables and, while a full sync is
staged, to the staged ones too, so that finishing a sync that was listed before a write
does not undo it. Memberships staged for contacts the sync never saw are dropped at finish.

Searches: the count comes first, and since it is exact it also chooses the plan for the
page: when matches are common, read contacts newest first and stop after the page; when
they are rare, let the filters' indexes find them all and sort those. SQLite alone can
only guess how selective a segment or property filter is, and guessed wrong both ways.

Times: `created_at` is kept as Resend sends it ("2025-11-30 20:41:40.84216+00"), for
output, and as a normalised UTC key ("2025-11-30T20:41:40.842160") for order and filters.
In a filter, a bare date D means D 00:00:00 UTC, whatever the operator: "gte D" includes
that whole day, "lt D" excludes it, "gt D" includes it (all but its first microsecond).

Text comparisons are case-insensitive through `str.lower()` on both sides, done in Python
(SQLite's `lower()` folds ASCII only). Every value is a bound parameter; `contains` uses
`instr()`, not LIKE, so `%` and `_` in a value are plain characters with no escaping.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from contacts_mcp.services import sharing

__all__ = [
    "ORDERS",
    "SOURCES",
    "Filter",
    "FilterField",
    "FilterOp",
    "Mirror",
    "MirrorState",
    "MirroredContact",
    "PropertyValue",
    "SearchOrder",
    "SearchPage",
    "Source",
    "SyncCheckpoint",
    "SyncPhase",
]

PropertyValue = str | int | float | bool
SyncPhase = Literal["contacts", "segments", "done"]
Source = Literal["list", "read", "write", "import", "webhook"]
SOURCES: tuple[Source, ...] = ("list", "read", "write", "import", "webhook")
FilterField = Literal[
    "email", "domain", "first_name", "last_name", "unsubscribed", "created_at", "segment",
    "property",
]  # fmt: skip
FilterOp = Literal[
    "eq", "contains", "gt", "gte", "lt", "lte", "empty", "not_empty", "in", "not_in"
]  # fmt: skip

SearchOrder = Literal["newest", "oldest", "email", "name"]
ORDERS: tuple[SearchOrder, ...] = ("newest", "oldest", "email", "name")
# Each order's sort key, ending with the id so that it is total (keyset paging needs
# that). Names sort by first name then last name, as they are shown, nameless last.
_ORDER_KEYS: dict[SearchOrder, tuple[tuple[str, ...], str]] = {
    "newest": (("c.created_key", "c.id"), "DESC"),
    "oldest": (("c.created_key", "c.id"), "ASC"),
    "email": (("c.email_lower", "c.id"), "ASC"),
    "name": (
        ("(c.first_lower = '' AND c.last_lower = '')", "c.first_lower", "c.last_lower",
         "c.email_lower", "c.id"),
        "ASC",
    ),
}  # fmt: skip

_LIVE = ""
_STAGED = "staged_"
_PHASES: dict[str | int | float | None, SyncPhase] = {
    "contacts": "contacts",
    "segments": "segments",
    "done": "done",
}
# The mirror is a cache that a full sync rebuilds: a file of another version is emptied.
_SCHEMA_VERSION = 3

# `{p}` is the table prefix: live and staged tables have the same shape (but for
# memberships), since finishing a sync renames the one into the other. Only keys here:
# staging needs nothing else, and the live indexes are built at the swap, in one sorted
# pass each, faster than maintaining them row by row.
#
# Contacts are numbered (`n`): properties and memberships refer to that small integer, not
# to the 36-character id, which halves the file and makes every join an integer lookup.
# Staged contacts are numbered in list order, newest first: numbers follow the age order
# searches read in, so a scan in that order reads the table nearly sequentially (and rows
# are appended, which packs pages full).
_TABLES = """
CREATE TABLE IF NOT EXISTS {p}contacts (
    n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
    email_lower TEXT NOT NULL, domain TEXT NOT NULL, first_name TEXT NOT NULL,
    first_lower TEXT NOT NULL, last_name TEXT NOT NULL, last_lower TEXT NOT NULL,
    unsubscribed INTEGER NOT NULL, created_at TEXT NOT NULL, created_key TEXT NOT NULL,
    seen_at REAL, seen_by TEXT NOT NULL, props_at REAL, props_by TEXT,
    segs INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {p}properties (
    n INTEGER NOT NULL, key TEXT NOT NULL, raw TEXT NOT NULL, text TEXT NOT NULL, num REAL,
    at REAL NOT NULL, by TEXT NOT NULL, PRIMARY KEY (n, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {p}segments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, position INTEGER NOT NULL
) WITHOUT ROWID;
"""
_LIVE_MEMBERS = """
CREATE TABLE IF NOT EXISTS members (
    n INTEGER NOT NULL, segment_id TEXT NOT NULL, at REAL, by TEXT, PRIMARY KEY (n, segment_id)
) WITHOUT ROWID;
"""
# Staged memberships name contacts by id: a contact created during the sync can be in a
# segment without being in the contact pages already read.
_STAGED_MEMBERS = """
CREATE TABLE IF NOT EXISTS staged_members (
    contact_id TEXT NOT NULL, segment_id TEXT NOT NULL, at REAL, by TEXT,
    PRIMARY KEY (contact_id, segment_id)
) WITHOUT ROWID;
"""
_LIVE_INDEXES = """
CREATE INDEX IF NOT EXISTS contacts_by_age ON contacts (created_key, id);
CREATE INDEX IF NOT EXISTS contacts_by_email ON contacts (email_lower, segs, unsubscribed);
CREATE INDEX IF NOT EXISTS contacts_by_first_name ON contacts (first_lower, segs, unsubscribed);
CREATE INDEX IF NOT EXISTS contacts_by_last_name ON contacts (last_lower, segs, unsubscribed);
CREATE INDEX IF NOT EXISTS contacts_by_consent ON contacts (unsubscribed, segs);
CREATE INDEX IF NOT EXISTS contacts_by_domain ON contacts (domain);
CREATE INDEX IF NOT EXISTS contacts_by_properties_age ON contacts (props_at);
CREATE INDEX IF NOT EXISTS contacts_in_doubt ON contacts (n) WHERE seen_at IS NULL;
CREATE INDEX IF NOT EXISTS properties_by_text ON properties (key, text);
CREATE INDEX IF NOT EXISTS properties_by_num ON properties (key, num);
CREATE INDEX IF NOT EXISTS members_by_segment ON members (segment_id, n);
"""
# A contact's memberships of the first `_BITS` segments of the last full sync, as bits
# of `contacts.segs` (bit `position`), kept equal to `members` by these triggers. A scan
# tests a bit where probing `members` would cost a lookup per contact: "contains" on a
# name and "not in" a big segment at 1,000,000 contacts went from 250 ms to 60 ms, with
# the name and consent indexes above covering such scans.
_BITS = 62  # as written in the statements below
_MEMBER_BITS = (
    "CREATE TRIGGER IF NOT EXISTS members_bit_set AFTER INSERT ON members BEGIN "
    "UPDATE contacts SET segs = segs | (1 << (SELECT position FROM segments "
    "WHERE id = NEW.segment_id)) WHERE n = NEW.n AND (SELECT position FROM segments "
    "WHERE id = NEW.segment_id) < 62; END",
    "CREATE TRIGGER IF NOT EXISTS members_bit_clear AFTER DELETE ON members BEGIN "
    "UPDATE contacts SET segs = segs & ~(1 << (SELECT position FROM segments "
    "WHERE id = OLD.segment_id)) WHERE n = OLD.n AND (SELECT position FROM segments "
    "WHERE id = OLD.segment_id) < 62; END",
)
# After a swap, at once: every membership's bit (the pairs are unique, so a sum is an OR).
_SET_BITS = (
    "UPDATE contacts SET segs = b.bits FROM (SELECT m.n, sum(1 << s.position) AS bits "
    "FROM members m JOIN segments s ON s.id = m.segment_id WHERE s.position < 62 "
    "GROUP BY m.n) AS b WHERE contacts.n = b.n"
)
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)"
# What an import wrote (or asked Resend to write), by address, until it is settled: its new
# contacts reach the mirror only when a list page shows them (with their ids), which may be
# after the import ended (the next search lists them). Kept `_EXPECT_SECONDS` at most: an
# address never listed by then was not created (a row Resend refused).
_EXPECTED = """
CREATE TABLE IF NOT EXISTS expected (
    email_lower TEXT PRIMARY KEY, segments TEXT NOT NULL, vals TEXT NOT NULL,
    existed INTEGER NOT NULL, expected_at REAL NOT NULL
) WITHOUT ROWID;
"""
# Contacts removed, and when: a webhook event older than the removal must not bring one
# back. Kept `_TOMBSTONE_DAYS`, past any delivery retry.
_EXPECT_SECONDS = 86400.0
# A contact listed with a `created_at` this long before an import expected it existed
# before: it is not one the import created.
_CLOCK_SLACK_SECONDS = 600.0
# A segment's member list being paged, before it is applied at once (`end_segment_…`).
_OBSERVED = """
CREATE TABLE IF NOT EXISTS observed (
    segment_id TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (segment_id, n)
) WITHOUT ROWID;
"""
_GONE = "CREATE TABLE IF NOT EXISTS gone (id TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;"
_TOMBSTONE_DAYS = 7
_ALL_TABLES = (
    "meta", "expected", "observed", "gone", "contacts", "properties", "segments", "members",
    "staged_contacts", "staged_properties", "staged_segments", "staged_members",
)  # fmt: skip
_SYNC_KEYS = ("sync_phase", "sync_cursor", "sync_segment_index", "sync_without_members")
# ANALYZE samples this many index rows: plans as good as a full scan's for a fraction of
# the time it would add to every finish.
_ANALYSIS_LIMIT = 1000
_CACHE_KIB = 65536
_FINISH_CACHE_KIB = 8192
# The write-ahead log grows to the size of a finishing sync (all tables rewritten); it is
# cut back to this after the checkpoint that follows.
_WAL_LIMIT_BYTES = 16 * 2**20

# Leaves the property values' provenance alone on conflict: knowledge is the caller's to
# give, not a list page's to take away. An observation older than the one held does not
# overwrite it (a webhook delivered late, a page read before our own write).
_UPSERT_CONTACT = (
    "INSERT INTO {p}contacts (n, id, email, email_lower, domain, first_name, first_lower, "
    "last_name, last_lower, unsubscribed, created_at, created_key, seen_at, seen_by) "
    "VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET email = excluded.email, "
    "email_lower = excluded.email_lower, domain = excluded.domain, "
    "first_name = excluded.first_name, first_lower = excluded.first_lower, "
    "last_name = excluded.last_name, last_lower = excluded.last_lower, "
    "unsubscribed = excluded.unsubscribed, created_at = excluded.created_at, "
    "created_key = excluded.created_key, seen_at = excluded.seen_at, "
    "seen_by = excluded.seen_by "
    "WHERE {p}contacts.seen_at IS NULL OR excluded.seen_at >= {p}contacts.seen_at"
)
_NUMBER = "SELECT n FROM {p}contacts WHERE id = ?"
_MARK_KNOWN = "UPDATE {p}contacts SET props_at = ?, props_by = ? WHERE n = ?"
_PUT_PROPERTY = (
    "INSERT OR REPLACE INTO {p}properties (n, key, raw, text, num, at, by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CLEAR_PROPERTIES = "DELETE FROM {p}properties WHERE n = ?"
_REMOVE_CONTACT = "DELETE FROM {p}contacts WHERE n = ?"
# For list pages staged without properties: the values known live stay known, with their
# provenance, unless staging already read them (during this sync, so newer). Ids come as
# one JSON array parameter.
_CARRY_PROPERTIES = (
    "INSERT OR IGNORE INTO staged_properties (n, key, raw, text, num, at, by) "
    "SELECT s.n, p.key, p.raw, p.text, p.num, p.at, p.by FROM staged_contacts s "
    "JOIN contacts c ON c.id = s.id JOIN properties p ON p.n = c.n "
    "WHERE s.id IN (SELECT value FROM json_each(?)) AND s.props_at IS NULL"
)
_CARRY_KNOWN = (
    "UPDATE staged_contacts SET (props_at, props_by) = "
    "(SELECT c.props_at, c.props_by FROM contacts c WHERE c.id = staged_contacts.id) "
    "WHERE id IN (SELECT value FROM json_each(?)) AND props_at IS NULL AND EXISTS "
    "(SELECT 1 FROM contacts c WHERE c.id = staged_contacts.id AND c.props_at IS NOT NULL)"
)
# Memberships of contacts the sync never saw fall out of the join.
_SWAP_MEMBERS = (
    "INSERT INTO members (n, segment_id, at, by) SELECT c.n, m.segment_id, m.at, m.by "
    "FROM staged_members m JOIN contacts c ON c.id = m.contact_id ORDER BY c.n, m.segment_id"
)
_PAGE_COLUMNS = (
    "c.n, c.id, c.email, c.first_name, c.last_name, c.unsubscribed, c.created_at, "
    "c.props_at, c.seen_at"
)
_ORDERED_SCAN = (
    "SELECT {columns} FROM contacts c INDEXED BY contacts_by_age WHERE {where} "
    "ORDER BY {order} LIMIT ?"
)
# The unary plus keeps the age index out of the plan: the filters' indexes drive it.
_FILTERED_SORT = "SELECT {columns} FROM contacts c {index} WHERE {where} ORDER BY {order} LIMIT ?"


@dataclass(frozen=True)
class MirroredContact:
    id: str
    email: str
    first_name: str
    last_name: str
    unsubscribed: bool
    created_at: str
    properties: Mapping[str, PropertyValue] | None = None
    """None: not known (list endpoints omit properties); a mapping, possibly empty: known."""
    # Provenance, given by the mirror: not part of what the contact is.
    seen_at: float | None = field(default=None, compare=False)
    """When the mirror last observed or wrote the fields (None: an import may have changed
    them). Given by the mirror; ignored when the contact is written to it."""
    properties_at: float | None = field(default=None, compare=False)
    """When all property values were last read (None: not known). Given by the mirror."""


@dataclass(frozen=True)
class MirrorState:
    synced_at: float | None
    """Unix time of the last completed full or incremental sync."""
    full_synced_at: float | None
    contacts: int
    properties_known: int
    """Contacts whose property values were all read (or written on creation)."""
    properties_oldest: float | None
    """When the longest-unread of those values were read."""
    fields_in_doubt: int
    """Contacts whose fields an import may have changed, unseen since."""
    segments: int
    sync_in_progress: bool
    """A full sync is staged and can be resumed or finished."""
    changed_here: int
    """Writes applied through write-through since the last full sync."""
    imports_pending: int = 0
    """Contacts imports created that no list page has shown yet (the next refresh)."""
    events_since: float | None = None
    """When the first webhook event reached this mirror."""
    last_event_at: float | None = None
    memberships_pending_since: float | None = None
    """A first fill that listed the contacts alone (at this time): no segment's member
    list has been read since, so no membership is vouched for (`begin_memberships`)."""

    @property
    def memberships_pending(self) -> bool:
        return self.memberships_pending_since is not None

    def listed_within(self, seconds: float) -> bool:
        """Whether every contact was listed less than `seconds` ago (by a full sync, or a
        first fill whose memberships are still to be read)."""
        listed = self.full_synced_at or self.memberships_pending_since
        return listed is not None and time.time() - listed <= seconds

    @property
    def properties_unknown(self) -> int:
        return self.contacts - self.properties_known

    def fully_synced_within(self, seconds: float) -> bool:
        """Whether the last full sync ended less than `seconds` ago."""
        return self.full_synced_at is not None and time.time() - self.full_synced_at <= seconds


@dataclass(frozen=True)
class SyncCheckpoint:
    phase: SyncPhase
    cursor: str | None
    """The last contact id read in the current list, for `after=`."""
    segment_index: int
    staged: int


@dataclass(frozen=True)
class Filter:
    """One condition of a search; a search's filters are AND-ed, text ignores case.

    - email: eq (the whole address), contains. domain: eq (exactly that domain, not its
      subdomains; a leading "@" is ignored), contains.
    - first_name, last_name: eq, contains, empty, not_empty.
    - unsubscribed: eq with a bool.
    - created_at: lt, lte, gt, gte with an ISO date or date-time (a bare date is 00:00 UTC).
    - segment: in, not_in with a segment id.
    - property (`key` required), among contacts whose properties are known: eq (a number
      compares numerically, text ignores case), contains, lt/lte/gt/gte with a number,
      empty (missing or ""), not_empty.
    """

    field: FilterField
    op: FilterOp
    value: str | float | bool | None = None
    key: str | None = None
    """The property key, for `field="property"`."""


@dataclass(frozen=True)
class SearchPage:
    count: int
    """All matches of the filters, whatever `after` and `limit`."""
    contacts: list[MirroredContact]
    next_after: str | None
    """The last id of this page when more matches follow it."""


class Mirror:
    """One account's mirror. Thread-safe: one lock serialises every method."""

    def __init__(self, path: str | Path) -> None:
        in_memory = str(path) == ":memory:"
        self._path_on_disk = not in_memory
        self._lock = threading.Lock()
        # Commits by this connection, and the state as of the last count (see `state`).
        self._commits = 0
        self._state: tuple[tuple[int, int], MirrorState] | None = None
        # Called from worker threads (syncs) and from the event loop (searches); other
        # server processes on the same data folder write to the same file.
        self._db = sharing.connect(path)
        if not in_memory:
            # A crash may lose the last commits but never corrupts: a resync repairs that.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
        self._db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self._db.execute(f"PRAGMA analysis_limit={_ANALYSIS_LIMIT}")
        # Segment and property filters build their IN-lists as temporary indexes.
        self._db.execute("PRAGMA temp_store=MEMORY")
        with self._transaction():
            if self._scalar("PRAGMA user_version") != _SCHEMA_VERSION:
                for table in _ALL_TABLES:
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._script(
                _META
                + ";"
                + _EXPECTED
                + _OBSERVED
                + _GONE
                + _on(_LIVE, _TABLES)
                + _LIVE_MEMBERS
                + _LIVE_INDEXES
            )
            for trigger in _MEMBER_BITS:
                self._db.execute(trigger)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- state ------------------------------------------------------------------------

    def state(self) -> MirrorState:
        """The mirror's counts and times. Counting a million contacts takes tens of
        milliseconds, and every answer reports them: they are counted again only after a
        write, by this connection or another (`PRAGMA data_version`)."""
        with self._lock:
            version = (self._commits, self._scalar("PRAGMA data_version"))
            if self._state is None or self._state[0] != version:
                self._state = (version, self._count_state())
            return self._state[1]

    def _count_state(self) -> MirrorState:
        contacts = self._scalar("SELECT COUNT(*) FROM contacts")
        unknown = self._scalar("SELECT COUNT(*) FROM contacts WHERE props_at IS NULL")
        oldest = self._db.execute(
            "SELECT MIN(props_at) FROM contacts WHERE props_at IS NOT NULL"
        ).fetchone()[0]
        return MirrorState(
            synced_at=self._meta_float("synced_at"),
            full_synced_at=self._meta_float("full_synced_at"),
            contacts=contacts,
            properties_known=contacts - unknown,
            properties_oldest=None if oldest is None else float(oldest),
            fields_in_doubt=self._scalar("SELECT COUNT(*) FROM contacts WHERE seen_at IS NULL"),
            segments=self._scalar("SELECT COUNT(*) FROM segments"),
            sync_in_progress=self._syncing(),
            changed_here=self._meta_int("changed_here"),
            imports_pending=self._scalar("SELECT COUNT(*) FROM expected WHERE existed = 0"),
            events_since=self._meta_float("events_since"),
            last_event_at=self._meta_float("last_event_at"),
            memberships_pending_since=self._meta_float("memberships_pending_since"),
        )

    # -- full sync --------------------------------------------------------------------

    def begin_full_sync(self) -> SyncCheckpoint:
        """The staged sync's checkpoint, to resume it; or a new, empty staging."""
        with self._lock:
            with self._transaction():
                if not self._syncing():
                    self._drop_staging()
                    self._script(_on(_STAGED, _TABLES) + _STAGED_MEMBERS)
                    self._set_meta("sync_phase", "contacts")
                    self._set_meta("sync_cursor", None)
                    self._set_meta("sync_segment_index", 0)
            return SyncCheckpoint(
                phase=_PHASES[self._meta("sync_phase")],
                cursor=_text_or_none(self._meta("sync_cursor")),
                segment_index=self._meta_int("sync_segment_index"),
                staged=self._scalar("SELECT COUNT(*) FROM staged_contacts"),
            )

    def stage_contacts(
        self, contacts: Sequence[MirroredContact], *, cursor: str | None, at: float | None = None
    ) -> None:
        """Stage one page of the contacts list (read at `at`) and its cursor, in one
        transaction."""
        with self._lock:
            self._require_sync()
            with self._transaction():
                self._write_contacts(_STAGED, contacts, _when(at), "list")
                self._set_meta("sync_cursor", cursor)

    def start_segments(
        self, segments: Sequence[tuple[str, str]], *, without_members: bool = False
    ) -> None:
        """Stage the account's (id, name) segments; the sync moves on to their members.
        `without_members` (a first fill that needs none yet): no segment is staged, and the
        finished mirror says its memberships are still to be read."""
        with self._lock:
            self._require_sync()
            with self._transaction():
                if without_members:
                    segments = ()
                    self._set_meta("sync_without_members", 1)
                self._db.execute("DELETE FROM staged_segments")
                self._db.executemany(
                    "INSERT OR REPLACE INTO staged_segments (id, name, position) VALUES (?, ?, ?)",
                    ((sid, name, i) for i, (sid, name) in enumerate(segments)),
                )
                self._set_meta("sync_phase", "segments" if segments else "done")
                self._set_meta("sync_cursor", None)
                self._set_meta("sync_segment_index", 0)

    def staged_segments(self) -> list[tuple[str, str]]:
        with self._lock:
            self._require_sync()
            query = "SELECT id, name FROM staged_segments ORDER BY position"
            return [(str(sid), str(name)) for sid, name in self._db.execute(query)]

    def stage_members(
        self, segment_id: str, contact_ids: Sequence[str], *, cursor: str | None, segment_done: bool
    ) -> None:
        """Stage one page of a segment's members and the checkpoint, in one transaction.

        Ids need not be staged contacts; those still unknown at the finish are dropped
        then. After the last page of the last segment, the phase is "done".
        """
        with self._lock:
            self._require_sync()
            with self._transaction():
                self._db.executemany(
                    "INSERT OR IGNORE INTO staged_members (contact_id, segment_id) VALUES (?, ?)",
                    ((cid, segment_id) for cid in contact_ids),
                )
                if not segment_done:
                    self._set_meta("sync_cursor", cursor)
                    return
                index = self._meta_int("sync_segment_index") + 1
                self._set_meta("sync_segment_index", index)
                self._set_meta("sync_cursor", None)
                if index >= self._scalar("SELECT COUNT(*) FROM staged_segments"):
                    self._set_meta("sync_phase", "done")

    def staged_member_count(self, segment_id: str) -> int:
        """Members of `segment_id` the staged sync has listed so far."""
        with self._lock:
            self._require_sync()
            return self._scalar(
                "SELECT COUNT(*) FROM staged_members WHERE segment_id = ?", (segment_id,)
            )

    def finish_full_sync(self, now: float) -> None:
        """Replace the live data with the staged data, in one transaction."""
        with self._lock:
            self._require_sync()
            # The swap sorts every membership and builds every index: in temporary files,
            # through a small cache, so the peak memory does not grow with the account
            # (with the usual cache and in-memory temporaries it grew 0.3 KB a contact).
            self._db.execute("PRAGMA temp_store=FILE")
            self._db.execute(f"PRAGMA cache_size=-{_FINISH_CACHE_KIB}")
            try:
                self._swap(now)
            finally:
                self._db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
                self._db.execute("PRAGMA temp_store=MEMORY")
            # The log now holds a copy of every table; written back already, it can go.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _swap(self, now: float) -> None:
        """The live tables replaced by the staged ones, in one transaction (the lock is
        held)."""
        with self._transaction():
            # First: its triggers name the live contacts, which a rename then re-checks.
            self._db.execute("DROP TABLE members")
            for table in ("contacts", "properties", "segments"):
                self._db.execute(f"DROP TABLE {table}")
                self._db.execute(f"ALTER TABLE {_STAGED}{table} RENAME TO {table}")
            self._script(_LIVE_MEMBERS)
            self._db.execute(_SWAP_MEMBERS)
            self._db.execute("DROP TABLE staged_members")
            self._db.execute(_SET_BITS)  # in one pass, then kept by the triggers
            for trigger in _MEMBER_BITS:
                self._db.execute(trigger)
            self._script(_LIVE_INDEXES)
            self._set_meta("synced_at", now)
            if self._meta("sync_without_members") is None:
                self._set_meta("full_synced_at", now)
                self._set_meta("memberships_pending_since", None)
            else:  # the contacts as of now; no membership yet (`begin_memberships`)
                self._set_meta("full_synced_at", None)
                self._set_meta("memberships_pending_since", now)
            self._set_meta("changed_here", 0)
            self._db.execute("DELETE FROM gone WHERE at < ?", (now - _TOMBSTONE_DAYS * 86400,))
            sizes = self._db.execute(
                "SELECT s.id, COUNT(m.n) FROM segments s "
                "LEFT JOIN members m ON m.segment_id = s.id GROUP BY s.id"
            )
            self._set_meta("segment_sizes", json.dumps(dict(sizes.fetchall())))
            self._set_meta("synced_contacts", self._scalar("SELECT COUNT(*) FROM contacts"))
            for key in _SYNC_KEYS:
                self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            # The contents changed wholesale: the planner needs fresh statistics to
            # choose which filter drives a query.
            self._db.execute("ANALYZE")

    # -- memberships after a fill without them ----------------------------------------

    def begin_memberships(self, segments: Sequence[tuple[str, str]]) -> None:
        """The account's (id, name) segments now, before each one's member list is
        observed (`observe_segment_page`): a first fill that listed the contacts alone
        is being completed. Memberships written here meanwhile are kept, with their bits."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM segments")
            self._db.executemany(
                "INSERT INTO segments (id, name, position) VALUES (?, ?, ?)",
                ((sid, name, i) for i, (sid, name) in enumerate(segments)),
            )
            # Bits follow positions, which exist only now.
            self._db.execute("UPDATE contacts SET segs = 0 WHERE segs != 0")
            self._db.execute(_SET_BITS)

    def end_memberships(self) -> None:
        """Every segment's member list has been observed: the mirror is as a full sync
        at its contacts' listing would have left it (the older time is the one vouched)."""
        with self._lock, self._transaction():
            listed = self._meta_float("memberships_pending_since")
            if listed is None:
                return
            sizes = self._db.execute(
                "SELECT s.id, COUNT(m.n) FROM segments s "
                "LEFT JOIN members m ON m.segment_id = s.id GROUP BY s.id"
            )
            self._set_meta("segment_sizes", json.dumps(dict(sizes.fetchall())))
            self._set_meta("full_synced_at", listed)
            self._set_meta("memberships_pending_since", None)

    # -- incremental refresh ----------------------------------------------------------

    def newest_ids(self, n: int = 100) -> set[str]:
        """Ids of the `n` newest live contacts."""
        with self._lock:
            query = "SELECT id FROM contacts ORDER BY created_key DESC, id DESC LIMIT ?"
            return {str(cid) for (cid,) in self._db.execute(query, (n,))}

    def add_contacts(self, contacts: Sequence[MirroredContact], now: float) -> None:
        """Upsert contacts read from a list page at `now` (also into a staged sync); mark
        the sync time."""
        with self._lock, self._transaction():
            self._forget_same_address([(c.id, c.email) for c in contacts], now)
            self._write_contacts(_LIVE, contacts, now, "list")
            if self._syncing():
                # The staged sync may have read the top of the list before these existed.
                self._write_contacts(_STAGED, contacts, now, "list")
            self._set_meta("synced_at", now)

    # -- properties pass --------------------------------------------------------------

    def properties_to_read(self, limit: int, *, read_before: float | None = None) -> list[str]:
        """Ids of live contacts whose property values are not known or, given
        `read_before`, were last read before it: those never read first."""
        with self._lock:
            ids = [
                str(cid)
                for (cid,) in self._db.execute(
                    "SELECT id FROM contacts WHERE props_at IS NULL LIMIT ?", (limit,)
                )
            ]
            if read_before is not None and len(ids) < limit:
                ids += [
                    str(cid)
                    for (cid,) in self._db.execute(
                        "SELECT id FROM contacts WHERE props_at < ? ORDER BY props_at LIMIT ?",
                        (read_before, limit - len(ids)),
                    )
                ]
            return ids

    def count_properties_to_read(self, *, read_before: float | None = None) -> int:
        """How many contacts `properties_to_read` would give in all (one read each)."""
        with self._lock:
            unknown = self._scalar("SELECT COUNT(*) FROM contacts WHERE props_at IS NULL")
            if read_before is None:
                return unknown
            older = "SELECT COUNT(*) FROM contacts WHERE props_at < ?"
            return unknown + self._scalar(older, (read_before,))

    def set_properties(
        self,
        contact_id: str,
        properties: Mapping[str, PropertyValue],
        *,
        at: float | None = None,
        by: Source = "read",
    ) -> None:
        """Record all of a contact's property values, read from the API at `at`."""
        with self._lock, self._transaction():
            for prefix in self._sides():
                self._replace_properties(prefix, contact_id, properties, _when(at), by)

    # -- write-through ----------------------------------------------------------------

    def upsert(
        self,
        contact: MirroredContact,
        *,
        changed: bool = True,
        by: Source | None = None,
        at: float | None = None,
    ) -> None:
        """Apply a contact this server created or updated (`changed`), or just read, at
        `at` (now); `by` defaults to "write" for a change and "read" otherwise.

        `properties` None keeps the known ones; a mapping replaces them and marks them known.
        """
        source: Source = by or ("write" if changed else "read")
        with self._lock, self._transaction():
            self._forget_same_address([(contact.id, contact.email)], _when(at))
            for prefix in self._sides():
                self._write_contacts(prefix, [contact], _when(at), source)
            if changed:
                self._count_change()

    def write_values(
        self,
        contact_id: str,
        values: Mapping[str, PropertyValue | None],
        *,
        by: Source = "write",
        at: float | None = None,
    ) -> None:
        """Record property values written to one contact (None: the key was cleared). The
        other values keep their own provenance; the set stays unknown if it was."""
        moment = _when(at)
        with self._lock, self._transaction():
            for prefix in self._sides():
                found = self._db.execute(_on(prefix, _NUMBER), (contact_id,)).fetchone()
                if found is None:
                    continue
                n = int(found[0])
                for key, value in values.items():
                    if value is None:
                        self._db.execute(
                            _on(prefix, "DELETE FROM {p}properties WHERE n = ? AND key = ?"),
                            (n, key),
                        )
                    else:
                        self._db.execute(
                            _on(prefix, _PUT_PROPERTY), _property_row(n, key, value, moment, by)
                        )

    def doubt(self, contact_ids: Sequence[str], *, by: Source = "import") -> int:
        """Mark contacts changed by `by` in ways the server could not read back (an upsert
        through Resend's Contact Imports API): their fields are no longer vouched for and
        their property values become unknown, until they are read again. Returns how many
        of them the mirror holds."""
        with self._lock, self._transaction():
            return self._doubt("id", list(contact_ids), by)

    def apply_event(
        self,
        contact: MirroredContact,
        segment_ids: Sequence[str] | None,
        *,
        deleted: bool,
        at: float,
    ) -> bool:
        """Apply a contact as a webhook reported it at `at`: its fields (and its segments,
        when the event lists them), or its deletion. A fact observed or written after `at`
        is kept: an event delivered late or twice changes nothing. Returns whether it
        changed the mirror's facts (False for a stale event)."""
        with self._lock, self._transaction():
            held = self._db.execute(
                "SELECT n, seen_at, created_at FROM contacts WHERE id = ?", (contact.id,)
            ).fetchone()
            if held is not None and held[1] is not None and float(held[1]) > at:
                return False
            removed = self._db.execute("SELECT at FROM gone WHERE id = ?", (contact.id,))
            if (row := removed.fetchone()) is not None and float(row[0]) >= at:
                return False
            self._set_meta("last_event_at", time.time())
            if self._meta("events_since") is None:
                self._set_meta("events_since", time.time())
            if deleted:
                if held is not None:
                    self._forget(contact.id, at)
                return held is not None
            newer = self._db.execute(
                "SELECT 1 FROM contacts WHERE email_lower = ? AND id <> ? AND seen_at > ?",
                (contact.email.lower(), contact.id, at),
            ).fetchone()
            if newer is not None:
                return False  # the address has moved on to another contact since
            if held is not None:
                # Events write times as ISO 8601, the API as it stores them: keep the
                # API's form of a time that never changes.
                contact = replace(contact, created_at=str(held[2]))
            self._forget_same_address([(contact.id, contact.email)], at)
            for prefix in self._sides():
                self._write_contacts(prefix, [contact], at, "webhook")
            if segment_ids is not None:
                n = self._scalar("SELECT n FROM contacts WHERE id = ?", (contact.id,))
                listed = json.dumps(list(segment_ids))
                self._db.execute(
                    "DELETE FROM members WHERE n = ? AND (at IS NULL OR at <= ?) AND segment_id "
                    "NOT IN (SELECT value FROM json_each(?))",
                    (n, at, listed),
                )
                for segment_id in segment_ids:
                    self._db.execute(
                        "INSERT INTO members (n, segment_id, at, by) VALUES (?, ?, ?, 'webhook') "
                        "ON CONFLICT (n, segment_id) DO UPDATE SET at = excluded.at, "
                        "by = excluded.by WHERE members.at IS NULL OR members.at <= excluded.at",
                        (n, segment_id, at),
                    )
            return True

    def remove(self, contact_id: str) -> None:
        with self._lock, self._transaction():
            self._forget(contact_id)
            self._count_change()

    def held(self, addresses: Collection[str]) -> Counter[str]:
        """Rows about these addresses (lower case), by address: contacts (live and
        staged) and what imports expected of them."""
        wanted = sorted({address.lower() for address in addresses})
        found: Counter[str] = Counter()
        if not wanted:
            return found
        marks = ",".join("?" * len(wanted))
        with self._lock:
            queries = [
                f"SELECT email_lower FROM {prefix}contacts WHERE email_lower IN ({marks})"  # noqa: S608 - ours
                for prefix in self._sides()
            ]
            queries.append(f"SELECT email_lower FROM expected WHERE email_lower IN ({marks})")  # noqa: S608
            for query in queries:
                for (address,) in self._db.execute(query, wanted):
                    found[str(address)] += 1
        return found

    def erase(self, addresses: Collection[str]) -> Counter[str]:
        """Remove every trace of these addresses (lower case): their contacts, live and
        staged, with property values and memberships, and what imports expected of them;
        then leave none on disk (a vacuum, and the write-ahead log cut). Rows removed,
        by address."""
        wanted = sorted({address.lower() for address in addresses})
        removed: Counter[str] = Counter()
        if not wanted:
            return removed
        marks = ",".join("?" * len(wanted))
        with self._lock:
            with self._transaction():
                for prefix in self._sides():
                    found = self._db.execute(
                        f"SELECT id, email_lower FROM {prefix}contacts "  # noqa: S608 - ours
                        f"WHERE email_lower IN ({marks})",
                        wanted,
                    ).fetchall()
                    for contact_id, address in found:
                        self._forget(str(contact_id))
                        removed[str(address)] += 1
                expected = self._db.execute(
                    f"SELECT email_lower FROM expected WHERE email_lower IN ({marks})",  # noqa: S608
                    wanted,
                ).fetchall()
                for (address,) in expected:
                    removed[str(address)] += 1
                self._db.execute(f"DELETE FROM expected WHERE email_lower IN ({marks})", wanted)  # noqa: S608
                if removed:
                    self._count_change()
            if removed and self._path_on_disk:
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def _forget_same_address(self, shown: Sequence[tuple[str, str]], at: float) -> None:
        """An address belongs to one contact at a time (Resend answers a second create
        with the first contact): a mirrored contact with a shown contact's address and
        another id was deleted, and its address given to a new contact."""
        pairs = json.dumps([[contact_id, email.lower()] for contact_id, email in shown])
        stale = self._db.execute(
            "SELECT c.id FROM contacts c JOIN json_each(?) j "
            "ON c.email_lower = json_extract(j.value, '$[1]') "
            "AND c.id <> json_extract(j.value, '$[0]')",
            (pairs,),
        ).fetchall()
        for (contact_id,) in stale:
            self._forget(str(contact_id), at)

    def _forget(self, contact_id: str, at: float | None = None) -> None:
        """Remove a contact from the live and staged tables, as of `at` (now)."""
        self._db.execute(
            "INSERT OR REPLACE INTO gone (id, at) VALUES (?, ?)", (contact_id, _when(at))
        )
        for prefix in self._sides():
            found = self._db.execute(_on(prefix, _NUMBER), (contact_id,)).fetchone()
            if found is not None:
                self._db.execute(_on(prefix, _REMOVE_CONTACT), (found[0],))
                self._db.execute(_on(prefix, _CLEAR_PROPERTIES), (found[0],))
                if prefix == _LIVE:
                    self._db.execute("DELETE FROM members WHERE n = ?", (found[0],))
        if self._syncing():
            self._db.execute("DELETE FROM staged_members WHERE contact_id = ?", (contact_id,))

    def set_member(
        self,
        contact_id: str,
        segment_id: str,
        member: bool,
        *,
        by: Source = "write",
        at: float | None = None,
    ) -> None:
        """Record one membership written (or learnt) at `at`: joined, or left."""
        moment = _when(at)
        with self._lock, self._transaction():
            if member:
                self._db.execute(
                    "INSERT OR REPLACE INTO members (n, segment_id, at, by) "
                    "SELECT n, ?, ?, ? FROM contacts WHERE id = ?",
                    (segment_id, moment, by, contact_id),
                )
            else:
                self._db.execute(
                    "DELETE FROM members WHERE segment_id = ? "
                    "AND n IN (SELECT n FROM contacts WHERE id = ?)",
                    (segment_id, contact_id),
                )
            if self._syncing():
                if member:
                    self._db.execute(
                        "INSERT OR REPLACE INTO staged_members (segment_id, contact_id, at, by) "
                        "VALUES (?, ?, ?, ?)",
                        (segment_id, contact_id, moment, by),
                    )
                else:
                    self._db.execute(
                        "DELETE FROM staged_members WHERE segment_id = ? AND contact_id = ?",
                        (segment_id, contact_id),
                    )
            if by in ("write", "import"):
                self._count_change()

    def set_memberships(
        self, contact_id: str, segment_ids: Sequence[str], *, at: float | None = None
    ) -> None:
        """Record a contact's segments as read from the API at `at`, replacing those
        mirrored.

        An observation, like `set_properties`: it does not count in `changed_here`.
        """
        moment = _when(at)
        with self._lock, self._transaction():
            found = self._db.execute(_on(_LIVE, _NUMBER), (contact_id,)).fetchone()
            if found is not None:
                self._db.execute("DELETE FROM members WHERE n = ?", (found[0],))
                self._db.executemany(
                    "INSERT OR IGNORE INTO members (n, segment_id, at, by) VALUES (?, ?, ?, ?)",
                    ((found[0], sid, moment, "read") for sid in segment_ids),
                )
            if self._syncing():
                self._db.execute("DELETE FROM staged_members WHERE contact_id = ?", (contact_id,))
                self._db.executemany(
                    "INSERT OR IGNORE INTO staged_members (contact_id, segment_id, at, by) "
                    "VALUES (?, ?, ?, ?)",
                    ((contact_id, sid, moment, "read") for sid in segment_ids),
                )

    def begin_segment_observation(self, segment_id: str) -> None:
        """Start recording a segment's member list, page by page (see `end_…`)."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM observed WHERE segment_id = ?", (segment_id,))

    def observe_segment_page(self, segment_id: str, member_ids: Sequence[str]) -> None:
        """Record one page of a segment's member list (the mirrored contacts among it)."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO observed (segment_id, n) SELECT ?, n FROM contacts "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (segment_id, json.dumps(list(member_ids))),
            )

    def end_segment_observation(self, segment_id: str, at: float) -> int:
        """Apply a segment's whole member list, paged from the API starting at `at`: the
        mirrored contacts listed are members, the others are not (unless a write since
        `at` made them so). Returns how many memberships changed."""
        with self._lock, self._transaction():
            left = self._db.execute(
                "DELETE FROM members WHERE segment_id = ?1 AND (at IS NULL OR at < ?2) AND n "
                "NOT IN (SELECT n FROM observed WHERE segment_id = ?1)",
                (segment_id, at),
            ).rowcount
            joined = self._db.execute(
                "INSERT OR IGNORE INTO members (n, segment_id, at, by) "
                "SELECT n, ?1, ?2, 'list' FROM observed WHERE segment_id = ?1",
                (segment_id, at),
            ).rowcount
            self._db.execute(
                "UPDATE members SET at = ?2, by = 'list' WHERE segment_id = ?1 AND "
                "(at IS NULL OR at < ?2) AND n IN (SELECT n FROM observed WHERE segment_id = ?1)",
                (segment_id, at),
            )
            self._db.execute("DELETE FROM observed WHERE segment_id = ?", (segment_id,))
            return left + joined

    def write_fields(
        self,
        contact_id: str,
        fields: Mapping[str, str | bool],
        *,
        by: Source = "write",
        at: float | None = None,
    ) -> None:
        """Record some fields (`first_name`, `last_name`, `unsubscribed`) written to one
        contact. The others were not observed: `seen_at` stays as it was."""
        sets: list[str] = []
        params: list[object] = []
        for name, value in fields.items():
            if name == "unsubscribed":
                sets.append("unsubscribed = ?")
                params.append(int(bool(value)))
            elif name in ("first_name", "last_name") and isinstance(value, str):
                lowered = "first_lower" if name == "first_name" else "last_lower"
                sets.append(f"{name} = ?, {lowered} = ?")
                params += [value, value.lower()]
        if not sets:
            return
        with self._lock, self._transaction():
            for prefix in self._sides():
                self._db.execute(
                    _on(prefix, f"UPDATE {{p}}contacts SET {', '.join(sets)} WHERE id = ?"),  # noqa: S608
                    (*params, contact_id),
                )
            if by in ("write", "import"):
                self._count_change()

    # -- imports ----------------------------------------------------------------------

    def begin_import(self) -> None:
        """Forget what imports expected longer ago than `_EXPECT_SECONDS` (their doubts
        stay): contacts that appear later are read like anybody else's."""
        with self._lock, self._transaction():
            cutoff = time.time() - _EXPECT_SECONDS
            self._db.execute("DELETE FROM expected WHERE expected_at < ?", (cutoff,))

    def expect_import(
        self,
        rows: Sequence[tuple[str, Sequence[str], Mapping[str, PropertyValue]]],
        *,
        upsert: bool,
    ) -> None:
        """Record what an import is about to write, per address: the segments the contact
        joins and the property values it has in the file. With `upsert` (existing contacts
        updated in ways Resend does not report), the mirrored contacts among them are no
        longer vouched for, from now on."""
        now = time.time()
        entries = [
            (email.lower(), json.dumps(list(segments)), json.dumps(dict(vals)), now)
            for email, segments, vals in rows
        ]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO expected (email_lower, segments, vals, existed, "
                "expected_at) VALUES "
                "(?1, ?2, ?3, EXISTS (SELECT 1 FROM contacts WHERE email_lower = ?1), ?4)",
                entries,
            )
            if upsert:
                self._doubt("email_lower", [entry[0] for entry in entries], "import")

    def expect_created(
        self,
        email: str,
        contact_id: str,
        segments: Sequence[str],
        vals: Mapping[str, PropertyValue],
    ) -> None:
        """Record a contact an import created one by one (Resend answers with its id
        alone: it is settled from the next list page, like `expect_import`'s). A create
        answered with a mirrored contact's id found it there; one answered with a new id
        means the contact mirrored at that address was deleted elsewhere."""
        now = time.time()
        with self._lock, self._transaction():
            self._forget_same_address([(contact_id, email)], now)
            self._db.execute(
                "INSERT OR REPLACE INTO expected (email_lower, segments, vals, existed, "
                "expected_at) VALUES (?1, ?2, ?3, EXISTS (SELECT 1 FROM contacts WHERE id = ?4), "
                "?5)",
                (
                    email.lower(),
                    json.dumps(list(segments)),
                    json.dumps(dict(vals)),
                    contact_id,
                    now,
                ),
            )

    def settle_import(
        self, at: float, *, upsert: bool | None, created_by_import: int | None = None
    ) -> int:
        """Apply what an import wrote to the mirrored contacts it names: a new contact
        joined its segments and holds the file's values (all it has); an existing one,
        with `upsert`, joined its segments (its values were doubted). Returns how many new
        contacts were settled.

        `upsert` None: the import may still be running (a refresh found some of its new
        contacts): only those are settled. Otherwise the import ended: its existing
        contacts are settled and forgotten; new ones not listed yet stay expected, for the
        refresh that lists them.

        `created_by_import`, the ended import's count of new contacts: when it is more than the
        addresses the mirror did not hold, some it held were deleted elsewhere and created
        again by the import; all the addresses it held stay expected, for the next listing
        of new contacts to settle (or clear)."""
        with self._lock, self._transaction():
            expected_new = self._scalar("SELECT COUNT(*) FROM expected WHERE existed = 0")
            created_again = upsert is not None and (created_by_import or 0) > expected_new
            rows = self._db.execute(
                "SELECT c.n, c.id, i.segments, i.vals, i.existed, i.email_lower, "
                "c.created_key, i.expected_at FROM expected i "
                "JOIN contacts c ON c.email_lower = i.email_lower"
            ).fetchall()
            created = 0
            settled: list[str] = []
            for n, contact_id, segments, vals, existed, email_lower, key, expected in rows:
                if existed and not upsert:
                    continue  # not ended yet, or left untouched (on_conflict=skip)
                if not (existed and created_again):  # those wait for the next listing
                    settled.append(str(email_lower))
                if not existed and _before(str(key), float(expected) - _CLOCK_SLACK_SECONDS):
                    continue  # it was there before the import: not one it created
                for segment_id in json.loads(segments):
                    self._join(int(n), str(contact_id), str(segment_id), at, "import")
                if not existed:
                    # Created by the import: its values are the file's, all of them.
                    created += 1
                    values = json.loads(vals)
                    for prefix in self._sides():
                        self._replace_properties(prefix, str(contact_id), values, at, "import")
            self._db.execute(
                "DELETE FROM expected WHERE email_lower IN (SELECT value FROM json_each(?))",
                (json.dumps(settled),),
            )
            if created_again:
                self._db.execute("UPDATE expected SET existed = 0 WHERE existed = 1")
            if upsert is not None:
                self._db.execute("DELETE FROM expected WHERE existed = 1")
            return created

    def is_expected(self, emails: Sequence[str]) -> set[str]:
        """Which of these addresses (lower-cased) an import still expects."""
        with self._lock:
            found = self._db.execute(
                "SELECT email_lower FROM expected WHERE email_lower IN "
                "(SELECT value FROM json_each(?))",
                (json.dumps([e.lower() for e in emails]),),
            )
            return {str(email) for (email,) in found}

    def find_id(self, email: str) -> str | None:
        """The id of the live contact with this address, case-insensitively."""
        with self._lock:
            found = self._db.execute(
                "SELECT id FROM contacts WHERE email_lower = ? "
                "ORDER BY created_key DESC, id DESC LIMIT 1",
                (email.lower(),),
            ).fetchone()
            return None if found is None else str(found[0])

    def contacts(self, ids: Sequence[str]) -> list[tuple[MirroredContact, list[str]]]:
        """The live contacts with these ids, newest first, each with its segment ids
        (ids the mirror does not hold are left out)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_PAGE_COLUMNS} FROM contacts c "  # noqa: S608 - constant columns
                "WHERE c.id IN (SELECT value FROM json_each(?)) "
                "ORDER BY c.created_key DESC, c.id DESC",
                (json.dumps(list(ids)),),
            ).fetchall()
            numbers = [int(r[0]) for r in rows]
            known = self._properties_of([int(r[0]) for r in rows if r[7] is not None])
            segments: dict[int, list[str]] = {}
            for n, segment_id in self._db.execute(
                "SELECT n, segment_id FROM members WHERE n IN (SELECT value FROM json_each(?))",
                (json.dumps(numbers),),
            ):
                segments.setdefault(int(n), []).append(str(segment_id))
        return [(_contact_of(row, known), sorted(segments.get(int(row[0]), []))) for row in rows]

    def contact_fields(
        self, *, chunk: int = 5000
    ) -> Iterator[tuple[str, str, str, str, str, bool]]:
        """(id, email, first_name, last_name, created_at, unsubscribed) of every live
        contact, read `chunk` at a time in id order: plain tuples, since a pass over every
        contact spends more on building objects than SQLite spends reading. The lock is
        held for each chunk, not between them: a contact present throughout is given once,
        even across a full sync's swap (which renumbers contacts, never their ids); one
        written meanwhile may come as it was."""
        after = ""
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, email, first_name, last_name, created_at, unsubscribed "
                    "FROM contacts WHERE id > ? ORDER BY id LIMIT ?",
                    (after, chunk),
                ).fetchall()
            for cid, email, first, last, created_at, unsubscribed in rows:
                yield (
                    str(cid),
                    str(email),
                    str(first),
                    str(last),
                    str(created_at),
                    bool(unsubscribed),
                )
            if len(rows) < chunk:
                return
            after = str(rows[-1][0])

    def seen_since(self, ids: Sequence[str], since: float) -> set[str]:
        """Of these live contacts, those the API showed at `since` or later: their fields
        read or listed, or one of their memberships listed or read (so they existed)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id FROM contacts c WHERE c.id IN (SELECT value FROM json_each(?1)) "
                "AND (c.seen_at >= ?2 AND c.seen_by IN ('list', 'read') OR EXISTS (SELECT 1 "
                "FROM members m WHERE m.n = c.n AND m.at >= ?2 AND m.by IN ('list', 'read')))",
                (json.dumps(list(ids)), since),
            ).fetchall()
        return {str(row[0]) for row in rows}

    def observe_contacts(self, contacts: Sequence[MirroredContact], at: float) -> None:
        """Record contacts' fields as a list page showed them at `at` (not a sync)."""
        with self._lock, self._transaction():
            self._forget_same_address([(c.id, c.email) for c in contacts], at)
            for prefix in self._sides():
                self._write_contacts(prefix, contacts, at, "list")

    def matching(self, filters: Sequence[Filter], ids: Sequence[str]) -> set[str]:
        """Which of these live contacts meet every filter."""
        with self._lock:
            bits = self._segment_bits(filters)
            terms = [_condition(f, bits) for f in filters]
            # Tested contact by contact: no IN-list of a whole segment for a few contacts.
            where = " AND ".join(term.per_row for term in terms) or "1"
            # `where` is made of this module's fixed fragments; values are parameters.
            listed = "c.id IN (SELECT value FROM json_each(?))"
            query = f"SELECT c.id FROM contacts c WHERE {listed} AND {where}"  # noqa: S608
            params = [json.dumps(list(ids)), *(p for term in terms for p in term.row_params)]
            return {str(cid) for (cid,) in self._db.execute(query, params)}

    def _segment_bits(self, filters: Sequence[Filter]) -> dict[str, tuple[int, bool]]:
        """For the segments these filters name that have a bit (`_BITS`): the bit, and
        whether the segment held over a twentieth of the contacts at the last full sync
        (then a scan testing bits beats building its member list)."""
        named = [str(f.value) for f in filters if f.field == "segment"]
        if not named:
            return {}
        sizes = json.loads(str(self._meta("segment_sizes") or "{}"))
        total = max(1, int(self._meta("synced_contacts") or 0))
        found = self._db.execute(
            "SELECT id, position FROM segments WHERE position < ? AND id IN "
            "(SELECT value FROM json_each(?))",
            (_BITS, json.dumps(named)),
        )
        return {
            str(sid): (int(position), int(sizes.get(sid, 0)) * 20 > total)
            for sid, position in found
        }

    def segment_sizes(self) -> dict[str, int]:
        """Segment id → members, as the last full sync counted them (an estimate since:
        counting them on every answer would cost more than the answer)."""
        with self._lock:
            sizes = json.loads(str(self._meta("segment_sizes") or "{}"))
            return {str(sid): int(size) for sid, size in sizes.items()}

    def full_sync_requests(self, page: int, contacts: int) -> int:
        """What a full sync of `contacts` would cost now: the contact pages, the segment
        list, and each segment's member pages (at least one each)."""
        pages = 1 + -(-contacts // page)
        return pages + sum(max(1, -(-size // page)) for size in self.segment_sizes().values())

    def segment_names(self) -> dict[str, str]:
        """Segment id → name, as of the last full sync."""
        with self._lock:
            return {
                str(i): str(name) for i, name in self._db.execute("SELECT id, name FROM segments")
            }

    # -- search -----------------------------------------------------------------------

    def search(
        self,
        filters: Sequence[Filter],
        *,
        limit: int,
        after: str | None = None,
        count_only: bool = False,
        order: SearchOrder = "newest",
    ) -> SearchPage:
        """Live contacts matching every filter, in `order`, `limit` at a time.

        `after` is an id from a previous page in the same order: the page starts just
        past it. Raises ValueError for a filter that cannot apply, or an `after` not in
        the mirror.
        """
        if limit < 1 and not count_only:
            raise ValueError("limit must be at least 1")
        keys, direction = _ORDER_KEYS[order]
        with self._lock:
            bits = self._segment_bits(filters)
            terms = [_condition(f, bits) for f in filters]
            params = [p for term in terms for p in term.params]
            start: list[object] | None = None
            if after is not None:
                # `keys` are this module's constants; the id is a parameter.
                found = self._db.execute(
                    f"SELECT {', '.join(keys)} FROM contacts c WHERE c.id = ?",  # noqa: S608
                    (after,),
                ).fetchone()
                if found is None:
                    raise ValueError("unknown cursor")
                start = list(found)
            # `where` is made of this module's fixed fragments; every value is a parameter.
            where = " AND ".join(term.sql for term in terms) or "1"
            index = _scan_index(terms)
            counting = f"SELECT COUNT(*) FROM contacts c {index} WHERE {where}"  # noqa: S608
            counted = params
            if len(filters) == 1 and filters[0].field == "segment" and filters[0].op == "in":
                # "How many in this segment": its index range alone (memberships exist for
                # live contacts only), not a scan or an IN-list of half a million.
                counting = "SELECT COUNT(*) FROM members WHERE segment_id = ?"
                counted = [_text_value(filters[0])]
            count = self._scalar(counting, counted)
            if count_only or count == 0:
                return SearchPage(count=count, contacts=[], next_after=None)
            total = self._scalar("SELECT COUNT(*) FROM contacts") if terms else count
            # The count gives the filters' real selectivity, which SQLite can only guess.
            # Reading in age order and testing each contact visits about
            # (limit + 1) * total / count of them; letting the filters' indexes find every
            # match and sorting them visits `count`. Take the smaller. (Only the age
            # orders have an index to read in; the others sort the matches.)
            ordered = order in ("newest", "oldest") and (limit + 1) * total <= count * count
            if ordered:
                where = " AND ".join(term.per_row for term in terms) or "1"
                params = [p for term in terms for p in term.row_params]
            plus = "" if ordered else "+"
            if start is not None:
                # Keyset paging: stable while contacts are added or removed between pages.
                key = ", ".join(f"{plus}{column}" for column in keys)
                where += f" AND ({key}) {'<' if direction == 'DESC' else '>'} "
                where += f"({', '.join('?' * len(keys))})"
                params += start
            sort = ", ".join(f"{plus}{column} {direction}" for column in keys)
            template = _ORDERED_SCAN if ordered else _FILTERED_SORT
            query = template.replace("{columns}", _PAGE_COLUMNS).replace("{where}", where)
            query = query.replace("{index}", index).replace("{order}", sort)
            rows = self._db.execute(query, [*params, limit + 1]).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            known = self._properties_of([int(r[0]) for r in rows if r[7] is not None])
            contacts = [_contact_of(row, known) for row in rows]
        return SearchPage(
            count=count,
            contacts=contacts,
            next_after=contacts[-1].id if more else None,
        )

    def segment_counts(self, filters: Sequence[Filter]) -> list[tuple[str, str | None, int]]:
        """The contacts matching every filter, per segment: (id, name, count) for every
        segment of the last full sync (0 included) and any other a membership names (its
        name None), most first.

        One pass over the matches sums their membership bits (`contacts.segs`) for the
        segments that have one; only the others' memberships are joined."""
        with self._lock:
            bits = self._segment_bits(filters)
            terms = [_condition(f, bits) for f in filters]
            params = [p for term in terms for p in term.params]
            where = " AND ".join(term.sql for term in terms) or "1"
            index = _scan_index(terms)
            names: dict[str, tuple[str, int]] = {
                str(sid): (str(name), int(position))
                for sid, name, position in self._db.execute(
                    "SELECT id, name, position FROM segments"
                )
            }
            counts: dict[str, int] = {}
            if not terms:  # every contact: the membership index alone
                counts.update(
                    (str(sid), int(n))
                    for sid, n in self._db.execute(
                        "SELECT segment_id, COUNT(*) FROM members GROUP BY segment_id"
                    )
                )
            else:
                with_bits = [sid for sid, (_, position) in names.items() if position < _BITS]
                if with_bits:
                    # The matches grouped by their bits (few distinct combinations), then
                    # each segment's bit summed over the groups.
                    groups = self._db.execute(
                        f"SELECT c.segs, COUNT(*) FROM contacts c {index} "  # noqa: S608
                        f"WHERE {where} GROUP BY c.segs",
                        params,
                    ).fetchall()
                    for sid in with_bits:
                        bit = 1 << names[sid][1]
                        counts[sid] = sum(n for segs, n in groups if segs & bit)
                for sid in self._member_segments():
                    if sid in counts:
                        continue
                    # A segment without a bit: its members' index range, joined.
                    counts[sid] = self._scalar(
                        "SELECT COUNT(*) FROM members m JOIN contacts c ON c.n = m.n "  # noqa: S608
                        f"WHERE m.segment_id = ? AND {where}",
                        [sid, *params],
                    )
        found: list[tuple[str, str | None, int, int]] = [
            (sid, name, counts.get(sid, 0), position) for sid, (name, position) in names.items()
        ]
        found += [(sid, None, n, len(names)) for sid, n in counts.items() if sid not in names]
        found.sort(key=lambda row: (-row[2], row[3], row[0]))
        return [(sid, name, n) for sid, name, n, _ in found]

    # -- internals (the lock is held) -------------------------------------------------

    def _member_segments(self) -> list[str]:
        """Every segment id some membership names: one index seek each."""
        found: list[str] = []
        row = self._db.execute("SELECT MIN(segment_id) FROM members").fetchone()
        while row is not None and row[0] is not None:
            found.append(str(row[0]))
            row = self._db.execute(
                "SELECT MIN(segment_id) FROM members WHERE segment_id > ?", (row[0],)
            ).fetchone()
        return found

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # Immediate: most transactions here read before they write (see `sharing`).
        with sharing.write_transaction(self._db):
            yield
        self._commits += 1

    def _script(self, script: str) -> None:
        # Not `executescript`, which commits first: these run inside transactions.
        for statement in script.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def _scalar(self, query: str, params: Sequence[object] = ()) -> int:
        return int(self._db.execute(query, params).fetchone()[0])

    def _meta(self, key: str) -> str | int | float | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        value: str | int | float | None = None if found is None else found[0]
        return value

    def _meta_int(self, key: str) -> int:
        return int(self._meta(key) or 0)

    def _meta_float(self, key: str) -> float | None:
        value = self._meta(key)
        return None if value is None else float(value)

    def _set_meta(self, key: str, value: str | float | None) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _count_change(self) -> None:
        self._set_meta("changed_here", self._meta_int("changed_here") + 1)

    def _syncing(self) -> bool:
        return self._meta("sync_phase") is not None

    def _sides(self) -> tuple[str, ...]:
        """The table sets a write goes to: live, and staged during a full sync."""
        return (_LIVE, _STAGED) if self._syncing() else (_LIVE,)

    def _require_sync(self) -> None:
        if not self._syncing():
            raise RuntimeError("no full sync in progress: call begin_full_sync first")

    def _drop_staging(self) -> None:
        for table in ("contacts", "properties", "members", "segments"):
            self._db.execute(f"DROP TABLE IF EXISTS {_STAGED}{table}")
        for key in _SYNC_KEYS:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def _join(self, n: int, contact_id: str, segment_id: str, at: float, by: Source) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO members (n, segment_id, at, by) VALUES (?, ?, ?, ?)",
            (n, segment_id, at, by),
        )
        if self._syncing():
            self._db.execute(
                "INSERT OR REPLACE INTO staged_members (contact_id, segment_id, at, by) "
                "VALUES (?, ?, ?, ?)",
                (contact_id, segment_id, at, by),
            )

    def _doubt(self, column: Literal["id", "email_lower"], keys: list[str], by: Source) -> int:
        """See `doubt`: the contacts whose `column` is among `keys`; how many are live."""
        listed = json.dumps(keys)
        held = 0
        for prefix in self._sides():
            # `column` is one of two names; the keys are a parameter.
            chosen = (
                f"SELECT n FROM {prefix}contacts WHERE {column} IN (SELECT value FROM json_each(?))"  # noqa: S608
            )
            self._db.execute(f"DELETE FROM {prefix}properties WHERE n IN ({chosen})", (listed,))  # noqa: S608
            cursor = self._db.execute(
                f"UPDATE {prefix}contacts SET seen_at = NULL, seen_by = ?, props_at = NULL, "  # noqa: S608
                f"props_by = NULL WHERE n IN ({chosen})",
                (by, listed),
            )
            if prefix == _LIVE:
                held = cursor.rowcount
        return held

    def _write_contacts(
        self, prefix: str, contacts: Sequence[MirroredContact], at: float, by: Source
    ) -> None:
        self._db.executemany(
            _on(prefix, _UPSERT_CONTACT), (_contact_row(c, at, by) for c in contacts)
        )
        for contact in contacts:
            if contact.properties is not None:
                self._replace_properties(prefix, contact.id, contact.properties, at, by)
        listed = [c.id for c in contacts if c.properties is None]
        if prefix == _STAGED and listed:
            ids = json.dumps(listed)
            self._db.execute(_CARRY_PROPERTIES, (ids,))
            self._db.execute(_CARRY_KNOWN, (ids,))

    def _replace_properties(
        self,
        prefix: str,
        contact_id: str,
        properties: Mapping[str, PropertyValue],
        at: float,
        by: Source,
    ) -> None:
        found = self._db.execute(_on(prefix, _NUMBER), (contact_id,)).fetchone()
        if found is None:
            return
        n = int(found[0])
        self._db.execute(_on(prefix, _MARK_KNOWN), (at, by, n))
        self._db.execute(_on(prefix, _CLEAR_PROPERTIES), (n,))
        self._db.executemany(
            _on(prefix, _PUT_PROPERTY),
            (_property_row(n, key, value, at, by) for key, value in properties.items()),
        )

    def _properties_of(self, numbers: Sequence[int]) -> dict[int, dict[str, PropertyValue]]:
        found: dict[int, dict[str, PropertyValue]] = {}
        if numbers:
            # One JSON array parameter: any number of rows, and no SQL built from their count.
            query = "SELECT n, key, raw FROM properties WHERE n IN (SELECT value FROM json_each(?))"
            for n, key, raw in self._db.execute(query, (json.dumps(numbers),)):
                found.setdefault(int(n), {})[str(key)] = json.loads(raw)
        return found


# -- rows ------------------------------------------------------------------------------


def _on(prefix: str, template: str) -> str:
    """A statement template for the live (`_LIVE`) or the staged (`_STAGED`) tables."""
    return template.replace("{p}", prefix)


def _before(created_key: str, moment: float) -> bool:
    """Whether a contact's `created_key` (UTC, naive ISO) is before the Unix time `moment`."""
    try:
        created = datetime.fromisoformat(created_key).replace(tzinfo=UTC)
    except ValueError:
        return False
    return created.timestamp() < moment


def _when(at: float | None) -> float:
    return time.time() if at is None else at


def _contact_of(
    row: Sequence[Any], known: Mapping[int, dict[str, PropertyValue]]
) -> MirroredContact:
    """A contact from the `_PAGE_COLUMNS` of a row, with its values from `known`."""
    n, cid, email, first, last, unsubscribed, created_at, props_at, seen_at = row
    return MirroredContact(
        id=str(cid),
        email=str(email),
        first_name=str(first),
        last_name=str(last),
        unsubscribed=bool(unsubscribed),
        created_at=str(created_at),
        properties=None if props_at is None else known.get(int(n), {}),
        seen_at=None if seen_at is None else float(seen_at),
        properties_at=None if props_at is None else float(props_at),
    )


def _contact_row(contact: MirroredContact, at: float, by: Source) -> tuple[object, ...]:
    email_lower = contact.email.lower()
    return (
        contact.id,
        contact.email,
        email_lower,
        email_lower.rpartition("@")[2] if "@" in email_lower else "",
        contact.first_name,
        contact.first_name.lower(),
        contact.last_name,
        contact.last_name.lower(),
        int(contact.unsubscribed),
        contact.created_at,
        _stored_time_key(contact.created_at),
        at,
        by,
    )


def _property_row(
    n: int, key: str, value: PropertyValue, at: float, by: Source
) -> tuple[int, str, str, str, float | None, float, str]:
    # `raw` gives the value back with its type (SQLite would turn a bool into 1); `text`
    # is what text filters compare; `num` what numeric ones do.
    raw = json.dumps(value)
    if isinstance(value, bool):
        return n, key, raw, "true" if value else "false", None, at, by
    if isinstance(value, int | float):
        return n, key, raw, raw, float(value), at, by
    return n, key, raw, value.lower(), None, at, by


def _time_key(value: str) -> str:
    """A normalised UTC time, sortable as text; naive times and bare dates count as UTC.

    Raises ValueError for text that is not an ISO time, and `OutOfRangeError` for a time
    that falls before year 1 or after 9999 once shifted to UTC ("0001-01-01T00:30+01:00")."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise OutOfRangeError(moment) from None
    return moment.isoformat(timespec="microseconds")


class OutOfRangeError(ValueError):
    """A time that is valid as written but before year 1 or after 9999 in UTC."""

    def __init__(self, moment: datetime) -> None:
        super().__init__("a time before year 1 or after year 9999 in UTC")
        self.early = moment.year == datetime.min.year


def _stored_time_key(created_at: str) -> str:
    try:
        return _time_key(created_at)
    except OutOfRangeError as exc:
        # Kept as sent, sorted before (or after) every time UTC can hold: which it is.
        return (datetime.min if exc.early else datetime.max).isoformat(timespec="microseconds")
    except ValueError:
        # A shape we cannot read still sorts as the API sorts it, within one account.
        return created_at


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


# -- filters ---------------------------------------------------------------------------

_COLUMNS = {
    "email": "c.email_lower",
    "domain": "c.domain",
    "first_name": "c.first_lower",
    "last_name": "c.last_lower",
}
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TEXT_OPS: dict[str, tuple[str, ...]] = {
    "email": ("eq", "contains"),
    "domain": ("eq", "contains"),
    "first_name": ("eq", "contains", "empty", "not_empty"),
    "last_name": ("eq", "contains", "empty", "not_empty"),
}


@dataclass(frozen=True)
class _Term:
    """One filter as SQL on `contacts c`, in two forms that match the same contacts."""

    sql: str
    """For counts and index-driven pages: subqueries as IN-lists, built once, which SQLite
    can also drive the query from when they are the most selective filter."""
    per_row: str
    """For a scan in age order that stops after a page: subqueries as EXISTS probes, one
    primary-key lookup per contact visited, instead of building a whole IN-list."""
    params: list[object]
    per_row_params: list[object] | None = None
    """The parameters of `per_row`, when they are not `params`."""
    scanned: frozenset[str] | None = None
    """The columns `sql` reads, when no index can find its contacts (it is tested on
    every contact); None when one can."""

    @property
    def row_params(self) -> list[object]:
        return self.params if self.per_row_params is None else self.per_row_params


def _column_term(sql: str, params: list[object], scanned: Iterable[str] | None = None) -> _Term:
    return _Term(sql, sql, params, scanned=None if scanned is None else frozenset(scanned))


# Narrow indexes a count (or a sorted page) scans instead of the table when every filter
# is tested contact by contact: the smallest that holds every column they read. At
# 1,000,000 contacts, "first name contains" with "not in a segment": 216 ms over the
# table, 62 ms over the first-name index.
_SCAN_INDEXES = (
    ("contacts_by_consent", frozenset({"unsubscribed", "segs"})),
    ("contacts_by_first_name", frozenset({"first_lower", "unsubscribed", "segs"})),
    ("contacts_by_last_name", frozenset({"last_lower", "unsubscribed", "segs"})),
    ("contacts_by_email", frozenset({"email_lower", "unsubscribed", "segs"})),
)


def _scan_index(terms: Sequence[_Term]) -> str:
    """`INDEXED BY …` for these terms when they are all scans that one narrow index
    holds every column of; else "" (SQLite plans: some index finds the contacts)."""
    if not terms or any(term.scanned is None for term in terms):
        return ""
    read = frozenset().union(*(term.scanned or () for term in terms))
    for name, columns in _SCAN_INDEXES:
        if read <= columns:
            return f"INDEXED BY {name}"
    return ""


def _subquery_term(table: str, test: str, params: list[object], *, negate: bool) -> _Term:
    # `table` and `test` are this module's constants; values are in `params`.
    listed = f"SELECT n FROM {table} WHERE {test}"  # noqa: S608
    probe = f"SELECT 1 FROM {table} s WHERE s.n = c.n AND {test}"  # noqa: S608
    return _Term(
        sql=f"c.n {'NOT IN' if negate else 'IN'} ({listed})",
        per_row=f"{'NOT EXISTS' if negate else 'EXISTS'} ({probe})",
        params=params,
    )


def _condition(f: Filter, bits: Mapping[str, tuple[int, bool]]) -> _Term:
    """The SQL condition for one filter; ValueError if the filter cannot apply. `bits`:
    segment id → (its bit in `contacts.segs`, whether it holds many contacts)."""
    if f.field == "property":
        return _property_condition(f)
    if f.key is not None:
        raise ValueError(f"a {f.field} filter takes no key")
    if f.field in _TEXT_OPS:
        column = _COLUMNS[f.field]
        if f.op not in _TEXT_OPS[f.field]:
            raise ValueError(f"{f.op} does not apply to {f.field}")
        bare = column.removeprefix("c.")
        if f.op in ("empty", "not_empty"):
            empty = f.op == "empty"
            sql = f"{column} {'=' if empty else '<>'} ''"
            return _column_term(sql, [], None if empty else [bare])
        text = _text_value(f).lower()
        if f.op == "contains":
            return _column_term(f"instr({column}, ?) > 0", [text], [bare])
        if f.field == "domain":
            text = text.removeprefix("@")
        return _column_term(f"{column} = ?", [text])
    if f.field == "unsubscribed":
        if f.op != "eq":
            raise ValueError(f"{f.op} does not apply to unsubscribed: use eq")
        if not isinstance(f.value, bool):
            raise ValueError("unsubscribed eq needs true or false")
        return _column_term("c.unsubscribed = ?", [int(f.value)], ["unsubscribed"])
    if f.field == "created_at":
        if f.op not in _COMPARISONS:
            raise ValueError(f"{f.op} does not apply to created_at: use lt, lte, gt or gte")
        try:
            moment = _time_key(_text_value(f))
        except OutOfRangeError:
            raise ValueError(
                "created_at compares with a time between years 1 and 9999 in UTC"
            ) from None
        except ValueError:
            raise ValueError("created_at needs an ISO date or date-time") from None
        return _column_term(f"c.created_key {_COMPARISONS[f.op]} ?", [moment])
    if f.field == "segment":
        if f.op not in ("in", "not_in"):
            raise ValueError(f"{f.op} does not apply to segment: use in or not_in")
        segment_id = _text_value(f)
        negate = f.op == "not_in"
        term = _subquery_term("members", "segment_id = ?", [segment_id], negate=negate)
        if segment_id not in bits:  # newer than the last full sync, or past the bits
            return replace(term, scanned=frozenset()) if negate else term
        position, many = bits[segment_id]
        test = f"(c.segs >> {int(position)}) & 1 = {0 if negate else 1}"
        if negate or many:  # a scan either way: the bit is the cheapest test
            return _column_term(test, [], ["segs"])
        # A small segment: its members drive a count or a sorted page; a scan tests bits.
        return _Term(term.sql, test, term.params, per_row_params=[])
    raise ValueError(f"unknown filter field {f.field!r}")


def _property_condition(f: Filter) -> _Term:
    key = f.key
    if not key:
        raise ValueError("a property filter needs a key")
    value = f.value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    test: str
    params: list[object]
    match f.op:
        case "eq" if isinstance(value, bool):
            test, params = "text = ?", ["true" if value else "false"]
        case "eq" if number:
            test, params = "num = ?", [value]
        case "eq" | "contains":
            test = "text = ?" if f.op == "eq" else "instr(text, ?) > 0"
            params = [_text_value(f).lower()]
        case "gt" | "gte" | "lt" | "lte":
            if not number:
                raise ValueError(f"property {f.op} needs a number")
            test, params = f"num {_COMPARISONS[f.op]} ?", [value]
        case "not_empty" | "empty":
            test, params = "text <> ''", []
        case _:
            raise ValueError(f"{f.op} does not apply to a property")
    term = _subquery_term(
        "properties", f"key = ? AND {test}", [key, *params], negate=f.op == "empty"
    )
    if f.op != "empty":
        return term
    # Only contacts whose properties are known can be said to lack one.
    known = "c.props_at IS NOT NULL AND "
    return _Term(known + term.sql, known + term.per_row, term.params)


def _text_value(f: Filter) -> str:
    if not isinstance(f.value, str):
        raise ValueError(f"{f.field} {f.op} needs a text value")
    return f.value
