"""Streaming CSV reading for contact imports.

`CSVTable` reads a CSV file from a binary stream one chunk at a time. From the first 64 KiB
it works out the encoding, the delimiter and whether the first row is a header (each can be
given instead), then hands out data rows with the line each starts on. It holds one chunk
(1 MiB) and one row at a time, so a file of any size is read in a few MB.

A file that cannot be read as a table raises `CSVFormatError`, whose message says what is
wrong and on which line without quoting file content: the file may not be a CSV at all,
and an error message must not become a way to read arbitrary files. Rows with the wrong
number of fields are yielded as they are; reporting them is the caller's job.

Python's `csv` module does the parsing, fed with physical lines, which keeps
`reader.line_num` a physical line count. It runs with `strict=True`: without it an
unbalanced quote silently swallows the rest of the file into one field.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Final

from contacts_mcp.text.sanitize import clean, needs_apostrophe

__all__ = [
    "DELIMITERS",
    "MAX_FIELD_CHARS",
    "SAMPLE_BYTES",
    "CSVFormat",
    "CSVFormatError",
    "CSVTable",
    "Verbatim",
    "text_of",
]

MAX_FIELD_CHARS: Final = 65_536
DELIMITERS: Final = (",", ";", "\t", "|")
SAMPLE_BYTES: Final = 64 * 1024
_CHUNK_BYTES = 1 << 20
# A physical line this long is a broken or non-CSV file; refusing it bounds the memory a
# file without line breaks can take.
_MAX_LINE_CHARS = 1 << 20
# Random binary data has ~10% control bytes; text almost none.
_BINARY_CONTROL_SHARE = 0.05
_SNIFF_LINES = 200
_DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t"}
_CONTROL_CODES = [*range(0x09), *range(0x0E, 0x20), 0x7F]  # not TAB, LF, VT, FF, CR
_CONTROL_BYTES = bytes(_CONTROL_CODES)
_DROP_CONTROLS = dict.fromkeys(_CONTROL_CODES)
_BOMS = (
    # UTF-32 before UTF-16: the UTF-32 LE mark starts with the UTF-16 LE one.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+").fullmatch
_NUMBERISH = re.compile(r"[+-]?[\d.,]+").fullmatch
_LEGACY_HINT = 'pass encoding="cp1252" (Excel on Windows) or encoding="latin-1"'


class CSVFormatError(Exception):
    """The file cannot be read as a CSV table.

    The message says what and where, and never quotes more than a cleaned, shortened
    header name. `line` is the 1-based physical line of the problem, when known.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class CSVFormat:
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", or the codec the caller gave
    delimiter: str  # one of DELIMITERS
    has_header: bool


