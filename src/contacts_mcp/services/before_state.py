"""The before-state of what a bulk run changes: the journal an undo reads (`services.undo`).

Before its first write, a bulk update, a merge, an import and an undo (so an undo can be
undone) write the before-state of every contact they are about to change, as observed
at run time: `…-<nonce>-before.csv` in the snapshots folder, one row per contact:

    email,id,before,after
    ada@example.com,3f2c…,"{""unsubscribed"": false, ""properties"": {""plan"": ""free""}}",…

`before` and `after` are JSON objects over exactly what the run touches: `unsubscribed`,
names (`first_name`, `last_name`; `null`: none), property values (`null`: no value),
memberships of the segments joined or left (segment id → member), and topic choices
(topic id → opt_in/opt_out; a topic the contact never chose is recorded at the topic's
default). A contact the run created has `{"exists": false}` before it, and after it
everything the create wrote: its undo deletes it (unless it changed since). An import
writes its journal as it goes, each contact's row on disk before the first request that
changes it (`JournalAppender`); the other runs write theirs whole before their first
write.

It is a CSV in the snapshots folder so that everything that looks after personal data
there covers it: retention ages it, the access request reads it, and an erasure removes
a person's row. A bulk delete needs no journal: its snapshot is the before-state of
every contact it deletes.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from contacts_mcp.api.base import PropertyInput
from contacts_mcp.api.models import Subscription
from contacts_mcp.services import datafolder
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.mirror import MirroredContact
from contacts_mcp.services.outfiles import OutFile, WrittenFiles
from contacts_mcp.services.private import private_file, private_folder
from contacts_mcp.text.sanitize import formula_safe, formula_unescaped

__all__ = [
    "JOURNAL_SUFFIX",
    "NAMES",
    "Facts",
    "JournalAppender",
    "Recorded",
    "facts_now",
    "journal_files",
    "read_journal",
    "same_value",
    "write_journal",
]

JOURNAL_SUFFIX = "-before.csv"
_HEADER = ["email", "id", "before", "after"]
_SUBSCRIPTIONS = ("opt_in", "opt_out")
NAMES = ("first_name", "last_name")


@dataclass(frozen=True)
class Facts:
    """What a run touches of one contact, as it was or as the run left it."""

    unsubscribed: bool | None = None
    """None: not touched."""
    properties: Mapping[str, PropertyInput] = field(default_factory=dict[str, PropertyInput])
    segments: Mapping[str, bool] = field(default_factory=dict[str, bool])
    topics: Mapping[str, Subscription] = field(default_factory=dict[str, Subscription])
    names: Mapping[str, str | None] = field(default_factory=dict[str, str | None])
    """`first_name` and `last_name` (None: no name)."""
    exists: bool = True
    """False: the contact did not exist (before the run that created it)."""

    def __bool__(self) -> bool:
        return (
            not self.exists
            or self.unsubscribed is not None
            or bool(self.properties or self.segments or self.topics or self.names)
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {} if self.exists else {"exists": False}
        if self.unsubscribed is not None:
            data["unsubscribed"] = self.unsubscribed
        for name in ("names", "properties", "segments", "topics"):
            if value := getattr(self, name):
                data[name] = dict(value)
        return data

    @classmethod
    def from_json(cls, data: object) -> Facts:
        """The facts a journal cell holds; ValueError for anything else."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        held = cast(dict[str, Any], data)
        unsubscribed = held.get("unsubscribed")
        properties = held.get("properties", {})
        segments = held.get("segments", {})
        topics = held.get("topics", {})
        names = held.get("names", {})
        exists = held.get("exists", True)
        if not isinstance(exists, bool):
            raise ValueError("exists is not true or false")
        if not isinstance(names, dict) or not all(
            key in NAMES and (value is None or isinstance(value, str))
            for key, value in cast(dict[str, Any], names).items()
        ):
            raise ValueError("names must map first_name or last_name to text or null")
        if unsubscribed is not None and not isinstance(unsubscribed, bool):
            raise ValueError("unsubscribed is not true or false")
        if not all(isinstance(m, dict) for m in (properties, segments, topics)):
            raise ValueError("properties, segments and topics must be objects")
        values = cast(dict[str, Any], properties)
        if not all(v is None or isinstance(v, str | int | float) for v in values.values()):
            raise ValueError("a property value is not text, a number or null")
        members = cast(dict[str, Any], segments)
        if not all(isinstance(v, bool) for v in members.values()):
            raise ValueError("a membership is not true or false")
        choices = cast(dict[str, Any], topics)
        if not all(v in _SUBSCRIPTIONS for v in choices.values()):
            raise ValueError("a topic choice is not opt_in or opt_out")
        return cls(
            unsubscribed,
            dict(values),
            dict(members),
            dict(choices),
            dict(cast(dict[str, str | None], names)),
            exists,
        )


@dataclass(frozen=True)
class Recorded:
    """One contact in a run's journal: as it was before the run, and as the run left it."""

    email: str
    id: str
    before: Facts
    after: Facts


