"""Import through Resend's Contact Imports API: normalized CSV parts, uploaded, then polled.

The file is rewritten streaming as a normalized CSV (mapped columns only, under our own
header names, values parsed and checked), split into parts under the API's size limit.
Rows that cannot be imported never leave the machine: they go to the failure report.
Each part is uploaded once: if an upload's response is lost, the recent imports are
listed and a new one adopted rather than uploading twice. Upload ids are journaled, so a
re-run after a crash or cancel only waits for what is still running.

Consent: with `on_conflict="upsert"`, an existing contact who unsubscribed keeps
`unsubscribed` (the cell is left empty), and existing contacts go into parts uploaded
without the file's topic opt-ins.

Undo: Resend reports only counts, so with a journal (`ImportPlan.before`) the newest
contact is noted before the first upload (one request), and once every part is done the
contacts newer than it are listed, newest first (one request per 100 of them): each of
those the file names was created by the import, and is journaled so (with its names and
`unsubscribed` as listed: list pages carry nothing more). What an upsert changed of
existing contacts is not known, and not journaled.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import anyio

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import (
    APIError,
    NotFoundError,
    RateLimitError,
    ResendError,
    TransportError,
)
from contacts_mcp.imports.journal import ExistingContact, PartRecord, email_key
from contacts_mcp.imports.plan import ImportPlan, ImportSummary, scan_existing
from contacts_mcp.imports.preview import FirstSeen, MappedRow, iter_mapped_rows
from contacts_mcp.services.before_state import Facts, Recorded
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.services.private import private_file

__all__ = ["run_api"]

BUILT_IN = ("first_name", "last_name", "unsubscribed")
MAX_POLL_INTERVAL = 3.0


class _Writer:
    """Writes rows into size-capped CSV parts, one open part per group."""

    def __init__(self, plan: ImportPlan, header: list[str]) -> None:
        self._plan = plan
        self._header = header
        self.parts: list[PartRecord] = []
        self._open: dict[str, tuple[PartRecord, TextIO, Any]] = {}

    def path(self, part: PartRecord) -> Path:
        return part_path(self._plan, part.number)

    def write(self, group: str, values: list[str]) -> None:
        entry = self._open.get(group)
        if entry is None or entry[1].tell() >= self._plan.settings.api_part_bytes:
            if entry is not None:
                entry[1].close()
            part = PartRecord(number=len(self.parts), group=group, import_id=None, rows=0)
            handle = private_file(self.path(part)).open("w", newline="", encoding="utf-8")
            writer = csv.writer(handle)
            writer.writerow(self._header)
            self.parts.append(part)
            entry = (part, handle, writer)
            self._open[group] = entry
        part, _, writer = entry
        writer.writerow(values)
        part.rows += 1

    def close(self) -> None:
        for _, handle, _ in self._open.values():
            handle.close()
        self._open.clear()


def part_path(plan: ImportPlan, number: int) -> Path:
    return plan.report_dir / f"part-{number:03d}.csv"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_parts(plan: ImportPlan, consent_check: bool) -> tuple[list[PartRecord], Counter[str]]:
    """Normalize the file into parts (runs in a worker thread: it is pure CPU and disk)."""
    built_in = [name for name in BUILT_IN if name in plan.columns.values()]
    header = ["email", *built_in, *plan.property_types]
    opt_ins = any(sub == "opt_in" for sub in plan.topics.values())
    writer = _Writer(plan, header)
    first_seen = FirstSeen()
    tally: Counter[str] = Counter()
    journal = plan.journal
    expected = _Expected(plan)
    try:
        with plan.source.table(plan.settings.files) as table:
            for mapped in iter_mapped_rows(table, plan.columns, plan.property_types):
                routed = _route(plan, mapped, consent_check, first_seen)
                if routed is None:
                    continue
                existing = routed
                tally["existing" if existing else "new"] += 1
                if plan.dry_run:
                    continue
                fields = dict(mapped.fields)
                if existing and existing.unsubscribed and fields.get("unsubscribed") is False:
                    fields["unsubscribed"] = None  # never re-subscribe someone who left
                values = [mapped.email or ""]
                values += [_cell(fields.get(name)) for name in built_in]
                values += [_cell(mapped.properties.get(key)) for key in plan.property_types]
                # Existing contacts are uploaded apart when the file opts people in to
                # topics: that upload carries only the opt-outs.
                writer.write("existing" if existing and opt_ins else "new", values)
                expected.add(mapped.email or "", mapped.properties)
    finally:
        writer.close()
        journal.flush()
        expected.flush()
    return writer.parts, tally


class _Expected:
    """What the upload will ask Resend to write, told to the mirror in batches (see
    `Mirror.expect_import`): Resend reports only counts, so an upsert's existing contacts
    stop being vouched for as soon as they are written into a part."""

    BATCH = 1000

    def __init__(self, plan: ImportPlan) -> None:
        self._plan = plan
        self._rows: list[tuple[str, list[str], dict[str, Any]]] = []
        if plan.mirror is not None and not plan.dry_run:
            plan.mirror.begin_import()

    def add(self, email: str, values: dict[str, Any]) -> None:
        if self._plan.mirror is None or self._plan.dry_run:
            return
        self._rows.append((email, self._plan.segment_ids, values))
        if len(self._rows) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._plan.mirror is not None and self._rows:
            upsert = self._plan.on_conflict == "upsert"
            self._plan.mirror.expect_import(self._rows, upsert=upsert)
        self._rows = []


def _route(
    plan: ImportPlan, mapped: MappedRow, consent_check: bool, first_seen: FirstSeen
) -> ExistingContact | Literal[False] | None:
    """None when the row is reported instead of uploaded; else the contact it updates
    (False for a new one, or when existing contacts were not looked up)."""
    journal = plan.journal
    if mapped.problem is not None or mapped.email is None:
        journal.record(mapped.row, "failed", mapped.email, mapped.problem or "no email address")
        return None
    first = first_seen.add(email_key(mapped.email), mapped.row)
    if first:
        detail = f"same email as row {first}; row {first} wins"
        journal.record(mapped.row, "duplicate", mapped.email, detail)
        return None
    existing = journal.existing(mapped.email) if consent_check else None
    return existing or False


async def _upload(client: ResendClient, plan: ImportPlan, part: PartRecord) -> str:
    """Start one import job for `part`, never twice for the same bytes."""
    topics = plan.topics
    if part.group == "existing":
        topics = {tid: sub for tid, sub in plan.topics.items() if sub == "opt_out"}
    columns = {
        name: name
        for name in ("email", *BUILT_IN)
        if name == "email" or name in plan.columns.values()
    }
    before = plan.imports_before or {j.id for j in await client.list_contact_imports(limit=20)}
    for attempt in range(2):
        try:
            with part_path(plan, part.number).open("rb") as file:
                created = await client.create_contact_import(
                    file,
                    filename=f"{plan.key}-{part.number:03d}.csv",
                    columns=columns,
                    property_types=plan.property_types,
                    on_conflict=plan.on_conflict,
                    segments=plan.segment_ids,
                    topics=topics,
                )
            plan.imports_before = before | {created.id}
            return created.id
        except (TransportError, APIError) as exc:
            if isinstance(exc, APIError) and exc.status_code < 500:
                raise
            # The upload may have arrived: adopt the job it created rather than upload again.
            recent = await client.list_contact_imports(limit=20)
            new = [job.id for job in recent if job.id not in before]
            if len(new) == 1:
                plan.imports_before = before | {new[0]}
                return new[0]
            if attempt == 1:
                raise
            await anyio.sleep(2.0)
    raise AssertionError("unreachable")


async def run_api(client: ResendClient, plan: ImportPlan) -> ImportSummary:
    """Import `plan` through the Contact Imports API."""
    started = time.monotonic()
    requests_before = client.requests_sent
    journal = plan.journal
    parts = journal.parts()
    if parts and all(p.finished for p in parts):
        # A finished import run again is a new import: uploading is cheap, and it puts
        # back whatever changed since (upsert makes it safe to repeat).
        journal.reset()
        parts = []
    elif parts and not await _jobs_still_known(client, parts):
        # The journal belongs to jobs this backend never saw (a reset database, say).
        plan.notes.append("An earlier run's upload is unknown to Resend; starting over.")
        journal.reset()
        parts = []
    resumed = sum(p.rows for p in parts if p.import_id)
    opt_ins = any(sub == "opt_in" for sub in plan.topics.values())
    consent_check = plan.dry_run or (
        plan.on_conflict == "upsert" and ("unsubscribed" in plan.columns.values() or opt_ins)
    )
    journaled = plan.before is not None and not plan.dry_run
    try:
        if not parts:
            if consent_check:
                await plan.progress(0, plan.total_rows, "looking up existing contacts")
                await scan_existing(client, journal)
            if journaled:
                await _note_newest(client, plan)
            await plan.progress(0, plan.total_rows, "preparing the file")
            parts, tally = await anyio.to_thread.run_sync(_write_parts, plan, consent_check)
            if plan.dry_run:
                return _dry_summary(plan, tally, started, client.requests_sent - requests_before)
            for part in parts:
                journal.save_part(part)
        for part in parts:
            if part.import_id is None:
                await plan.progress(0, plan.total_rows, f"uploading part {part.number + 1}")
                part.import_id = await _upload(client, plan, part)
                journal.save_part(part)
                part_path(plan, part.number).unlink(missing_ok=True)
        totals = await _wait(client, plan, parts)
        if journaled:
            await plan.progress(plan.total_rows, plan.total_rows, "listing what it created")
            await _journal_created(client, plan)
    except ResendError as exc:
        raise UserFacingError(
            f"{explain(exc)} Parts uploaded so far are saved; run the same import again to "
            "continue."
        ) from None
    counts = journal.counts()
    return ImportSummary(
        strategy="api",
        dry_run=False,
        rows=plan.total_rows,
        created=totals["created"],
        updated=totals["updated"],
        skipped=totals["skipped"],
        failed=totals["failed"] + counts.get("failed", 0),
        duplicates=counts.get("duplicate", 0),
        resumed_rows=resumed,
        requests=client.requests_sent - requests_before,
        seconds=round(time.monotonic() - started, 3),
        import_ids=[p.import_id for p in parts if p.import_id],
        notes=plan.notes,
    )


_NEWEST = "newest contact before"


async def _note_newest(client: ResendClient, plan: ImportPlan) -> None:
    """Note the account's newest contact before anything is uploaded: every contact the
    import creates is newer (lists are newest first)."""
    page = await client.list_contacts(limit=1)
    newest = page.data[0] if page.data else None
    plan.journal.note_fact(
        _NEWEST, "" if newest is None else json.dumps([newest.id, newest.created_at])
    )


def _file_addresses(plan: ImportPlan) -> set[str]:
    """The addresses of the file's importable rows (by `email_key`); runs in a worker
    thread."""
    found: set[str] = set()
    with plan.source.table(plan.settings.files) as table:
        for mapped in iter_mapped_rows(table, plan.columns, plan.property_types):
            if mapped.problem is None and mapped.email:
                found.add(email_key(mapped.email))
    return found


async def _journal_created(client: ResendClient, plan: ImportPlan) -> None:
    """Journal each contact the import created: newer than the newest contact before it,
    and named by the file. (One created elsewhere meanwhile, at an address the file
    names, is counted too: the import would have left it alone, and the undo's preview
    lists what it deletes.)"""
    assert plan.before is not None
    noted = plan.journal.fact(_NEWEST)
    if noted is None:  # resumed from a run that noted nothing: nothing to tell them apart
        plan.notes.append(
            "The contacts this import created are not recorded for an undo: its first run "
            "did not note the account's newest contact before it."
        )
        return
    mark_id, mark_at = json.loads(noted) if noted else (None, None)
    since = _moment(mark_at)
    named = await anyio.to_thread.run_sync(_file_addresses, plan)
    async for contact in client.iter_contacts(page_size=100):
        if contact.id == mark_id:
            break
        moment = _moment(contact.created_at)
        if since is not None and moment is not None and moment <= since:
            break  # older than the import: every contact from here on existed before
        if email_key(contact.email) in named:
            names = {"first_name": contact.first_name, "last_name": contact.last_name}
            after = Facts(
                unsubscribed=contact.unsubscribed,
                names={key: value or None for key, value in names.items()},
            )
            plan.before.add(Recorded(contact.email, contact.id, Facts(exists=False), after))


def _moment(created_at: str | None) -> datetime | None:
    """A contact's creation time, as Resend writes it ("2026-12-03 15:06:24.123+00")."""
    if not created_at:
        return None
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _jobs_still_known(client: ResendClient, parts: list[PartRecord]) -> bool:
    uploaded = [p.import_id for p in parts if p.import_id]
    if not uploaded:
        return True
    try:
        await client.get_contact_import(uploaded[0])
    except NotFoundError:
        return False
    return True