class CSVTable:
    """A CSV file read lazily from a binary stream.

    Construction reads the first 64 KiB and the first row, and raises `CSVFormatError` for
    an empty or binary file, an unknown encoding, undecodable text or duplicate header
    names. `rows()` then streams the data rows once. The table never closes `stream`: the
    caller opened it and closes it (leaving the `with` block only ends the table).
    """

    format: CSVFormat
    headers: list[str]

    def __init__(
        self,
        stream: BinaryIO,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        has_header: bool | None = None,
        max_field_chars: int = MAX_FIELD_CHARS,
    ) -> None:
        if max_field_chars < 1:
            raise ValueError("max_field_chars must be at least 1")
        self._stream = stream
        self._max_field = max_field_chars
        self._max_line = max(_MAX_LINE_CHARS, 2 * max_field_chars)
        if csv.field_size_limit() <= max_field_chars:
            # The limit is process-wide; it is only ever raised, so other readers keep working.
            csv.field_size_limit(max_field_chars + 1)
        self._bytes_read = 0
        self._lines_out = 0  # complete physical lines handed to the csv reader so far
        self._long_until = 0  # last line of the latest chunk that had a very long line
        self._consumed = False
        self._closed = False

        sample = self._read(SAMPLE_BYTES)
        at_eof = len(sample) < SAMPLE_BYTES
        codec = _choose_codec(sample, encoding)
        self._codec = codec
        text = self._decode_sample(sample, at_eof)
        if _looks_binary(text.translate(_DROP_CONTROLS), text):
            raise _binary_error()

        lines = io.StringIO(text, newline="").readlines()
        if not at_eof and len(lines) > 1:
            lines.pop()  # probably cut short by the sample size
        lines = lines[:_SNIFF_LINES]
        delimiter = _check_delimiter(delimiter) if delimiter is not None else _sniff(lines)
        self._reader = csv.reader(
            itertools.chain.from_iterable(self._chunks(sample)),
            delimiter=delimiter,
            quotechar='"',
            strict=True,
        )
        first_line, first = self._first_row()
        if has_header is None:
            sample_rows = [row for row in _parse_loosely(lines, delimiter) if _has_content(row)]
            second = sample_rows[1] if len(sample_rows) > 1 else None
            has_header = _looks_like_header(first, second)
        self.format = CSVFormat(encoding=codec, delimiter=delimiter, has_header=has_header)
        self._pending: tuple[int, list[str]] | None = None
        if has_header:
            self.headers = _header_names(first, first_line)
        else:
            self.headers = [f"column_{i}" for i in range(1, len(first) + 1)]
            self._pending = (first_line, first)

    def __enter__(self) -> CSVTable:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line where the row starts, values) for each data row, streaming; once only.

        Blank lines, and rows whose every field is empty (spreadsheets leave ",,,," lines
        behind), are skipped. Raises `CSVFormatError` for an unbalanced quote, a field over
        `max_field_chars`, NUL characters and undecodable bytes. A row whose field count
        differs from the header is yielded as it is.
        """
        if self._closed:
            raise RuntimeError("The table is closed.")
        if self._consumed:
            raise RuntimeError("rows() can only be read once: the stream is not rewound.")
        self._consumed = True
        return self._iter_rows()

    # -- internals ----------------------------------------------------------------------

    def _iter_rows(self) -> Iterator[tuple[int, list[str]]]:
        if self._pending is not None:
            yield self._pending[0], _formula_unescaped(self._pending[1])
            self._pending = None
        reader = self._reader
        last = reader.line_num
        try:
            for values in reader:
                start = last + 1
                last = reader.line_num
                if not values or (not values[0] and not any(values)):
                    continue
                # A field can only be over the limit if its row spans lines or sits in a
                # chunk with a long line; checking just those keeps the common path cheap.
                if last != start or start <= self._long_until:
                    self._check_field_sizes(values, start)
                yield start, _formula_unescaped(values)
        except csv.Error as exc:
            raise self._parse_error(exc, start=last + 1, at=reader.line_num) from None

    def _first_row(self) -> tuple[int, list[str]]:
        reader = self._reader
        last = 0
        try:
            for values in reader:
                start = last + 1
                last = reader.line_num
                if _has_content(values):
                    self._check_field_sizes(values, start)
                    return start, values
        except csv.Error as exc:
            raise self._parse_error(exc, start=last + 1, at=reader.line_num) from None
        raise CSVFormatError("The file is empty.", line=None)

    def _read(self, size: int) -> bytes:
        # Pipes and raw files may return less than asked for before the end.
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            data = self._stream.read(wanted)
            if not data:
                break
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def _decode_sample(self, sample: bytes, at_eof: bool) -> str:
        wide = codecs.lookup(self._codec).name.startswith(("utf-16", "utf-32"))
        if not wide and _looks_binary(sample.translate(None, _CONTROL_BYTES), sample):
            # Check the raw bytes before decoding: binary data would otherwise be reported
            # as "not UTF-8". (UTF-16 and UTF-32 text is full of NUL bytes, so not those.)
            if sample.count(0) * 5 >= len(sample) * 2 and self._codec == "utf-8":
                raise CSVFormatError(
                    "This looks like UTF-16 text without a byte order mark: pass "
                    'encoding="utf-16-le" (or "utf-16-be").'
                )
            raise _binary_error()
        decoder = codecs.getincrementaldecoder(self._codec)()
        try:
            return decoder.decode(sample, at_eof)
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc, carry="", bytes_after=len(sample)) from None

    def _chunks(self, data: bytes) -> Iterator[list[str]]:
        """Physical lines (ends kept), a chunk's worth at a time, as csv.reader wants them."""
        decoder = codecs.getincrementaldecoder(self._codec)()
        carry = ""  # an unfinished line, completed by the next chunk
        while True:
            final = not data
            try:
                text = carry + decoder.decode(data, final)
            except UnicodeDecodeError as exc:
                bytes_after = self._bytes_read + len(data)
                raise self._decode_error(exc, carry=carry, bytes_after=bytes_after) from None
            self._bytes_read += len(data)
            nul = text.find("\x00")
            if nul >= 0:
                line = self._lines_out + _count_breaks(text[:nul]) + 1
                raise CSVFormatError(
                    f"Line {line} contains a NUL character: this is not a text CSV file, "
                    "or it is damaged.",
                    line=line,
                )
            lines = io.StringIO(text, newline="").readlines() if text else []
            # A final "\r" may be the first half of a "\r\n" split across chunks.
            carry = "" if final or not lines or lines[-1].endswith("\n") else lines.pop()
            if len(carry) > self._max_line:
                line = self._lines_out + 1
                raise CSVFormatError(
                    f"Line {line} is longer than {self._max_line:,} characters: this does not "
                    "look like a CSV file with one contact per line.",
                    line=line,
                )
            if lines:
                self._lines_out += len(lines)
                if max(map(len, lines)) > self._max_field:
                    self._long_until = self._lines_out
                yield lines
            if final:
                return
            data = self._read(_CHUNK_BYTES)

    def _check_field_sizes(self, values: list[str], line: int) -> None:
        for column, value in enumerate(values, start=1):
            if len(value) > self._max_field:
                raise CSVFormatError(
                    f"Line {line}, column {column}: a value is {len(value):,} characters long; "
                    f"the limit is {self._max_field:,}. This is usually a stray double quote "
                    "that makes the rest of the file one value.",
                    line=line,
                )

    def _parse_error(self, exc: csv.Error, *, start: int, at: int) -> CSVFormatError:
        message = str(exc)
        if "unexpected end of data" in message:
            return CSVFormatError(
                f"Line {start}: a quoted value starts in this row and is never closed (the "
                'file ends inside it). Look for a stray double quote (").',
                line=start,
            )
        if "expected after" in message:
            where = f"Line {at}" if at == start else f"Line {at} (row from line {start})"
            return CSVFormatError(
                f"{where}: text follows the closing quote of a quoted value. A double quote "
                'inside a quoted value must be doubled (""); an unbalanced quote earlier in the '
                "row also causes this.",
                line=start,
            )
        if "field larger than field limit" in message:
            return CSVFormatError(
                f"Line {start}: a value is longer than {self._max_field:,} characters. This is "
                "usually a stray double quote that makes the rest of the file one value.",
                line=start,
            )
        return CSVFormatError(f"Line {start}: the row cannot be parsed ({message}).", line=start)

    def _decode_error(
        self, exc: UnicodeDecodeError, *, carry: str, bytes_after: int
    ) -> CSVFormatError:
        # exc.object ends where the bytes read so far end (decoders prepend what they held
        # back from the last chunk), so the offset is counted back from there.
        offset = bytes_after - (len(exc.object) - exc.start)
        try:
            before = exc.object[: exc.start].decode(exc.encoding, "replace")
        except LookupError:
            before = exc.object[: exc.start].decode("latin-1")
        line = self._lines_out + _count_breaks(carry + before) + 1
        byte = f"byte 0x{exc.object[exc.start]:02X} at offset {offset:,}"
        if self._codec == "utf-8":
            return CSVFormatError(
                f"Line {line} is not valid UTF-8 ({byte}). The file is probably in a legacy "
                f"encoding: {_LEGACY_HINT}.",
                line=line,
            )
        return CSVFormatError(
            f"Line {line} cannot be decoded as {self._codec} ({byte}). Pass the file's "
            'encoding, e.g. encoding="utf-8" or encoding="cp1252".',
            line=line,
        )


