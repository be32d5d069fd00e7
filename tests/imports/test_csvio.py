"""CSVTable: encodings, delimiters, headers, quoting, and refusing what is not a CSV table."""

from __future__ import annotations

import codecs
import csv
import io
import random
from typing import BinaryIO

import pytest

from contacts_mcp.imports.csvio import SAMPLE_BYTES, CSVFormat, CSVFormatError, CSVTable

PEOPLE = [
    ["email", "first_name", "last_name"],
    ["jose@example.com", "José", "Ñúñez"],
    ["zoe@example.com", "Zoë", "Smith"],
    ["lukasz@example.com", "Łukasz", "李"],
]


Rows = list[tuple[int, list[str]]]


def read(data: bytes, **options: object) -> tuple[CSVFormat, list[str], Rows]:
    with CSVTable(io.BytesIO(data), **options) as table:  # type: ignore[arg-type]
        return table.format, table.headers, list(table.rows())


def refuse(data: bytes, **options: object) -> CSVFormatError:
    with pytest.raises(CSVFormatError) as caught:
        read(data, **options)
    return caught.value


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return out.getvalue()


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read and counts what was read."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data, self._step, self.position = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        chunk = self._data[self.position : self.position + min(len(buffer), self._step)]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


# -- encodings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (csv_text(PEOPLE).encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + csv_text(PEOPLE).encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + csv_text(PEOPLE, "\t").encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + csv_text(PEOPLE).encode("utf-16-be"), "utf-16"),
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16le with BOM (tab)", "utf-16be with BOM"],
)
def test_every_unicode_encoding_reads_the_same_records(encoded: bytes, encoding: str) -> None:
    fmt, headers, rows = read(encoded)
    assert fmt.encoding == encoding
    assert fmt.has_header
    assert headers == PEOPLE[0]  # no "\ufeff" left on the first header
    assert [values for _, values in rows] == PEOPLE[1:]
    assert [line for line, _ in rows] == [2, 3, 4]


def test_a_cp1252_file_reads_with_the_encoding_given() -> None:
    rows = [PEOPLE[0], PEOPLE[1], ["zoe@example.com", "Zoë", "O\u2019Brien"]]  # a cp1252 quote
    fmt, _, read_rows = read(csv_text(rows).encode("cp1252"), encoding="cp1252")
    assert fmt.encoding == "cp1252"
    assert [values for _, values in read_rows] == rows[1:]


def test_a_cp1252_file_without_an_encoding_names_the_line_and_suggests_one() -> None:
    data = csv_text([PEOPLE[0], ["a@example.com", "Ann", "Lee"], PEOPLE[1]]).encode("cp1252")
    error = refuse(data)
    assert error.line == 3
    assert "not valid UTF-8" in str(error)
    assert 'encoding="cp1252"' in str(error)


def test_undecodable_bytes_far_into_the_file_name_their_line_while_streaming() -> None:
    rows = [PEOPLE[0]] + [[f"u{i}@example.com", "Ann", "Lee"] for i in range(30_000)]
    data = csv_text(rows).encode() + "zoe@example.com,Zoë,X\r\n".encode("cp1252")
    assert len(data) > 2 * SAMPLE_BYTES
    with CSVTable(io.BytesIO(data)) as table:
        assert table.format.encoding == "utf-8"  # the first 64 KB are fine
        with pytest.raises(CSVFormatError) as caught:
            list(table.rows())
    assert caught.value.line == 30_002
    assert f"byte 0xEB at offset {data.index(0xEB):,}" in str(caught.value)


def test_an_explicit_utf8_encoding_still_drops_a_byte_order_mark() -> None:
    fmt, headers, _ = read(codecs.BOM_UTF8 + b"email\r\na@example.com\r\n", encoding="UTF-8")
    assert fmt.encoding == "utf-8-sig"
    assert headers == ["email"]


@pytest.mark.parametrize("name", ["klingon", "base64", ""])
def test_an_unknown_or_non_text_encoding_is_refused(name: str) -> None:
    assert "Unknown text encoding" in str(refuse(b"email\na@example.com\n", encoding=name))


def test_utf16_without_a_byte_order_mark_gets_a_hint() -> None:
    error = refuse(csv_text(PEOPLE).encode("utf-16-le"))
    assert "utf-16-le" in str(error)


# -- delimiters and headers ---------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(delimiter: str) -> None:
    rows = [*PEOPLE, ["ann@example.com", "Ann, the 2nd", "Lee; Jr."]]
    fmt, headers, read_rows = read(csv_text(rows, delimiter).encode())
    assert fmt.delimiter == delimiter
    assert headers == PEOPLE[0]
    assert read_rows[-1][1] == rows[-1]


