"""The emulator's data on SQLite: the schema and every query, nothing about HTTP.

`Store` gathers the per-resource query classes (`contacts`, `segments`, `properties`,
`topics`, `imports`, `webhooks`, `suppressions`) over one `Database` (`sqlite`), and owns
the `ImportRunner` (`import_runner`) that applies contact imports in the background. Every
public method is atomic: writes run in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

from contacts_mcp.emulator.store.contacts import (
    CONTACTS_SCHEMA,
    Contact,
    ContactListener,
    ContactQueries,
)
from contacts_mcp.emulator.store.import_runner import (
    Columns,
    ImportRunner,
    UnreadableCsv,
    read_header,
)
from contacts_mcp.emulator.store.imports import (
    IMPORT_STATUSES,
    IMPORTS_SCHEMA,
    ContactImport,
    ImportPlan,
    ImportQueries,
)
from contacts_mcp.emulator.store.properties import (
    PROPERTIES_SCHEMA,
    Property,
    PropertyQueries,
    PropertyValue,
)
from contacts_mcp.emulator.store.segments import SEGMENTS_SCHEMA, Segment, SegmentQueries
from contacts_mcp.emulator.store.sqlite import (
    Page,
    PageRequest,
    UnknownCursorError,
    is_email,
    is_uuid,
)
from contacts_mcp.emulator.store.suppressions import (
    SUPPRESSIONS_SCHEMA,
    Suppression,
    SuppressionQueries,
)
from contacts_mcp.emulator.store.topics import TOPICS_SCHEMA, ContactTopic, Topic, TopicQueries
from contacts_mcp.emulator.store.webhooks import (
    WEBHOOKS_SCHEMA,
    Webhook,
    WebhookQueries,
    WebhookStatus,
)

__all__ = [
    "IMPORT_STATUSES",
    "Columns",
    "Contact",
    "ContactImport",
    "ContactListener",
    "ContactTopic",
    "ImportPlan",
    "Page",
    "PageRequest",
    "Property",
    "PropertyValue",
    "Segment",
    "Store",
    "Suppression",
    "Topic",
    "UnknownCursorError",
    "UnreadableCsv",
    "Webhook",
    "WebhookStatus",
    "is_email",
    "is_uuid",
    "read_header",
]

# `seq` in each table is the insertion order: it breaks ties between rows created in the
# same microsecond, so (created_at, seq) is a total order that cursors can point into.
_SCHEMA = (
    CONTACTS_SCHEMA
    + SEGMENTS_SCHEMA
    + PROPERTIES_SCHEMA
    + TOPICS_SCHEMA
    + IMPORTS_SCHEMA
    + WEBHOOKS_SCHEMA
    + SUPPRESSIONS_SCHEMA
)


class Store(
    ContactQueries,
    SegmentQueries,
    PropertyQueries,
    TopicQueries,
    ImportQueries,
    WebhookQueries,
    SuppressionQueries,
):
    """The emulator's data. Opens its SQLite connection on first use, not on creation.

    `import_delay` is how long each import stays queued before the runner starts it.
    """

    def __init__(self, path: str, *, import_delay: float = 0.0) -> None:
        super().__init__(path, _SCHEMA)
        self.imports = ImportRunner(self, delay=import_delay)

    def close(self) -> None:
        # The runner writes through this connection: stop it first. Whoever closes the
        # store (the app's lifespan, or a transport that owns the app) stops imports too.
        self.imports.close()
        super().close()
