"""Contact imports off the event loop: reading the CSV and applying it in the background.

`POST /contacts/imports` answers 201 as soon as the upload is checked; an `ImportRunner`
then applies the file. It is one worker thread per store, not a task on the event loop,
because no loop outlives the request everywhere the emulator runs: `httpx.ASGITransport`
awaits the whole ASGI call (a Starlette `BackgroundTask` included) before it returns the
response, and it runs no lifespan that could own a task group. The thread shares the
store's locked connection and holds it for one batch at a time, so requests interleave
with a running import, and an in-memory database works too.

An import reads its file twice: a first pass checks that the whole file decodes and parses
and counts its rows, so a file that cannot be read fails without changing anything and
`counts.total` is exact while the import runs; the second pass applies the rows in batches
of `BATCH_ROWS`, one transaction each. Memory stays bounded by a batch.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from contacts_mcp.emulator.store.imports import ImportPlan, ImportQueries, ImportRow
from contacts_mcp.emulator.store.properties import PropertyValue
from contacts_mcp.emulator.store.sqlite import is_email

__all__ = ["BATCH_ROWS", "Columns", "ImportRunner", "UnreadableCsv", "read_header"]

logger = logging.getLogger("contacts_mcp.emulator")

BATCH_ROWS = 5000
"""Rows per transaction: big enough to amortise the statements, small enough that a
request waiting for the store's lock waits only tens of milliseconds."""
_CLOSE_TIMEOUT = 30.0
# A UTF-8 byte-order mark (as Excel writes) is not part of the first header name.
_ENCODING = "utf-8-sig"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Case-insensitive spellings of `unsubscribed` (UNCONFIRMED: Resend documents none).
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class UnreadableCsv(Exception):  # noqa: N818 - reads as the condition it is
    """The file is not UTF-8 or not well-formed CSV (e.g. an unbalanced quote)."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each field is in the CSV's records (0-based); None: not imported."""

    email: int
    first_name: int | None
    last_name: int | None
    unsubscribed: int | None
    properties: tuple[tuple[int, str], ...]
    """(column, "string"/"number") per property, in `ImportPlan.property_ids` order."""


def _blank(record: list[str]) -> bool:
    return all(not cell or cell.isspace() for cell in record)


def _records(file: BinaryIO) -> Generator[list[str], None, None]:
    """The file's non-blank CSV records from the start, header first.

    A record whose cells are all empty or whitespace (a blank line, or the ",,," rows
    spreadsheets leave at the end) is not a row: it is neither imported nor counted.
    """
    file.seek(0)
    text = io.TextIOWrapper(file, encoding=_ENCODING, newline="")
    try:
        # strict: an unbalanced quote is an error rather than a cell that runs to the end.
        for record in csv.reader(text, strict=True):
            # The first cell usually settles it; look further only when it is empty.
            if record and ((record[0] and not record[0].isspace()) or not _blank(record)):
                yield record
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableCsv(str(exc)) from None
    finally:
        text.detach()  # the file outlives the wrapper; closing is its owner's job


def read_header(file: BinaryIO) -> list[str] | None:
    """The header's names, stripped; None for a file with no records at all."""
    records = _records(file)
    try:
        header = next(records, None)
    finally:
        records.close()
    return None if header is None else [name.strip() for name in header]


def _number(cell: str) -> int | float:
    """A number property's value from a non-empty cell; ValueError if it is not one.

    Stricter than `float()`, which takes "nan", "inf" and "1_000".
    """
    if _INTEGER.fullmatch(cell):
        return int(cell)
    if _NUMBER.fullmatch(cell):
        number = float(cell)
        if number not in (float("inf"), float("-inf")):  # "1e999"
            return number
    raise ValueError(cell)


def _row_parser(columns: Columns) -> Callable[[list[str]], ImportRow | None]:
    """A function from a record to the row it stands for, or None if the row fails (bad
    email, `unsubscribed` or property value). It runs once per row, so it works on locals.

    Cells are stripped; an empty cell (or one past the end of a short record) sets nothing.
    """
    email_at, unsubscribed_at = columns.email, columns.unsubscribed
    first_at, last_at = columns.first_name, columns.last_name
    properties = columns.properties
    width = 1 + max(
        index
        for index in (email_at, first_at, last_at, unsubscribed_at, *(i for i, _ in properties))
        if index is not None
    )
    padding = [""] * width
    flags = _FLAGS

    def parse(record: list[str]) -> ImportRow | None:
        if len(record) < width:
            record = record + padding[len(record) :]
        email = record[email_at].strip()
        if not is_email(email):
            return None
        unsubscribed = None
        if unsubscribed_at is not None:
            flag = record[unsubscribed_at].strip()
            if flag:
                unsubscribed = flags.get(flag.lower())
                if unsubscribed is None:
                    return None
        values: list[PropertyValue | None] = []
        for index, type_ in properties:
            raw = record[index].strip()
            if not raw:
                values.append(None)
            elif type_ == "string":
                values.append(raw)
            else:
                try:
                    values.append(_number(raw))
                except ValueError:
                    return None
        return ImportRow(
            email,
            None if first_at is None else record[first_at].strip() or None,
            None if last_at is None else record[last_at].strip() or None,
            unsubscribed,
            tuple(values),
        )

    return parse