def test_decimal_commas_do_not_fool_the_delimiter_guess() -> None:
    fmt, _, rows = read(b"email;score\na@example.com;4,5\nb@example.com;3\nc@example.com;7,25\n")
    assert fmt.delimiter == ";"
    assert rows[0][1] == ["a@example.com", "4,5"]


def test_a_one_column_file_reads_as_one_column() -> None:
    fmt, headers, rows = read(b"email\na@example.com\nb@example.com\n")
    assert (fmt.delimiter, headers) == (",", ["email"])
    assert [values for _, values in rows] == [["a@example.com"], ["b@example.com"]]


def test_a_given_delimiter_wins_and_tab_can_be_spelled_out() -> None:
    data = b"email\tnote\na@example.com\tx,y,z\n"
    assert read(data, delimiter=",")[1] == ["email\tnote"]
    assert read(data, delimiter="tab")[0].delimiter == "\t"
    assert "Unsupported delimiter" in str(refuse(data, delimiter=":"))


def test_a_first_row_with_an_email_address_is_data_not_a_header() -> None:
    fmt, headers, rows = read(b"a@example.com,Ann\nb@example.com,Bob\n")
    assert not fmt.has_header
    assert headers == ["column_1", "column_2"]
    assert rows == [(1, ["a@example.com", "Ann"]), (2, ["b@example.com", "Bob"])]


def test_a_first_row_of_labels_is_a_header() -> None:
    assert read(b"Email Address,Name\na@example.com,Ann\n")[0].has_header
    assert read(b"Name,Company\nAnn,Acme\n")[0].has_header
    assert not read(b"Ann,42\nBob,7\n")[0].has_header  # numbers are not labels


def test_has_header_can_be_forced_either_way() -> None:
    data = b"Name,Company\nAnn,Acme\n"
    fmt, headers, rows = read(data, has_header=False)
    assert (fmt.has_header, headers, len(rows)) == (False, ["column_1", "column_2"], 2)
    assert read(b"a@example.com,Ann\n", has_header=True)[1] == ["a@example.com", "Ann"]


def test_header_names_are_stripped_and_blank_ones_get_a_column_name() -> None:
    _, headers, _ = read(b" Email ,,\tName\t\na@example.com,x,Ann\n")
    assert headers == ["Email", "column_2", "Name"]


def test_duplicate_header_names_are_refused_naming_both() -> None:
    error = refuse(b"Email,Name, email \na@example.com,Ann,b@example.com\n")
    assert error.line == 1
    assert "columns 1 and 3" in str(error)
    assert "('Email' and 'email')" in str(error)


def test_a_header_only_file_has_no_rows() -> None:
    fmt, headers, rows = read(b"email,first_name\r\n")
    assert (fmt.has_header, headers, rows) == (True, ["email", "first_name"], [])


# -- rows, quoting and line numbers -----------------------------------------------------


def test_quoted_fields_keep_delimiters_newlines_and_doubled_quotes() -> None:
    data = (
        b'email,note\r\na@example.com,"one, two"\r\nb@example.com,"line 1\r\nline 2"\r\n'
        b'c@example.com,"say ""hi"""\r\nd@example.com,plain\r\n'
    )
    rows = read(data)[2]
    assert rows == [
        (2, ["a@example.com", "one, two"]),
        (3, ["b@example.com", "line 1\r\nline 2"]),
        (5, ["c@example.com", 'say "hi"']),
        (6, ["d@example.com", "plain"]),
    ]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_line_endings_do_not_change_rows_or_line_numbers(newline: str) -> None:
    text = newline.join(["email,note", "a@example.com,x", 'b@example.com,"y\nz"', "c@x.io,", ""])
    assert read(text.encode())[2] == [
        (2, ["a@example.com", "x"]),
        (3, ["b@example.com", "y\nz"]),
        (5, ["c@x.io", ""]),
    ]


def test_blank_lines_and_empty_rows_are_skipped_with_line_numbers_kept() -> None:
    data = b"email,name\n\na@example.com,Ann\n,\n\nb@example.com,Bob\n\n\n\n"
    assert read(data)[2] == [(3, ["a@example.com", "Ann"]), (6, ["b@example.com", "Bob"])]


def test_ragged_rows_are_yielded_as_they_are() -> None:
    rows = read(b"email,name\na@example.com\nb@example.com,Bob,extra\n")[2]
    assert rows == [(2, ["a@example.com"]), (3, ["b@example.com", "Bob", "extra"])]


def test_an_unbalanced_quote_fails_with_its_line_instead_of_swallowing_rows() -> None:
    lines = ["email,name"] + [f"u{i}@example.com,User {i}" for i in range(1, 1001)]
    lines[5] = 'u5@example.com,"User 5'
    with CSVTable(io.BytesIO("\n".join(lines).encode())) as table:
        seen: Rows = []
        with pytest.raises(CSVFormatError) as caught:
            seen.extend(table.rows())
    assert caught.value.line == 6
    assert "never closed" in str(caught.value)
    assert len(seen) == 4  # the rows before it, never 998 rows with one swallowed


