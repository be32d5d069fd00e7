"""Work on sets of contacts: a selection resolved to ids, a confirmation bound to it,
and the per-contact work of deletes and exports.

A selection is a list of contacts (ids or emails) or a search (the conditions of
`search_contacts`), resolved to contact ids. A run does exactly what its preview showed:
the preview's confirmation is an HMAC, under a secret of this server, over the action,
the resolved ids, the change and an expiry. It proves the model saw the preview (the
model cannot forge one); it does not prove a person agreed: where the client can ask
the person (form elicitation), the tools do that too.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from pydantic import BaseModel, Field

from contacts_mcp.api.client import ResendClient
from contacts_mcp.api.errors import (
    NotFoundError,
    RateLimitError,
    ResendError,
    ServerError,
    TransportError,
)
from contacts_mcp.api.models import is_uuid
from contacts_mcp.services.explain import UserFacingError, explain
from contacts_mcp.services.jobs import Progress, utc_iso
from contacts_mcp.services.mirror import Filter, MirroredContact
from contacts_mcp.services.outfiles import Kind, OutFile, WrittenFiles
from contacts_mcp.services.private import private_file, private_folder
from contacts_mcp.services.recheck import (
    Item,
    Needs,
    complete_records,
    each,
    needs_for,
    observe,
    still_matching,
)
from contacts_mcp.services.sets import (
    Condition,
    ContactsSets,
    SyncRun,
    patiently,
    read_record,
)
from contacts_mcp.text.caps import (
    MAX_SHOWN_PROPERTIES,
    MAX_SHOWN_VALUE_CHARS,
    more_than_shown,
    shown,
    shown_items,
    shown_value,
)
from contacts_mcp.text.cells import segments_cell, topics_cell
from contacts_mcp.text.sanitize import formula_safe
from contacts_mcp.text.words import counted

__all__ = [
    "CONFIRM_SECONDS",
    "FRESH_SECONDS",
    "MAX_SELECTION",
    "READ_ONE_BY_ONE_UP_TO",
    "BulkOutcome",
    "Confirmations",
    "ContactsCsv",
    "ExportOutcome",
    "People",
    "Selected",
    "attempts",
    "check_selection",
    "select",
    "write_contacts_csv",
    "write_failures",
]

T = TypeVar("T")
MAX_SELECTION = 10_000
# Named contacts the mirror does not hold are read one by one up to this many; past it,
# the tools fill the mirror first.
READ_ONE_BY_ONE_UP_TO = 100
CONFIRM_SECONDS = 600
# A mirror fully synced longer ago than this is refreshed before an export or a bulk
# change reads the contacts' state from it.
FRESH_SECONDS = 15 * 60
BUILT_IN_COLUMNS = ("email", "first_name", "last_name", "unsubscribed")
# Contacts a result names by email, at most.
SAMPLE = 10


# Why a contact about to be deleted is left alone (None: delete it), given what was just
# read of it: the contact, its segment ids, and its topic choices by name (if read).
LeaveAlone = Callable[[MirroredContact, list[str], Mapping[str, str] | None], str | None]


@dataclass(frozen=True)
class Selected:
    """A resolved selection: the contacts, newest first, with their segment ids."""

    contacts: list[tuple[MirroredContact, list[str]]]
    missing: list[str]

    @property
    def ids(self) -> list[str]:
        return [contact.id for contact, _ in self.contacts]

    @property
    def size(self) -> int:
        return len(self.contacts)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.ids)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class People:
    """The people an erasure names, by address (normalized): what its confirmation binds."""

    addresses: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.addresses)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.addresses)).encode()).hexdigest()[:32]


class Bound(Protocol):
    """What a confirmation is bound to: a selection of contacts, or people to forget."""

    @property
    def size(self) -> int: ...

    def digest(self) -> str: ...


def check_selection(contacts: Sequence[str] | None, where: Sequence[Condition] | None) -> None:
    """Exactly one way of selecting contacts must be given."""
    if (contacts is None) == (where is None):
        raise UserFacingError(
            "Select contacts with exactly one of `contacts` (ids or emails) or `search` "
            "(the selection of a search_contacts answer)."
        )


async def select(
    sets: ContactsSets,
    client: ResendClient,
    contacts: Sequence[str] | None,
    where: Sequence[Condition] | None,
    *,
    reread: bool = False,
) -> Selected:
    """The contacts named by `contacts`, or matching `where`, as the mirror knows them.

    Named contacts the mirror does not hold (all of them, if `reread`) are read from the
    API: two requests each, the contact and its segments.
    """
    check_selection(contacts, where)
    if where is not None:
        # One search gives both the count and (within the limit) every id.
        found = await sets.search(where, limit=MAX_SELECTION, after=None, count_only=False)
        if found.count > MAX_SELECTION:
            raise UserFacingError(
                f"{found.count} contacts match; one call takes at most {MAX_SELECTION}. "
                "Split the selection, e.g. by adding a created_at condition (before or "
                "after a date), and run each part."
            )
        matched = [contact.id for contact in found.contacts]
        return Selected(await anyio.to_thread.run_sync(sets.mirror.contacts, matched), [])
    named = list(dict.fromkeys(ref.strip() for ref in contacts or () if ref.strip()))
    if not named:
        raise UserFacingError("The selection is empty: name at least one contact.")
    if len(named) > MAX_SELECTION:
        raise UserFacingError(
            f"{len(named)} contacts named; one call takes at most {MAX_SELECTION}. "
            f"Split the list into parts of up to {MAX_SELECTION} and run each."
        )
    ids: list[str] = []
    unknown: list[str] = []
    for ref in named:
        found_id = None if reread else ref if is_uuid(ref) else sets.mirror.find_id(ref)
        (ids if found_id else unknown).append(found_id or ref)
    known = await anyio.to_thread.run_sync(sets.mirror.contacts, ids)
    held = {contact.id for contact, _ in known}
    unknown.extend(i for i in ids if i not in held)
    missing: list[str] = []
    for ref in unknown:  # not in the mirror: ask Resend (and keep the answer)
        read_at = time.time()
        try:
            contact = await patiently(partial(client.get_contact, ref))
            segments = await patiently(partial(client.list_contact_segments, contact.id))
        except NotFoundError:
            if gone := ref if is_uuid(ref) else sets.mirror.find_id(ref):
                sets.mirror.remove(gone)
            missing.append(ref)
            continue
        except ResendError as exc:
            raise explain(exc) from None
        if contact.id in held:
            continue  # named twice (by id and by email)
        held.add(contact.id)
        record = read_record(contact, read_at)
        sets.mirror.upsert(record, changed=False, at=read_at)
        sets.mirror.set_memberships(contact.id, [s.id for s in segments])
        known.append((record, sorted(s.id for s in segments)))
    known.sort(key=lambda item: (item[0].created_at, item[0].id), reverse=True)
    return Selected(known, missing)


# -- confirmations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    action: str
    selection: str
    change: str
    count: int
    summary: str
    expires: float
    nonce: str


class Confirmations:
    """Issue and check confirmations: HMAC-SHA256 under this server's secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def for_folder(cls, folder: Path | None) -> Confirmations:
        """A secret kept in `folder` (so confirmations outlive a restart), or a fresh one."""
        if folder is None:
            return cls(secrets.token_bytes(32))
        path = folder / "confirm.key"
        try:
            secret = path.read_bytes()
        except FileNotFoundError:
            secret = b""
        if len(secret) >= 32:
            return cls(secret)
        # Missing, or cut short by a crash while it was written: a new one (written
        # whole, then given its name, readable by this user only). Confirmations issued
        # under an old one are refused; a new preview gives a good one.
        private_folder(folder)
        secret = secrets.token_bytes(32)
        partial = path.with_name(f"confirm.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secret)
        try:
            # A link fails if the name is taken: another server on the folder (another
            # host window) starting at the same moment may have put its key there first,
            # and all of them must sign with one key.
            os.link(partial, path)
        except FileExistsError:
            kept = path.read_bytes()
            if len(kept) >= 32:
                secret = kept
            else:
                os.replace(partial, path)
        except OSError:  # no hard links on this file system
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return cls(secret)

    def issue(self, action: str, selected: Bound, change: Mapping[str, Any], summary: str) -> str:
        payload = {
            "a": action,
            "s": selected.digest(),
            "c": _change_digest(change),
            "n": selected.size,
            "m": summary[:200],
            "e": int(time.time() + CONFIRM_SECONDS),
            "j": secrets.token_hex(8),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def read(self, token: str) -> Confirmation | None:
        """The confirmation `token` carries if this server signed it (expired or not)."""
        body, _, signature = token.strip().partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            return Confirmation(
                data["a"], data["s"], data["c"], int(data["n"]), str(data["m"]),
                float(data["e"]), str(data["j"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def check(
        self, token: str, action: str, selected: Bound, change: Mapping[str, Any]
    ) -> Confirmation:
        """The confirmation, if it is this server's, unexpired, and for exactly this."""
        found = self.read(token)
        if found is None or found.action != action:
            raise UserFacingError(
                "That confirmation is not one this server issued for this action. Call "
                "again without `confirm` for a preview, and pass the confirm it returns."
            )
        if found.expires < time.time():
            raise UserFacingError(
                "That confirmation has expired (they last 10 minutes). Call again without "
                "`confirm` for a fresh preview."
            )
        if found.change != _change_digest(change):
            raise UserFacingError(
                "That confirmation was for a different change. Call again without `confirm` "
                "for a preview of this one."
            )
        if found.selection != selected.digest() and found.count == selected.size:
            raise UserFacingError(
                "The selection changed since the preview (as many, not the same ones). "
                "Call again without `confirm` for a new preview."
            )
        if found.selection != selected.digest():
            raise UserFacingError(
                f"The selection changed since the preview ({counted(found.count, 'contact')} "
                f"then, {selected.size} now). Call again without `confirm` for a new "
                "preview."
            )
        return found

    def person_digest(self, email: str) -> str:
        """A keyed hash of an email address, for the audit log: the same address gives
        the same digest under this server's secret, and nobody without it can tell
        which address it was (an unkeyed hash of an address is guessed in no time)."""
        key = email.strip().casefold().encode()
        return "hmac:" + hmac.new(self._secret, b"person\0" + key, hashlib.sha256).hexdigest()[:24]

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _change_digest(change: Mapping[str, Any]) -> str:
    canonical = json.dumps(change, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# -- per-contact work --------------------------------------------------------------------


class BulkOutcome(BaseModel):
    """What a bulk run did, contact by contact."""

    action: str
    selected: int
    done: int = Field(description="Contacts changed (or deleted).")
    unchanged: int = Field(default=0, description="Already as asked (or already gone).")
    refused: int = Field(default=0, description="Held back by the consent guard.")
    no_longer_matching: int = Field(
        default=0, description="Left untouched: no longer met the search at run time."
    )
    no_longer_matching_sample: list[str] = Field(default_factory=list[str])
    changed_since: int = Field(
        default=0, description="Undo: left alone, changed again after the run."
    )
    changed_since_sample: list[str] = Field(default_factory=list[str])
    gone: int = Field(default=0, description="Undo: deleted since the run.")
    failed: int = 0
    requests: int = 0
    seconds: float = 0.0
    snapshot_file: str | None = Field(default=None, description="Deleted contacts, re-importable.")
    failures_file: str | None = None
    notes: list[str] = Field(default_factory=list)


class UnwritableValueError(UserFacingError):
    """A value a CSV file cannot carry: nothing is written (nor, for a delete, deleted)."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; nothing was written. {fix}")
        self.problem = problem
        self.fix = fix


class ContactsCsv:
    """Contacts written as RFC 4180 CSV (UTF-8, CRLF): built-in fields, `properties`, and
    segment names; every cell formula-safe.

    Written as an `OutFile`: under a hidden name until `finish` gives the complete file
    its own, so a crash or a cancel never leaves half a CSV under the name (a resumed job
    simply writes it again), and no link or pipe planted in the folder is written through.
    With `overwrite`, only a file `written` records as this server's own is replaced.
    """

    def __init__(
        self,
        path: Path,
        properties: Sequence[str],
        segment_names: Mapping[str, str],
        *,
        overwrite: bool,
        written: WrittenFiles | None,
        kind: Kind = "export",
        topics: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.path = path
        self.rows = 0
        self._properties = list(properties)
        self._names = segment_names
        # Contact id → topic name → subscription; None: no topics column.
        self._topics = topics
        self._file = OutFile(path, kind=kind, replace=overwrite, written=written)
        self._writer = csv.writer(self._file.text(), lineterminator="\r\n")
        header = [*BUILT_IN_COLUMNS, *self._properties, "segments"]
        self._writer.writerow(header if topics is None else [*header, "topics"])

    def write(self, records: Iterable[tuple[MirroredContact, list[str]]]) -> None:
        for contact, segments in records:
            row = contact_row(contact, segments, self._properties, self._names)
            if self._topics is not None:
                row["topics"] = topics_cell(self._topics.get(contact.id, {}))
            if held := next((column for column, cell in row.items() if "\x00" in cell), None):
                # A CSV reader (ours included) takes a NUL for a binary file: the file
                # would not import back, so nothing is written.
                raise UnwritableValueError(
                    f"{contact.email}'s {held} holds a NUL character, which a CSV file "
                    "cannot carry",
                    "Change that value in Resend, or leave that property out.",
                )
            self._writer.writerow([formula_safe(cell) for cell in row.values()])
            self.rows += 1

    def finish(self) -> None:
        self._file.publish(self.rows)

    def abandon(self) -> None:
        self._file.abandon()


async def _named_again(
    sets: ContactsSets, client: ResendClient, named: Sequence[Item], read: Sequence[Item]
) -> list[Item]:
    """Named contacts found deleted when read, read again by their email: an address
    deleted and created again elsewhere belongs to a new contact, which is the one
    named (two requests each, as any named contact the mirror does not hold)."""
    kept = {contact.id for contact, _ in read}
    gone = [contact.email for contact, _ in named if contact.id not in kept]
    if not gone:
        return []
    return (await select(sets, client, gone, None, reread=True)).contacts


def contact_row(
    contact: MirroredContact,
    segments: Sequence[str],
    properties: Sequence[str],
    segment_names: Mapping[str, str],
) -> dict[str, str]:
    """One contact as export columns (the raw values, before formula-safety)."""
    values = contact.properties or {}
    return {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "unsubscribed": "true" if contact.unsubscribed else "false",
        **{key: _cell(values.get(key)) for key in properties},
        "segments": segments_cell(sorted(segment_names.get(s, s) for s in segments)),
    }


def write_contacts_csv(
    path: Path,
    records: Iterable[tuple[MirroredContact, list[str]]],
    properties: Sequence[str],
    segment_names: Mapping[str, str],
    *,
    overwrite: bool,
    written: WrittenFiles | None,
    kind: Kind,
    topics: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Write `records` whole as a `ContactsCsv`; returns the rows written."""
    out = ContactsCsv(
        path,
        properties,
        segment_names,
        overwrite=overwrite,
        written=written,
        kind=kind,
        topics=topics,
    )
    try:
        out.write(records)
    except BaseException:
        out.abandon()
        raise
    out.finish()
    return out.rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Whole numbers as integers ("3", not "3.0"), where a float holds them exactly;
        # the rest as Python's shortest exact text ("1e-07", "1e+300"): import reads
        # each back to the same number.
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def _shown_row(row: Mapping[str, str]) -> dict[str, str]:
    """An inline row as shown to the model (`text.caps`): the file keeps values exact."""
    return {
        shown(column): shown(cell) if column in BUILT_IN_COLUMNS else shown_value(cell)
        for column, cell in row.items()
    }


def _shown_columns(keys: Sequence[str], *, topics: bool) -> list[str]:
    """An export's columns as shown to the model: the property columns under the rule
    for a contact's properties (a file export may have any number)."""
    kept, left_out = shown_items(keys, MAX_SHOWN_PROPERTIES)
    more = [more_than_shown(left_out, "property columns")] if left_out else []
    return [
        *BUILT_IN_COLUMNS,
        *(shown(key) for key in kept),
        *more,
        "segments",
        *(["topics"] if topics else []),
    ]


INLINE_ROWS = 50


class ExportOutcome(BaseModel):
    file: str | None = Field(description="The CSV written (RFC 4180, UTF-8).")
    rows: int
    columns: list[str]
    contacts: list[dict[str, str]] = Field(
        default_factory=list, description=f"The rows themselves, for up to {INLINE_ROWS}."
    )
    refreshed: bool = Field(description="The mirror was synced first, to be fresh.")
    freshness: dict[str, str] = Field(
        default_factory=dict[str, str], description="Per column: as of when its values are."
    )
    requests: int = 0
    seconds: float = 0.0


# Contacts read from the mirror (and written) at a time: memory stays flat at any size.
EXPORT_CHUNK = 1000


class _Freshness:
    """As of when an export's values are, column by column, gathered as rows go out."""

    def __init__(self) -> None:
        self.fields: float | None = None
        self.values: float | None = None
        self.doubted = 0

    def add(self, records: Sequence[tuple[MirroredContact, list[str]]]) -> None:
        for contact, _ in records:
            self.doubted += contact.seen_at is None
            self.fields = _earliest(self.fields, contact.seen_at)
            self.values = _earliest(self.values, contact.properties_at)

    def columns(
        self, keys: Sequence[str], *, synced_at: float | None, read_now: bool, topics: bool
    ) -> dict[str, str]:
        def since(moment: float | None, what: str) -> str:
            return f"{what}, at {utc_iso(moment)} or later" if moment else what

        fields = ", ".join(BUILT_IN_COLUMNS[1:])
        columns = {fields: since(self.fields, "as Resend listed or returned them")}
        if self.doubted:
            columns[fields] += (
                f"; {self.doubted} were changed since by an import Resend does not report on"
            )
        if keys:
            columns[shown(", ".join(keys), MAX_SHOWN_VALUE_CHARS)] = (
                "read from Resend during this export"
                if read_now
                else since(self.values, "as last read from Resend (or written here)")
            )
        columns["segments"] = (
            "read from Resend during this export"
            if read_now
            else since(synced_at, "as of the last full sync (and changes made here since)")
        )
        if topics:
            columns["topics"] = "read from Resend during this export"
        return columns


def _earliest(current: float | None, moment: float | None) -> float | None:
    if moment is None:
        return current
    return moment if current is None else min(current, moment)


async def export_selected(
    client: ResendClient,
    sets: ContactsSets,
    contacts: Sequence[str] | None,
    where: Sequence[Condition] | None,
    properties: Sequence[str] | None,
    path: Path | None,
    *,
    overwrite: bool,
    written: WrittenFiles | None,
    progress: Progress,
    fresh: bool = False,
) -> ExportOutcome:
    """Export the selection from a fresh mirror: built-in fields, `properties` (None: all
    the account's), and segment names; to `path` and, for a few rows, inline. The outcome
    says per column as of when its values are; with `fresh`, every contact's fields,
    values and segments are read from Resend first (one request each, and the cheaper
    of one more each or every segment paged).

    A search's contacts are streamed from the mirror `EXPORT_CHUNK` at a time, so an
    export has no size limit beyond the disk; named contacts are at most 10,000.
    """
    started, sent_before = time.monotonic(), client.requests_sent
    state = await anyio.to_thread.run_sync(sets.mirror.state)
    refreshed = not state.fully_synced_within(FRESH_SECONDS)
    if refreshed:
        # A first fill that left memberships out listed the contacts: reading those is all.
        mode: SyncRun = "segments" if state.listed_within(FRESH_SECONDS) else "full"
        await sets.sync(mode, properties=False, progress=progress)
    if where is not None:
        total = (await sets.search(where, limit=1, after=None, count_only=True)).count
        chunks = _matching_chunks(sets, where)
    else:  # fresh: each read by the reference given (an email re-created elsewhere is found)
        selected = await select(sets, client, contacts, None, reread=fresh)
        total = len(selected.contacts)
        chunks = _one_chunk(selected)
    if path is None and total > INLINE_ROWS:
        raise UserFacingError(
            f"{total} contacts are more than the {INLINE_ROWS} an answer can hold: give a "
            "`path` (a new .csv in an import folder) to export them."
        )
    keys = await sets.property_keys(properties)
    if path is None and len(keys) > MAX_SHOWN_PROPERTIES:
        raise UserFacingError(
            f"{len(keys):,} property columns are more than the {MAX_SHOWN_PROPERTIES} an answer "
            "can show: name the ones wanted in `properties`, or give a `path` (a new .csv in "
            "an import folder) to export them all."
        )
    names = await segment_names(client)
    # A fresh export reads each contact's topic choices too (one request each), so it
    # re-imports whole; filled chunk by chunk, and emptied after each is written.
    topics: dict[str, dict[str, str]] | None = {} if fresh and await has_topics(client) else None
    out = (
        None
        if path is None
        else ContactsCsv(path, keys, names, overwrite=overwrite, written=written, topics=topics)
    )
    inline: list[dict[str, str]] = []
    exported = 0
    freshness = _Freshness()
    every_membership = fresh
    if (
        fresh
        and where is not None
        and sum(max(1, -(-n // 100)) for n in sets.mirror.segment_sizes().values()) < total
    ):
        # Cheaper paged whole once than read contact by contact, chunk after chunk.
        for segment_id in sets.mirror.segment_sizes():
            await sets.observe_segment(segment_id)
        every_membership = False
    try:
        async for chunk in chunks:
            records = chunk.contacts
            unreadable: list[tuple[str, str]] = []
            if fresh and where is not None:
                needs = Needs(values=True, every_membership=every_membership)
                records, observed = await observe(client, sets, records, needs, progress)
                unreadable = observed.unreadable
            elif keys and any(contact.properties is None for contact, _ in records):
                records, unreadable = await complete_records(
                    client, sets, chunk.contacts, progress, "reading properties"
                )
                if where is None and not unreadable:
                    records += await _named_again(sets, client, chunk.contacts, records)
            if topics is not None and not unreadable:
                read, unreadable = await read_topics(client, records, progress)
                topics.update(read)
            if unreadable:
                raise UserFacingError(
                    f"{_could_not(len(unreadable))} be read ({unreadable[0][1]}); "
                    "nothing was exported. Try again shortly."
                )
            freshness.add(records)
            if out is not None:
                await anyio.to_thread.run_sync(out.write, records)
            if total <= INLINE_ROWS:
                for contact, segments in records:
                    row = contact_row(contact, segments, keys, names)
                    if topics is not None:
                        row["topics"] = topics_cell(topics.get(contact.id, {}))
                    inline.append(_shown_row(row))
            if topics is not None:
                topics.clear()
            exported += len(records)
            await progress(exported, total, f"exported {exported} of {total}")
        if out is not None:
            await anyio.to_thread.run_sync(out.finish)
    except BaseException:
        if out is not None:
            out.abandon()
        raise
    return ExportOutcome(
        file=None if path is None else str(path),
        rows=exported,
        columns=_shown_columns(keys, topics=topics is not None),
        contacts=inline,
        refreshed=refreshed,
        freshness=freshness.columns(
            keys,
            synced_at=(await anyio.to_thread.run_sync(sets.mirror.state)).full_synced_at,
            read_now=fresh,
            topics=topics is not None,
        ),
        requests=client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
    )


async def _matching_chunks(
    sets: ContactsSets, where: Sequence[Condition]
) -> AsyncIterator[Selected]:
    """The contacts matching `where`, newest first, `EXPORT_CHUNK` at a time (keyset
    paging: stable while contacts come and go)."""
    filters = await sets.filters(where)
    after: str | None = None
    while True:
        try:
            page = await anyio.to_thread.run_sync(
                partial(sets.mirror.search, filters, limit=EXPORT_CHUNK, after=after)
            )
        except ValueError:  # the page's last contact left the mirror meanwhile
            raise UserFacingError(
                "Contacts were deleted while the export ran; nothing was exported. Export again."
            ) from None
        ids = [contact.id for contact in page.contacts]
        if ids:
            yield Selected(await anyio.to_thread.run_sync(sets.mirror.contacts, ids), [])
        if page.next_after is None:
            return
        after = page.next_after


async def _one_chunk(selected: Selected) -> AsyncIterator[Selected]:
    yield selected


async def segment_names(client: ResendClient) -> dict[str, str]:
    try:
        return {segment.id: segment.name for segment in await client.list_segments()}
    except ResendError as exc:
        raise explain(exc) from None


def delete_needs(where: Sequence[Filter] | None) -> Needs:
    """What a delete observes at run time: every contact read (the snapshot is the last
    copy of the latest values) and every membership, which re-checks a search's
    conditions too."""
    return Needs(
        segments=needs_for(where).segments, fields=True, values=True, every_membership=True
    )


async def delete_selected(
    client: ResendClient,
    sets: ContactsSets,
    selected: Selected,
    snapshot: Path,
    progress: Progress,
    where: Sequence[Condition] | None = None,
    *,
    written: WrittenFiles | None,
    unless: LeaveAlone | None = None,
) -> BulkOutcome:
    """Snapshot every selected contact (fields, properties, segments, read afresh) to
    `snapshot`, then delete them one by one; a contact already gone counts as done. With
    `where` (a search's conditions), a contact that no longer meets them is left alone;
    so is one for which `unless` (given what was just read: the contact, its segment ids,
    its topic choices by name) gives a reason (an undo's check that a contact it deletes
    did not change since)."""
    started, sent_before = time.monotonic(), client.requests_sent
    filters = None if where is None else await sets.filters(where)
    records, observed = await observe(
        client, sets, selected.contacts, delete_needs(filters), progress
    )
    unreadable = observed.unreadable
    dropped: list[tuple[str, str]] = []
    if where is not None:
        records, dropped = await still_matching(sets, where, records)
    emails = {contact.id: contact.email for contact, _ in selected.contacts}
    left = [(emails[contact_id], why) for contact_id, why in dropped]
    names = await segment_names(client)
    keys = sorted({key for contact, _ in records for key in contact.properties or {}})
    # Topic choices, so a restore gives back each opt-out (and opt-in) as it was.
    topics: dict[str, dict[str, str]] | None = None
    unreadable_topics: list[tuple[str, str]] = []
    if await has_topics(client):
        topics, unreadable_topics = await read_topics(client, records, progress)
    if unreadable_topics:
        unreadable = [*unreadable, *unreadable_topics]
        failed = {email for email, _ in unreadable_topics}
        records = [item for item in records if item[0].email not in failed]
    kept = 0
    if unless is not None:
        chosen = topics or {}
        changed = {c.id for c, segments in records if unless(c, segments, chosen.get(c.id))}
        kept = len(changed)
        records = [item for item in records if item[0].id not in changed]
    # Personal data, the last copy of it: readable by this user alone.
    private_folder(snapshot.parent)
    try:
        await anyio.to_thread.run_sync(
            lambda: write_contacts_csv(
                snapshot,
                records,
                keys,
                names,
                overwrite=False,
                written=written,
                kind="snapshot",
                topics=topics,
            )
        )
    except UnwritableValueError as exc:
        raise UserFacingError(
            f"{exc.problem}: its snapshot cannot hold it, so nothing was deleted. {exc.fix}"
        ) from None
    counts = {"deleted": 0, "gone": 0}
    # Nothing is deleted that the snapshot does not hold.
    failures = [(email, f"not deleted: could not read it for the snapshot ({why})")
                for email, why in unreadable]  # fmt: skip

    async def delete(item: tuple[MirroredContact, list[str]]) -> None:
        contact = item[0]
        reason = await attempts(partial(client.delete_contact, contact.id))
        if reason is not None and reason != "gone":
            failures.append((contact.email, reason))
            return
        counts["gone" if reason == "gone" else "deleted"] += 1
        sets.mirror.remove(contact.id)

    await each(records, delete, progress, "deleted")
    gone = counts["gone"] + len(selected.contacts) - len(records) - len(unreadable) - len(dropped)
    gone -= kept
    failures_file = write_failures(
        snapshot.with_name(snapshot.stem + "-failures.csv"), failures + left
    )
    return BulkOutcome(
        action="delete",
        selected=len(selected.contacts),
        done=counts["deleted"],
        unchanged=gone,
        no_longer_matching=len(dropped),
        no_longer_matching_sample=[f"{shown(email)}: {why}" for email, why in left[:SAMPLE]],
        failed=len(failures),
        requests=client.requests_sent - sent_before,
        seconds=round(time.monotonic() - started, 2),
        snapshot_file=str(snapshot),
        failures_file=failures_file,
        notes=[
            "Re-import the snapshot with import_contacts to put back fields and properties; "
            "its segments column names each contact's segments"
            + ("" if topics is None else ", and its topics column their topic choices")
            + "."
        ],
    )


async def has_topics(client: ResendClient) -> bool:
    """Whether the account has topics: without any, no contact has a choice to keep."""
    try:
        return bool(await patiently(client.list_topics))
    except ResendError as exc:
        raise explain(exc) from None


async def read_topics(
    client: ResendClient, records: Sequence[Item], progress: Progress
) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Each contact's topic subscriptions (contact id → topic name → opt_in/opt_out), one
    request each, and (email, why) for those that could not be read."""
    found: dict[str, dict[str, str]] = {}
    unreadable: list[tuple[str, str]] = []

    async def read(item: Item) -> None:
        contact = item[0]
        try:
            listed = await patiently(partial(client.list_contact_topics, contact.id))
        except NotFoundError:
            return  # deleted meanwhile: nothing to keep
        except ResendError as exc:
            unreadable.append((contact.email, str(explain(exc))))
            return
        found[contact.id] = {topic.name: topic.subscription for topic in listed}

    await each(records, read, progress, "reading topic choices")
    return found, unreadable


# A contact whose request failed transiently (after the client's own retries) is tried
# again this many times, with a pause: 20 % injected faults end with every contact done.
CONTACT_ATTEMPTS = 4


async def attempts(call: Callable[[], Awaitable[object]]) -> str | None:
    """None when `call()` succeeded, "gone" on a 404, else why it kept failing."""
    reason = ""
    for attempt in range(CONTACT_ATTEMPTS):
        try:
            await call()
        except NotFoundError:
            return "gone"
        except (ServerError, RateLimitError, TransportError) as exc:
            reason = str(explain(exc))
            await anyio.sleep(0.5 * 2**attempt)
            continue
        except ResendError as exc:
            return str(explain(exc))
        return None
    return reason


def write_failures(path: Path, failures: list[tuple[str, str]]) -> str | None:
    """The contacts a run did not bring to the asked state, and why, as CSV (or None)."""
    if not failures:
        return None
    private_file(path)  # personal data (emails): this user's alone
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["email", "reason"])
        writer.writerows([formula_safe(email), formula_safe(reason)] for email, reason in failures)
    return str(path)


def _could_not(n: int) -> str:
    """ "1 contact could not", "3 contacts could not": the subject of a failure."""
    return f"{counted(n, 'contact')} could not"
