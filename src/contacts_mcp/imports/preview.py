"""The import preview: one streaming pass over a CSV table that says what an import would do.

`preview_table` proposes (or checks) a column map from the first rows, then reads every row
once and counts what would be imported and what would not: invalid or missing addresses,
in-file duplicates, values that do not fit their property type, and rows with the wrong
number of fields, each with the first few examples. `iter_mapped_rows` gives the import
engine the same per-row checks and the values to send.

Row numbers are the file's line numbers where a row starts (the header is line 1), so they
match a spreadsheet's row numbers unless values span lines.

Memory does not grow with the file except for duplicate detection, which must remember
every address seen. `FirstSeen` keeps, per distinct address, a 64-bit fingerprint and the
line it first appeared on, in two flat arrays used as an open-addressing hash table:
12 bytes a slot, at most 3/4 full, so 16-32 bytes per address (a million rows: 24 MB),
against ~76 bytes for a `set` of hashes alone, or ~150 for a dict of first rows. That is
what lets every duplicate name its earlier row ("same as row 12") within the budget.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from contacts_mcp.api.models import PROPERTY_KEY, RESERVED_PROPERTY_KEYS, PropertyType
from contacts_mcp.imports.csvio import CSVTable, text_of
from contacts_mcp.imports.mapping import (
    BUILTIN_TARGETS,
    SAMPLE_CHARS,
    check_column_map,
    check_email,
    parse_number,
    parse_unsubscribed,
    propose_mapping,
)
from contacts_mcp.imports.models import (
    ColumnProposal,
    FileFormat,
    IssueSummary,
    PreviewReport,
    RowIssue,
    Value,
)
from contacts_mcp.services.contacts import MAX_NAME_CHARS
from contacts_mcp.text.cells import topic_choices_of
from contacts_mcp.text.sanitize import clean, has_hidden

__all__ = [
    "EXAMPLES",
    "PROGRESS_EVERY",
    "FirstSeen",
    "MappedRow",
    "iter_mapped_rows",
    "name_problem",
    "preview_table",
]

EXAMPLES = 10
SAMPLE_ROWS = 5
SAMPLE_VALUE_CHARS = 200
# Columns a preview lists one by one; past this it summarises (a report stays readable).
MAX_LISTED_COLUMNS = 100
PROGRESS_EVERY = 10_000
ISSUE_VALUE_CHARS = 80


class MappedRow(NamedTuple):
    row: int  # line where the row starts
    email: str | None  # normalized; None when missing or invalid
    fields: dict[str, str | bool | None]  # first_name, last_name, unsubscribed when given
    properties: dict[str, str | int | float]  # parsed by type; empty cells left out
    problem: str | None  # why the row cannot be imported; in-file duplicates are not flagged


def preview_table(
    table: CSVTable,
    *,
    existing_properties: Mapping[str, PropertyType],
    column_map: Mapping[str, str] | None = None,
    new_properties: Mapping[str, PropertyType] | None = None,
    sample_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> PreviewReport:
    """Read every row of `table` once and report what importing it would do.

    Without `column_map` a map is proposed from the first `sample_size` rows (the only rows
    held in memory). A given map is checked first: ValueError lists every problem.
    `progress(rows_so_far)` is called every 10,000 rows.

    Duplicates are decided among rows that are otherwise importable, keeping the first
    (as the import does), so `importable_rows` is the number of contacts it would send.
    """
    headers = table.headers
    rows = table.rows()
    buffered = list(itertools.islice(rows, sample_size))
    samples = [values for _, values in buffered if len(values) == len(headers)]
    if column_map is None:
        if new_properties:
            raise ValueError("new_properties only applies together with a column_map.")
        columns = propose_mapping(headers, samples, existing_properties)
        mapping = {c.column: c.maps_to for c in columns}
        created = {
            c.maps_to: c.property_type for c in columns if c.new_property and c.property_type
        }
    else:
        created = _check_new_properties(new_properties or {}, existing_properties)
        check_column_map(headers, column_map, {**existing_properties, **created})
        mapping = {header: column_map.get(header, "skip") for header in headers}
        created = {key: type_ for key, type_ in created.items() if key in mapping.values()}
        columns = _given_columns(headers, column_map, existing_properties, created, samples)
    plan = _Plan.build(headers, mapping, {**existing_properties, **created})
    scan = _Scan(plan, table.format.delimiter)
    scan.run(itertools.chain(buffered, rows), progress)

    notes: list[str] = []
    if len(columns) > MAX_LISTED_COLUMNS:
        # Bounded output whatever the file: every mapped column, then skipped ones up to
        # the cap; the column map keeps only what is imported (the rest is skipped anyway).
        mapped = [c for c in columns if c.maps_to != "skip"]
        skipped = [c for c in columns if c.maps_to == "skip"]
        shown = mapped + skipped[: max(0, MAX_LISTED_COLUMNS - len(mapped))]
        notes.append(
            f"The file has {len(columns)} columns; {len(columns) - len(shown)} skipped ones are "
            "not listed, and the column map names only the columns it imports (a column it "
            "does not name is skipped). Add a column to the map to import it."
        )
        order = {c.column: i for i, c in enumerate(columns)}
        columns = sorted(shown, key=lambda c: order[c.column])
        mapping = {column: target for column, target in mapping.items() if target != "skip"}
    if plan.email is None:
        notes.append(
            "No column looks like email addresses, so no row can be imported. Pass a column_map "
            "that maps the column holding them to 'email'."
        )
    if scan.rows == 0:
        notes.append("The file has a header row but no data rows.")
    return PreviewReport(
        format=FileFormat(
            encoding=table.format.encoding,
            delimiter=table.format.delimiter,
            has_header=table.format.has_header,
        ),
        columns=columns,
        rows=scan.rows,
        importable_rows=scan.importable,
        invalid_emails=scan.invalid.summary(),
        duplicate_emails=scan.duplicates.summary(),
        type_problems=scan.type_problems.summary(),
        malformed_rows=scan.malformed.summary(),
        sample=scan.sample,
        column_map=mapping,
        new_properties=created,
        notes=notes,
    )


def iter_mapped_rows(
    table: CSVTable, column_map: Mapping[str, str], property_types: Mapping[str, PropertyType]
) -> Iterator[MappedRow]:
    """Each data row of `table` with the values to send, or why it cannot be imported.

    `property_types` holds the type of every property target (existing and new). The map
    is checked at once (ValueError); columns it leaves out are skipped. In-file duplicates
    are not flagged: keep the first row for each address, as the preview counts them.
    """
    check_column_map(table.headers, column_map, property_types)
    mapping = {header: column_map.get(header, "skip") for header in table.headers}
    plan = _Plan.build(table.headers, mapping, property_types)
    return (plan.map_row(line, values) for line, values in table.rows())


# -- internals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Column indexes per target, worked out once so the per-row work is list indexing."""

    headers: Sequence[str]
    email: int | None
    first_name: int | None
    last_name: int | None
    unsubscribed: int | None
    segments: int | None
    topics: int | None
    strings: tuple[tuple[int, str], ...]  # (column index, property key)
    numbers: tuple[tuple[int, str], ...]

    @classmethod
    def build(
        cls,
        headers: Sequence[str],
        mapping: Mapping[str, str],
        property_types: Mapping[str, PropertyType],
    ) -> _Plan:
        index = {target: i for i, h in enumerate(headers) if (target := mapping[h]) != "skip"}
        properties = [(i, t) for t, i in index.items() if t not in BUILTIN_TARGETS]
        return cls(
            headers=headers,
            email=index.get("email"),
            first_name=index.get("first_name"),
            last_name=index.get("last_name"),
            unsubscribed=index.get("unsubscribed"),
            segments=index.get("segments"),
            topics=index.get("topics"),
            strings=tuple((i, t) for i, t in properties if property_types[t] == "string"),
            numbers=tuple((i, t) for i, t in properties if property_types[t] == "number"),
        )

    def map_row(self, line: int, values: list[str]) -> MappedRow:
        if len(values) != len(self.headers):
            return MappedRow(line, None, {}, {}, _malformed(values, len(self.headers)))
        problems: list[str] = []
        email: str | None = None
        if self.email is None:
            problems.append("no column maps to email")
        else:
            raw = values[self.email]
            try:
                email = check_email(raw)
            except ValueError as exc:
                shown = clean(raw, ISSUE_VALUE_CHARS)
                problems.append(f"invalid email {shown!r}: {exc}" if raw.strip() else str(exc))
        fields: dict[str, str | bool | None] = {}
        for name, index in (("first_name", self.first_name), ("last_name", self.last_name)):
            if index is not None and (text := text_of(values[index])):
                if problem := name_problem(name, text):
                    problems.append(problem)
                else:
                    fields[name] = text
        if self.unsubscribed is not None:
            try:
                flag = parse_unsubscribed(values[self.unsubscribed])
            except ValueError as exc:
                problems.append(f"column {clean(self.headers[self.unsubscribed], 40)!r}: {exc}")
            else:
                if flag is not None:
                    fields["unsubscribed"] = flag
        if self.segments is not None and (names := text_of(values[self.segments])):
            fields["segments"] = names
        if self.topics is not None and (choices := text_of(values[self.topics])):
            try:
                topic_choices_of(choices)
            except ValueError as exc:
                problems.append(str(exc))
            else:
                fields["topics"] = choices
        properties: dict[str, str | int | float] = {}
        for index, key in self.strings:
            if text := text_of(values[index]):
                properties[key] = text
        for index, key in self.numbers:
            try:
                number = parse_number(values[index])
            except ValueError as exc:
                problems.append(f"{exc}, but {key!r} is a number property")
            else:
                if number is not None:
                    properties[key] = number
        return MappedRow(line, email, fields, properties, "; ".join(problems) or None)