def _cells(record: Recorded) -> list[str]:
    return [
        formula_safe(record.email),
        formula_safe(record.id),
        json.dumps(record.before.to_json(), ensure_ascii=False, sort_keys=True),
        json.dumps(record.after.to_json(), ensure_ascii=False, sort_keys=True),
    ]


def write_journal(path: Path, records: Iterable[Recorded], written: WrittenFiles | None) -> int:
    """Write the journal whole (under a hidden name until complete, readable by this user
    alone: it holds personal data); returns its rows."""
    private_folder(path.parent)
    out = OutFile(path, kind="snapshot", replace=False, written=written)
    rows = 0
    try:
        writer = csv.writer(out.text(), lineterminator="\r\n")
        writer.writerow(_HEADER)
        for record in records:
            writer.writerow(_cells(record))
            rows += 1
    except BaseException:
        out.abandon()
        raise
    out.publish(rows)
    return rows


class JournalAppender:
    """A journal written as a run goes (an import, which streams its file): each record
    is on disk before the request it precedes is sent, so a run that stops at any point
    leaves a journal of everything it may have changed. Created on the first record; a
    run resumed under the same name appends to it."""

    def __init__(self, path: Path, written: WrittenFiles | None) -> None:
        self.path = path
        self.rows = 0
        self._written = written
        self._handle: TextIO | None = None
        self._writer: Any = None

    def add(self, record: Recorded) -> None:
        if self._handle is None:
            private_file(self.path)  # personal data: this user's alone
            self._handle = self.path.open("a", encoding="utf-8", newline="")
            self._writer = csv.writer(self._handle, lineterminator="\r\n")
            if self._handle.tell() == 0:
                self._writer.writerow(_HEADER)
        self._writer.writerow(_cells(record))
        self._handle.flush()  # written before the change it records is sent
        self.rows += 1

    def close(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        if self._written is not None:
            self._written.record(self.path, "snapshot", self.rows)


def journal_files(snapshots: Path, nonce: str) -> list[Path]:
    """The journals a run (by its nonce) wrote, oldest first: one per attempt (a run
    resumed after a restart journals what it still had to do)."""
    return [
        path
        for path in datafolder.files(snapshots, f"*-{nonce}{JOURNAL_SUFFIX}")
        if not datafolder.is_failures(path)
    ]


def read_journal(paths: Sequence[Path]) -> list[Recorded]:
    """Every contact the journals hold, the oldest record of each (a resumed run finds
    the contacts it already changed as asked, and does not record them again)."""
    found: dict[str, Recorded] = {}
    for path in paths:
        for record in _records(path):
            found.setdefault(record.id, record)
    return list(found.values())


def _records(path: Path) -> Iterator[Recorded]:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise UserFacingError(
            f"The run's record of what it changed ({path.name}) cannot be read "
            f"({exc.strerror}): nothing was changed."
        ) from None
    with handle:
        reader = csv.reader(handle)
        if next(reader, None) != _HEADER:
            raise UserFacingError(
                f"{path.name} is not a record of what a run changed: nothing was changed."
            )
        for row in reader:
            if not row:
                continue  # an erasure removed the person's row, or a blank line
            try:
                if len(row) != len(_HEADER):
                    raise ValueError(f"{len(row)} cells, not {len(_HEADER)}")
                email, contact_id, before, after = row
                try:
                    facts = json.loads(before), json.loads(after)
                except ValueError:
                    raise ValueError("its before or after is not JSON") from None
                yield Recorded(
                    formula_unescaped(email),
                    formula_unescaped(contact_id),
                    Facts.from_json(facts[0]),
                    Facts.from_json(facts[1]),
                )
            except ValueError as exc:
                raise UserFacingError(
                    f"Line {reader.line_num} of {path.name} is damaged ({exc}): nothing was "
                    "changed. Remove that line to undo the rest."
                ) from None


def same_value(current: object, wanted: object) -> bool:
    """Whether a property holds `wanted`: no value and "" are the same; numbers by value."""
    if current in (None, "") or wanted in (None, ""):
        return current in (None, "") and wanted in (None, "")
    if isinstance(wanted, str) or isinstance(current, str | bool):
        return current == wanted
    with contextlib.suppress(TypeError, ValueError):
        return float(cast(float, current)) == float(cast(float, wanted))
    return False


def facts_now(
    contact: MirroredContact,
    segments: Iterable[str],
    topics: Mapping[str, Subscription] | None,
    touched: Facts,
) -> Facts:
    """What `contact` holds now of the facts `touched` names (its segment ids, its topic
    choices by id with the topics' defaults filled in)."""
    member = set(segments)
    values = contact.properties or {}
    held = {"first_name": contact.first_name, "last_name": contact.last_name}
    return Facts(
        names={key: held[key] or None for key in touched.names},
        unsubscribed=None if touched.unsubscribed is None else contact.unsubscribed,
        properties={key: values.get(key) for key in touched.properties},
        segments={segment: segment in member for segment in touched.segments},
        topics={t: (topics or {}).get(t, sub) for t, sub in touched.topics.items()},
    )