def test_text_after_a_closing_quote_fails_with_its_line() -> None:
    error = refuse(b'email,name\na@example.com,"Ann" Lee\n')
    assert error.line == 2
    assert "closing quote" in str(error)


def test_a_quote_that_closes_lines_later_names_where_the_row_started() -> None:
    error = refuse(b'email,name\na@example.com,"Ann\nb@example.com,Bob\nc@example.com,"Cy"\n')
    assert error.line == 2
    assert "Line 4 (row from line 2)" in str(error)


@pytest.mark.parametrize("quoted", [True, False])
def test_a_field_over_the_limit_is_refused_with_its_line(quoted: bool) -> None:
    big = "x" * 2000
    value = f'"{big}\n{big}"' if quoted else big + big
    data = f"email,note\na@example.com,ok\nb@example.com,{value}\n".encode()
    error = refuse(data, max_field_chars=1000)
    assert error.line == 3
    assert "the limit is 1,000" in str(error)


def test_fields_larger_than_the_csv_module_default_are_allowed_when_asked() -> None:
    big = "y" * 150_000
    rows = read(f"email,note\na@example.com,{big}\n".encode(), max_field_chars=200_000)[2]
    assert rows == [(2, ["a@example.com", big])]


def test_a_line_with_no_end_is_refused_without_reading_it_all() -> None:
    data = b"email,note\n" + b"z" * (3 << 20)
    with CSVTable(io.BytesIO(data)) as table, pytest.raises(CSVFormatError) as caught:
        list(table.rows())
    assert caught.value.line == 2


# -- not a CSV table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", codecs.BOM_UTF8, b"\r\n\r\n", b" \n \n", b",,,\n"],
    ids=["empty", "BOM only", "blank lines", "spaces", "only delimiters"],
)
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert str(refuse(data)) == "The file is empty."


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"email,name\na@example.com,B\x00b\n",
        random.Random(1).randbytes(5000),
    ],
    ids=["png", "NUL byte", "random bytes"],
)
def test_binary_content_is_refused(data: bytes) -> None:
    assert "not a text CSV file" in str(refuse(data))


def test_a_nul_after_the_first_64_kb_is_refused_with_its_line() -> None:
    rows = [PEOPLE[0]] + [[f"u{i}@example.com", "Ann", "Lee"] for i in range(5000)]
    data = csv_text(rows).encode() + b"x@example.com,N\x00,L\r\n"
    assert len(data) > SAMPLE_BYTES
    with CSVTable(io.BytesIO(data)) as table, pytest.raises(CSVFormatError) as caught:
        list(table.rows())
    assert caught.value.line == 5002
    assert "NUL" in str(caught.value)


# -- streaming ----------------------------------------------------------------------------


def test_opening_reads_only_the_sample_and_rows_stream() -> None:
    rows = [PEOPLE[0]] + [[f"u{i}@example.com", "Ann", "Lee"] for i in range(200_000)]
    data = csv_text(rows).encode()
    stream = Trickle(data, step=1 << 20)
    with CSVTable(stream) as table:  # type: ignore[arg-type]
        assert stream.position <= SAMPLE_BYTES
        iterator = table.rows()
        for _ in range(1000):
            next(iterator)
        assert stream.position <= SAMPLE_BYTES + (1 << 20)
        assert sum(1 for _ in iterator) == 199_000


def test_short_reads_and_chunk_boundaries_do_not_change_the_records() -> None:
    # Random records with quotes, delimiters, CR/LF and multi-byte characters; written
    # with the csv module, read back in 7-byte reads and across 1 MiB chunks.
    rng = random.Random(42)
    alphabet = 'abc ,;"\r\néß李🙂'
    rows = [["email", "note"]] + [
        [f"u{i}@example.com", "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))]
        for i in range(60_000)
    ]
    data = csv_text(rows).encode()
    for stream in (Trickle(data), Trickle(data, step=SAMPLE_BYTES - 1)):
        with CSVTable(stream) as table:  # type: ignore[arg-type]
            got = [values for _, values in table.rows()]
        expected = [r for r in rows[1:] if any(r)]
        assert got == expected


def test_rows_can_be_read_once_and_the_stream_is_left_open() -> None:
    stream: BinaryIO = io.BytesIO(b"email\na@example.com\n")
    with CSVTable(stream) as table:
        list(table.rows())
        with pytest.raises(RuntimeError):
            table.rows()
    assert not stream.closed
    with pytest.raises(RuntimeError):
        table.rows()