class _Tally:
    """A count of one kind of problem and its first few examples."""

    __slots__ = ("count", "examples")

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[RowIssue] = []

    def add(self, row: int, column: str | None, value: str, problem: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            value = clean(value, ISSUE_VALUE_CHARS)
            self.examples.append(RowIssue(row=row, column=column, value=value, problem=problem))

    def summary(self) -> IssueSummary:
        return IssueSummary(count=self.count, examples=self.examples)


class _Scan:
    """The counting pass of the preview."""

    def __init__(self, plan: _Plan, delimiter: str) -> None:
        self.plan = plan
        self.delimiter = delimiter
        self.rows = 0
        self.importable = 0
        self.invalid = _Tally()
        self.duplicates = _Tally()
        self.type_problems = _Tally()
        self.malformed = _Tally()
        self.sample: list[dict[str, Value]] = []
        self.seen = FirstSeen()

    def run(
        self, rows: Iterable[tuple[int, list[str]]], progress: Callable[[int], None] | None
    ) -> None:
        # This loop runs a million times for a big file: names are bound to locals and the
        # common row costs one check_email, one parse per number cell and one table probe.
        plan, headers, seen = self.plan, self.plan.headers, self.seen
        width, email_at, flag_at = len(headers), plan.email, plan.unsubscribed
        email_column = headers[email_at] if email_at is not None else None
        numbers = [(i, headers[i], key) for i, key in plan.numbers]
        names = [
            (i, headers[i], field)
            for i, field in ((plan.first_name, "first_name"), (plan.last_name, "last_name"))
            if i is not None
        ]
        invalid, duplicates, type_problems = self.invalid, self.duplicates, self.type_problems
        count, next_progress = 0, PROGRESS_EVERY
        for line, values in rows:
            count += 1
            if count == next_progress:
                next_progress += PROGRESS_EVERY
                if progress is not None:
                    progress(count)
            if len(values) != width:
                self.malformed.add(
                    line, None, self.delimiter.join(values[:20]), _malformed(values, width)
                )
                continue
            ok = True
            raw = email = ""
            if email_at is None:
                invalid.add(line, None, "", "no column maps to email")
                ok = False
            else:
                raw = values[email_at]
                try:
                    email = check_email(raw)
                except ValueError as exc:
                    invalid.add(line, email_column, raw, str(exc))
                    ok = False
            for index, column, key in numbers:
                if value := values[index]:
                    try:
                        parse_number(value)
                    except ValueError as exc:
                        type_problems.add(
                            line, column, value, f"{exc}, but {key!r} is a number property"
                        )
                        ok = False
            for index, column, field in names:
                if (value := text_of(values[index])) and (problem := name_problem(field, value)):
                    type_problems.add(line, column, value, problem)
                    ok = False
            if flag_at is not None and (value := values[flag_at]):
                try:
                    parse_unsubscribed(value)
                except ValueError as exc:
                    type_problems.add(line, headers[flag_at], value, str(exc))
                    ok = False
            if not ok:
                continue
            first = seen.add(email.casefold(), line)
            if first:
                duplicates.add(line, email_column, raw, f"same as row {first}")
                continue
            self.importable += 1
            if len(self.sample) < SAMPLE_ROWS:
                mapped = plan.map_row(line, values)
                row = {"email": mapped.email, **mapped.fields, **mapped.properties}
                self.sample.append({key: _shortened(value) for key, value in row.items()})
        self.rows = count


_MASK64 = (1 << 64) - 1
_MAX_LINE = (1 << 32) - 1


class FirstSeen:
    """Distinct keys and the line each was first seen on, in ~16-32 bytes per key.

    A key is kept as a 64-bit fingerprint: Python's `hash()`, salted per process (it never
    leaves the process) and ~10x faster than blake2b (see bench/preview.py). Two keys share
    a fingerprint with probability ~n²/2^65 (3e-8 for a million); the later one would be
    called a duplicate. Linear probing in flat arrays, grown by doubling when 3/4 full.
    """

    __slots__ = ("_fingerprints", "_lines", "_mask", "_room")

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._fingerprints = array("Q", [0]) * capacity  # 0 marks an empty slot
        self._lines = array("I", [0]) * capacity
        self._mask = capacity - 1
        self._room = capacity * 3 // 4

    def add(self, key: str, line: int) -> int:
        """0 if `key` is new (and now remembered with `line`), else the line it was first on."""
        fingerprint = hash(key) & _MASK64 or 1
        fingerprints, mask = self._fingerprints, self._mask
        slot = fingerprint & mask
        while True:
            found = fingerprints[slot]
            if found == fingerprint:
                return self._lines[slot]
            if not found:
                break
            slot = (slot + 1) & mask
        fingerprints[slot] = fingerprint
        self._lines[slot] = min(line, _MAX_LINE)
        self._room -= 1
        if not self._room:
            self._grow()
        return 0

    def _grow(self) -> None:
        old_fingerprints, old_lines = self._fingerprints, self._lines
        capacity = 2 * len(old_fingerprints)
        fingerprints = array("Q", [0]) * capacity
        lines = array("I", [0]) * capacity
        mask = capacity - 1
        for fingerprint, line in zip(old_fingerprints, old_lines, strict=True):
            if fingerprint:
                slot = fingerprint & mask
                while fingerprints[slot]:
                    slot = (slot + 1) & mask
                fingerprints[slot] = fingerprint
                lines[slot] = line
        self._fingerprints, self._lines, self._mask = fingerprints, lines, mask
        self._room = capacity * 3 // 4 - len(old_fingerprints) * 3 // 4


def _shortened(value: Value) -> Value:
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        return value[: SAMPLE_VALUE_CHARS - 1] + "…"
    return value


def name_problem(field: str, text: str) -> str | None:
    """Why a name cell cannot be imported: the rules `create_contact` applies to names."""
    if len(text) > MAX_NAME_CHARS:
        return f"{field} is {len(text)} characters; the limit is {MAX_NAME_CHARS}"
    if has_hidden(text):
        return f"{field} contains a line break or an invisible or control character"
    return None


def _malformed(values: list[str], width: int) -> str:
    return f"the row has {len(values)} fields; the header has {width}"


def _check_new_properties(
    new_properties: Mapping[str, PropertyType], existing: Mapping[str, PropertyType]
) -> dict[str, PropertyType]:
    problems: list[str] = []
    for key, type_ in new_properties.items():
        shown = clean(key, 50)
        if not PROPERTY_KEY.fullmatch(key):
            problems.append(f"{shown!r} is not a valid key (1-50 letters, digits or underscores)")
        elif key.lower() in RESERVED_PROPERTY_KEYS:
            problems.append(f"{shown!r} is a built-in field or reserved name")
        elif type_ not in ("string", "number"):
            problems.append(f"{shown!r} has type {clean(type_, 20)!r}; use 'string' or 'number'")
        elif key in existing and existing[key] != type_:
            problems.append(f"{shown!r} already exists as a {existing[key]} property")
        elif key not in existing and (same := _same_but_case(key, existing)) is not None:
            problems.append(
                f"{shown!r} differs from the existing property {same!r} only in case; map "
                f"the column to {same!r}, or choose another key"
            )
    if problems:
        raise ValueError("The new properties have problems: " + "; ".join(problems) + ".")
    return {key: type_ for key, type_ in new_properties.items() if key not in existing}


def _same_but_case(key: str, existing: Iterable[str]) -> str | None:
    """The existing key that `key` matches but for case ("Plan" and "plan"): two such keys
    would be confused by every person and tool that reads them."""
    return next((k for k in existing if k != key and k.casefold() == key.casefold()), None)


def _given_columns(
    headers: Sequence[str],
    column_map: Mapping[str, str],
    existing: Mapping[str, PropertyType],
    created: Mapping[str, PropertyType],
    samples: Sequence[Sequence[str]],
) -> list[ColumnProposal]:
    columns = []
    for index, header in enumerate(headers):
        target = column_map.get(header, "skip")
        values = [value for row in samples if (value := row[index].strip())]
        is_property = target != "skip" and target not in BUILTIN_TARGETS
        type_ = created.get(target, existing.get(target)) if is_property else None
        columns.append(
            ColumnProposal(
                column=header,
                maps_to=target,
                property_type=type_,
                new_property=target in created,
                reason="as given in column_map" if header in column_map else "not in column_map",
                samples=list(dict.fromkeys(clean(v, SAMPLE_CHARS) for v in values))[:3],
            )
        )
    return columns