class Verbatim(str):
    """A cell's text as written behind the apostrophe of `text.sanitize.formula_safe`
    (exports, snapshots): taken exactly, never trimmed (`text_of`)."""

    __slots__ = ()


def text_of(value: str) -> str:
    """A cell's text as imported: trimmed, unless it came verbatim from our own CSV."""
    return value if isinstance(value, Verbatim) else value.strip()


def _formula_unescaped(values: list[str]) -> list[str]:
    """`values` with the apostrophe of formula-safe cells ('=1+1, '-5, ''note, ' padded )
    taken off: each such value exactly as it was before the export wrote it."""
    if not any(value[:1] == "'" for value in values):
        return values  # the common case: nothing to undo, no copy
    return [
        Verbatim(value[1:]) if value[:1] == "'" and needs_apostrophe(value[1:]) else value
        for value in values
    ]


def _choose_codec(sample: bytes, encoding: str | None) -> str:
    if encoding is None:
        for bom, codec in _BOMS:
            if sample.startswith(bom):
                return codec
        return "utf-8"
    name = encoding.strip()
    try:
        info = codecs.lookup(name)
        # Codecs such as base64 decode bytes to bytes; only text codecs make sense here.
        is_text = isinstance(info.incrementaldecoder().decode(b"", True), str)
    except (LookupError, TypeError):
        is_text = False
    if not is_text:
        raise CSVFormatError(
            f"Unknown text encoding {clean(name, 40)!r}. Use e.g. 'utf-8', 'cp1252' or 'latin-1'."
        )
    if info.name == "utf-8":
        # Plain utf-8 would keep a byte order mark in the first header name.
        return "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"
    return name