async def _wait(client: ResendClient, plan: ImportPlan, parts: list[PartRecord]) -> Counter[str]:
    """Poll every job until it is done, reporting progress; sum their counts."""
    keys = ("created", "updated", "skipped", "failed")
    latest: dict[int, Counter[str]] = {}
    local = sum(plan.journal.counts().values())  # rows reported here, never uploaded
    interval = plan.settings.api_poll_interval
    while True:
        for part in parts:
            if (part.finished and part.number in latest) or part.import_id is None:
                continue
            try:
                job = await client.get_contact_import(part.import_id)
            except RateLimitError:
                continue
            latest[part.number] = Counter({k: getattr(job.counts, k) for k in keys})
            if job.status in ("completed", "failed") and not part.finished:
                part.finished = True
                plan.journal.save_part(part)
                if job.status == "failed":
                    plan.notes.append(f"Import job {part.import_id} failed on Resend's side.")
        processed = local + sum(sum(c.values()) for c in latest.values())
        await plan.progress(min(processed, plan.total_rows), plan.total_rows, "importing")
        if all(p.finished for p in parts):
            return sum(latest.values(), Counter())
        await anyio.sleep(interval)
        interval = min(interval * 1.5, MAX_POLL_INTERVAL)


def _dry_summary(
    plan: ImportPlan, tally: Counter[str], started: float, requests: int
) -> ImportSummary:
    counts = plan.journal.counts()
    upsert = plan.on_conflict == "upsert"
    plan.notes.append("Dry run: nothing was uploaded.")
    return ImportSummary(
        strategy="api",
        dry_run=True,
        rows=plan.total_rows,
        created=tally["new"],
        updated=tally["existing"] if upsert else 0,
        skipped=0 if upsert else tally["existing"],
        failed=counts.get("failed", 0),
        duplicates=counts.get("duplicate", 0),
        requests=requests,
        seconds=round(time.monotonic() - started, 3),
        notes=plan.notes,
    )
