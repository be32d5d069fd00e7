"""What an import needs before it starts: its source, its options, and where it records.

Both strategies (`strategy_rows`, `strategy_api`) take an `ImportPlan`: the checked
options with segment/topic names resolved to ids, a way to reopen the CSV as often as
needed, the journal that makes the import resumable, and the progress callback.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import ResendError
from contacts_mcp.api.imports import OnConflict
from contacts_mcp.api.models import PropertyType, Subscription
from contacts_mcp.imports.csvio import CSVFormatError, CSVTable
from contacts_mcp.imports.files import FilePolicy, open_for_import, open_upload
from contacts_mcp.imports.journal import Journal
from contacts_mcp.imports.models import ImportSummary
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.services.before_state import JournalAppender
from contacts_mcp.services.explain import explain
from contacts_mcp.services.mirror import Mirror
from contacts_mcp.services.private import private_file
from contacts_mcp.text.cells import segment_names_of, topic_choices_of
from contacts_mcp.text.sanitize import formula_safe

__all__ = [
    "MAX_INLINE_BYTES",
    "ImportPlan",
    "ImportSettings",
    "ImportSource",
    "ImportSummary",
    "Progress",
    "import_key",
    "scan_existing",
    "scan_file",
    "write_failure_report",
]

# Inline CSV travels inside a tool call: keep it small, files are for big imports.
MAX_INLINE_BYTES = 2 * 1024 * 1024

Progress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class ImportSource:
    """A CSV given as a path (opened under the file policy), as inline text, or as an
    upload: its id, and the file the server keeps it in (resolved for the caller)."""

    path: str | None = None
    text: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    has_header: bool | None = None
    upload: str | None = None
    upload_file: str | None = None

    @property
    def name(self) -> str:
        if self.upload is not None:
            return f"upload {self.upload}"
        return Path(self.path).name if self.path else "inline.csv"

    @contextmanager
    def open(self, policy: FilePolicy) -> Iterator[tuple[BinaryIO, int]]:
        """(binary stream, size); the caller reads it, this closes it."""
        if self.upload_file is not None:
            stream, size = open_upload(self.upload_file, policy)
        elif self.path is not None:
            stream, size, _ = open_for_import(self.path, policy)
        else:
            data = (self.text or "").encode("utf-8")
            stream, size = io.BytesIO(data), len(data)
        try:
            yield stream, size
        finally:
            stream.close()

    def read_table(self, stream: BinaryIO) -> CSVTable:
        """A CSV table over `stream`, with this source's format settings."""
        return CSVTable(
            stream,
            # Inline text arrives as a str, so it is UTF-8 whatever the model thinks.
            encoding="utf-8" if self.text is not None else self.encoding,
            delimiter=self.delimiter,
            has_header=self.has_header,
        )

    @contextmanager
    def table(self, policy: FilePolicy) -> Iterator[CSVTable]:
        with self.open(policy) as (stream, _), self.read_table(stream) as table:
            yield table


class _HashingReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class FileScan:
    content_hash: str
    rows: int
    headers: list[str]
    segment_names: set[str] = field(default_factory=set)
    topic_names: set[str] = field(default_factory=set)


# Distinct segment names a segments column may hold: an account has a few dozen.
MAX_SEGMENT_NAMES = 1000


def split_segments(cell: str) -> list[str]:
    """The segment names of a segments cell ("VIP; Beta", or a JSON array of names)."""
    return segment_names_of(cell)