@dataclass(frozen=True, slots=True)
class _Job:
    import_id: str
    file: BinaryIO
    columns: Columns | None
    """None when the header could not be read (or there is none): there is nothing to
    apply, only a file to check."""
    plan: ImportPlan
    start_at: float
    """`time.monotonic()` before which the import stays queued."""


class _Stopped(Exception):  # noqa: N818 - control flow, never escapes the worker
    pass


class ImportRunner:
    """Applies submitted imports one at a time, in order, on a worker thread.

    The thread starts with the first job and ends when the queue is empty, so an idle
    emulator holds no thread. `close` fails what is still queued or running.
    """

    def __init__(self, store: ImportQueries, *, delay: float = 0.0) -> None:
        self._store = store
        self._delay = delay
        self._lock = threading.Lock()
        self._pending: deque[_Job] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def submit(
        self, import_id: str, file: BinaryIO, columns: Columns | None, plan: ImportPlan
    ) -> None:
        """Queue an import; the runner owns `file` from now on and closes it."""
        job = _Job(import_id, file, columns, plan, time.monotonic() + self._delay)
        with self._lock:
            if self._stopping.is_set():
                file.close()
                raise RuntimeError("the emulator store is closed")
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="emulator-imports", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop after the current batch, fail the unfinished imports and close their files."""
        with self._lock:
            self._stopping.set()
            thread = self._thread
        if thread is not None:
            thread.join(_CLOSE_TIMEOUT)
        with self._lock:
            jobs, self._pending = list(self._pending), deque()
        for job in jobs:
            job.file.close()
        if jobs:
            self._store.fail_unfinished_imports([job.import_id for job in jobs])

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._pending or self._stopping.is_set():
                    self._thread = None
                    return
                job = self._pending.popleft()
            try:
                self._run(job)
            except Exception:  # a worker thread has no caller to raise to
                logger.exception("Contact import %s failed unexpectedly", job.import_id)
                self._try_to_fail(job.import_id)
            finally:
                job.file.close()

    def _run(self, job: _Job) -> None:
        if self._stopping.wait(max(0.0, job.start_at - time.monotonic())):
            self._try_to_fail(job.import_id)
            return
        store = self._store
        store.start_import(job.import_id)
        try:
            total = self._count_rows(job.file)
            store.count_import_rows(job.import_id, total)
            if total and job.columns is None:  # the header failed but the file reads now?
                raise UnreadableCsv("the header could not be read")
            if job.columns is not None:
                for rows, failed in self._batches(job.file, job.columns):
                    store.apply_import_rows(job.import_id, job.plan, rows, failed)
        except UnreadableCsv as exc:
            logger.info("Contact import %s failed: unreadable CSV (%s)", job.import_id, exc)
            store.finish_import(job.import_id, "failed")
        except _Stopped:
            store.finish_import(job.import_id, "failed")
        else:
            store.finish_import(job.import_id, "completed")

    def _count_rows(self, file: BinaryIO) -> int:
        """The rows after the header; reading the whole file proves that it can be read."""
        records = _records(file)
        total = -1  # the header is not a row
        try:
            for total, _record in enumerate(records):
                if total % BATCH_ROWS == 0 and self._stopping.is_set():
                    raise _Stopped
        finally:
            records.close()
        return max(total, 0)

    def _batches(self, file: BinaryIO, columns: Columns) -> Iterator[tuple[list[ImportRow], int]]:
        """(valid rows, count of failed rows) per batch of at most `BATCH_ROWS` records."""
        records = _records(file)
        next(records, None)  # the header
        rows: list[ImportRow] = []
        failed = 0
        parse = _row_parser(columns)
        try:
            for record in records:
                row = parse(record)
                if row is None:
                    failed += 1
                else:
                    rows.append(row)
                if len(rows) + failed >= BATCH_ROWS:
                    if self._stopping.is_set():
                        raise _Stopped
                    yield rows, failed
                    rows, failed = [], 0
        finally:
            records.close()
        if rows or failed:
            yield rows, failed

    def _try_to_fail(self, import_id: str) -> None:
        try:
            self._store.finish_import(import_id, "failed")
        except Exception:  # the store may be closed already; nothing is left to tell
            logger.debug("Could not mark contact import %s failed", import_id, exc_info=True)