def _looks_binary(without_controls: str | bytes, original: str | bytes) -> bool:
    if "\x00" in original if isinstance(original, str) else b"\x00" in original:
        return True
    controls = len(original) - len(without_controls)
    return controls > max(1, _BINARY_CONTROL_SHARE * len(original))


def _binary_error() -> CSVFormatError:
    return CSVFormatError(
        "This is not a text CSV file: its first 64 KB hold NUL bytes or other binary data. "
        "Export the sheet as CSV first.",
        line=None,
    )


def _count_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _check_delimiter(delimiter: str) -> str:
    chosen = _DELIMITER_ALIASES.get(delimiter.lower(), delimiter)
    if chosen not in DELIMITERS:
        raise CSVFormatError(
            f"Unsupported delimiter {clean(delimiter, 10)!r}; use one of ',', ';', tab ('\\t') "
            "or '|'."
        )
    return chosen


def _parse_loosely(lines: list[str], delimiter: str) -> list[list[str]]:
    rows: list[list[str]] = []
    # Keep what parsed before an error: the real read reports the problem with its line.
    with contextlib.suppress(csv.Error):
        rows.extend(csv.reader(lines, delimiter=delimiter, quotechar='"', strict=False))
    return rows


def _sniff(lines: list[str]) -> str:
    """The delimiter that splits the first row into most columns consistently.

    `csv.Sniffer` fails on one-column files and considers any character; counting fields
    per row for the four delimiters that occur in practice is simpler and predictable.
    """
    best: tuple[float, int, int] | None = None
    chosen = ","
    for priority, delimiter in enumerate(DELIMITERS):
        rows = [row for row in _parse_loosely(lines, delimiter) if _has_content(row)]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(row) == width for row in rows) / len(rows)
        score = (consistency, width, -priority)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _has_content(values: list[str]) -> bool:
    return any(value.strip() for value in values)


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """Whether the first row names the columns rather than holding a contact.

    An email address in it settles the question: it is data. Otherwise labels are short,
    not numbers, and (when the next row has an email address) sit above it.
    """
    values = [value.strip() for value in first]
    if any(_EMAILISH(value) for value in values):
        return False
    if second is not None and any(_EMAILISH(value.strip()) for value in second):
        return True
    labels = [value for value in values if value]
    return bool(labels) and all(
        len(value) <= 64 and not _NUMBERISH(value) and any(c.isalpha() for c in value)
        for value in labels
    )


def _header_names(values: list[str], line: int) -> list[str]:
    names = [
        value.strip().lstrip("\ufeff").strip() or f"column_{i}"
        for i, value in enumerate(values, start=1)
    ]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        earlier = seen.setdefault(name.casefold(), index)
        if earlier != index:
            raise CSVFormatError(
                f"Line {line}: columns {earlier + 1} and {index + 1} have the same name "
                f"({clean(names[earlier], 64)!r} and {clean(name, 64)!r}). Rename one of them.",
                line=line,
            )
    return names