def scan_file(
    source: ImportSource,
    policy: FilePolicy,
    segments_column: str | None = None,
    topics_column: str | None = None,
) -> FileScan:
    """Read the whole file once: its content hash, data rows, headers, and the segment
    names of `segments_column` and topic names of `topics_column` (so that each is
    checked before anything is written).

    Reading it through the CSV parser also finds any format problem (bad quoting, huge
    fields, undecodable bytes) before the import writes anything.
    """
    names: set[str] = set()
    topics: set[str] = set()
    with source.open(policy) as (stream, _):
        hashing = _HashingReader(stream)
        buffered = io.BufferedReader(hashing, 1024 * 1024)
        with source.read_table(buffered) as table:
            headers = list(table.headers)
            at = headers.index(segments_column) if segments_column in headers else None
            topics_at = headers.index(topics_column) if topics_column in headers else None
            rows = 0
            for _, values in table.rows():
                rows += 1
                if topics_at is not None and topics_at < len(values):
                    with contextlib.suppress(ValueError):  # the row reports it as failed
                        topics.update(topic_choices_of(values[topics_at]))
                    if len(topics) > MAX_SEGMENT_NAMES:
                        raise CSVFormatError(
                            f"the topics column names over {MAX_SEGMENT_NAMES} topics"
                        )
                if at is not None and at < len(values):
                    names.update(split_segments(values[at]))
                    if len(names) > MAX_SEGMENT_NAMES:
                        raise CSVFormatError(
                            f"the segments column names over {MAX_SEGMENT_NAMES} segments"
                        )
        while buffered.read(1024 * 1024):  # hash whatever the parser did not need
            pass
    return FileScan(hashing.digest.hexdigest(), rows, headers, names, topics)


def import_key(content_hash: str, options: dict[str, object]) -> str:
    """A key for this exact import: the same file with the same options gets the same
    key, which is how a re-run finds the journal of an earlier, interrupted run."""
    digest = hashlib.sha256(content_hash.encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


@dataclass
class ImportPlan:
    """A checked import, ready to run with either strategy."""

    source: ImportSource
    settings: ImportSettings
    columns: dict[str, str]
    property_types: dict[str, PropertyType]
    on_conflict: OnConflict
    segment_ids: list[str]
    topics: dict[str, Subscription]
    # Segment name (as in the file's segments column) → id, for rows that name segments.
    row_segments: dict[str, str]
    # Topic name → id, for a topics column (`strategy_rows`).
    row_topics: dict[str, str]
    dry_run: bool
    key: str
    total_rows: int
    journal: Journal
    progress: Progress
    notes: list[str] = field(default_factory=list)
    # The account's mirror, when it has been filled: what the import writes goes there too.
    mirror: Mirror | None = None
    # Ids of the Contact Imports jobs known before this import's uploads (and of those it
    # made since): a lost upload's answer is found as the one new job, not uploaded twice.
    imports_before: set[str] = field(default_factory=set[str])
    # What each contact was before this import changed it or created it, for its undo
    # (`services.before_state`); None: not kept (a dry run, or a caller that keeps none).
    before: JournalAppender | None = None
    # Topic id → default choice, read once when a row opts existing contacts out.
    topic_defaults: dict[str, Subscription] | None = None

    @property
    def report_dir(self) -> Path:
        return self.journal.path.parent


async def scan_existing(client: ResendClient, journal: Journal) -> int:
    """Record every existing contact in the journal: one request per 100 contacts."""
    journal.clear_existing()
    batch: list[tuple[str, str, bool]] = []
    total = 0
    try:
        async for contact in client.iter_contacts(page_size=100):
            batch.append((contact.email, contact.id, contact.unsubscribed))
            if len(batch) >= 1000:
                journal.add_existing(batch)
                total += len(batch)
                batch.clear()
    except ResendError as exc:
        raise explain(exc) from None
    journal.add_existing(batch)
    return total + len(batch)


def write_failure_report(path: Path, failures: Iterator[tuple[int, str, str]]) -> int:
    """Write (row, email, reason) rows as CSV; returns how many."""
    count = 0
    private_file(path)  # personal data (emails): this user's alone
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "email", "reason"])
        for row, email, reason in failures:
            writer.writerow([row, formula_safe(email), formula_safe(reason)])
            count += 1
    return count
