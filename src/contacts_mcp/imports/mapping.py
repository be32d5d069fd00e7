"""Which CSV column goes where, and how cell values become contact data.

`propose_mapping` guesses a column map from header names and sample values, for the user to
confirm. `parse_unsubscribed`, `parse_number` and `check_email` turn cell text into what
Resend is sent; the import preview calls them for every row, so `check_email` has a fast
path that handles ordinary addresses in about a microsecond and leaves everything else to
email-validator (~20 µs).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from contacts_mcp.api.models import RESERVED_PROPERTY_KEYS, PropertyType
from contacts_mcp.imports.models import ColumnProposal
from contacts_mcp.text.sanitize import clean
from contacts_mcp.text.words import counted

__all__ = [
    "BUILTIN_TARGETS",
    "MAX_NEW_PROPERTIES",
    "Target",
    "check_column_map",
    "check_email",
    "parse_number",
    "parse_unsubscribed",
    "propose_mapping",
]

Target = Literal["email", "first_name", "last_name", "unsubscribed", "segments", "topics", "skip"]
# `segments`: segment names separated by ";", or a JSON array of names (export_contacts
# writes one where a name holds ";" or spaces at an end: `text.cells`).
# `topics`: a JSON object of topic name → opt_in/opt_out (as exports and snapshots hold it).
BUILTIN_TARGETS: Final = (
    "email", "first_name", "last_name", "unsubscribed", "segments", "topics"
)  # fmt: skip
MAX_KEY_CHARS: Final = 50
SAMPLE_CHARS: Final = 60
NUMBER_SHARE: Final = 0.9  # of sampled values that must be numbers for a number property
# New properties one proposal may suggest: past this, columns are proposed as skip. A file
# with thousands of columns is not a list of contacts to copy whole.
MAX_NEW_PROPERTIES: Final = 50

# Header synonyms, compared after dropping case, accents, spaces and punctuation.
# fmt: off
_SYNONYM_WORDS = {
    "email": ["email", "emailaddress", "emailaddr", "mail", "mailaddress", "emailid", "emails"],
    "first_name": ["firstname", "first", "givenname", "fname", "forename", "prenom", "vorname"],
    "last_name": ["lastname", "last", "surname", "familyname", "lname", "nom", "nachname"],
    "unsubscribed": [
        "unsubscribed", "unsubscribe", "optedout", "optout", "emailoptout", "donotemail",
        "donotmail", "donotcontact", "isunsubscribed", "unsubscribedstatus",
    ],
}
# Columns that describe the export rather than the contact.
_SYSTEM = frozenset({
    "id", "uuid", "guid", "row", "rownumber", "rowid", "index", "createdat", "updatedat",
    "createdon", "updatedon", "modifiedat", "lastmodified", "contactid",
})
_FLAGS = {
    **dict.fromkeys(["true", "t", "yes", "y", "1", "unsubscribed", "unsubscribe", "optedout",
                     "optout", "out"], True),
    **dict.fromkeys(["false", "f", "no", "n", "0", "subscribed", "subscribe", "optedin", "optin",
                     "in", "active"], False),
}
# RFC 2142 mailbox names, which email-validator lower-cases in its normalized form.
_CASE_INSENSITIVE_MAILBOXES = frozenset({
    "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
    "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp",
})
# fmt: on
_SYNONYMS = {word: target for target, words in _SYNONYM_WORDS.items() for word in words}
_FULL_NAME = frozenset({"name", "fullname", "contactname", "displayname"})
# Yes/no columns that mean the opposite of `unsubscribed`: "yes" there is a subscriber.
_INVERTED = frozenset({
    "subscribed", "issubscribed", "subscriber", "optedin", "optin", "emailoptin", "consent",
    "marketingconsent", "emailconsent", "acceptsmarketing", "acceptsemailmarketing",
    "subscribedtonewsletter", "newslettersubscribed",
})  # fmt: skip
# Words a header adds to a property's name without changing it ("Plan Type", "# of seats"),
# dropped to match an existing property when nothing matches whole.
_FILLER = frozenset({"of", "the", "a", "no", "nr", "num", "number", "count", "type", "kind",
                     "value", "name", "total", "my", "your", "contact", "contacts"})  # fmt: skip
_LOOSE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+").fullmatch
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").fullmatch
_INTEGER = re.compile(r"[+-]?\d+").fullmatch
# Zip codes and phone numbers look numeric but lose their leading "0" or "+" as numbers.
_TEXT_LIKE_NUMBER = re.compile(r"\s*(?:[+-]?0\d|\+)").match

_WHITESPACE = " \t\r\n\f\v"  # ASCII only: NBSP or zero-width spaces make an address invalid

# The ASCII fast path of check_email. Local part: RFC 5322 dot-atom (email-validator's
# DOT_ATOM_TEXT); domain: LDH labels of 1-63 characters, and a TLD of letters, which is
# stricter than email-validator (it allows e.g. "xn--p1ai"); those take the slow path.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_FAST_EMAIL = re.compile(
    rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
).fullmatch
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def check_email(value: str) -> str:
    """The address in `value`, normalized: trimmed, domain lower-cased.

    Raises ValueError with a short reason. Surrounding ASCII whitespace is dropped; any
    other space or invisible character makes the address invalid rather than being removed
    silently. Addresses the fast path cannot vouch for go to email-validator with the
    import policy: no DNS, no SMTPUTF8 local parts, and `strict=True` for the 64-character
    local-part limit that the fast path also applies.
    """
    address = value.strip(_WHITESPACE)
    normalized = _fast_check(address)
    if normalized is not None:
        return normalized
    if not address:
        raise ValueError("missing email address")
    return _check_email_slowly(address)


def _fast_check(address: str) -> str | None:
    """The normalized address if it is plainly valid ASCII, else None (not necessarily invalid).

    Accepts only what email-validator accepts, normalized as it would: a test checks this
    on a corpus of tricky addresses.
    """
    match = _FAST_EMAIL(address) if len(address) <= 254 else None
    if match is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    # "--" may be Punycode (xn--) or a reserved label form: rare, and the slow path knows
    # the rules. The special-use names are all single labels, so the TLD settles it.
    if len(local) > 64 or "--" in domain or domain[domain.rfind(".") + 1 :] in _SPECIAL_USE_TLDS:
        return None
    if local.lower() in _CASE_INSENSITIVE_MAILBOXES:
        local = local.lower()
    return f"{local}@{domain}"


def _check_email_slowly(address: str) -> str:
    from email_validator import EmailNotValidError, validate_email  # slow to import; rarely needed

    try:
        checked = validate_email(
            address, check_deliverability=False, allow_smtputf8=False, strict=True
        )
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.normalized


# Problems start with a word, never the quoted value: a failure report's cell starting
# with an apostrophe gets a second one to stay formula-safe, and reads doubled.
def parse_number(value: str) -> int | float | None:
    """`value` as a number: "" → None, "42" → 42, "4.5" → 4.5, " 1e3 " → 1000.0.

    Raises ValueError for anything else, including "nan", "inf", "1_000" and "1,234":
    thousands separators and decimal commas are ambiguous, so the user fixes the file.
    """
    text = value.strip()
    if not text:
        return None
    if _INTEGER(text) and len(text) <= 300:  # int() of thousands of digits is slow
        return int(text)
    if _NUMBER(text):
        number = float(text)
        if math.isfinite(number):
            return number
        raise ValueError(f"the value {clean(text, 40)!r} is too large a number")
    hint = " (use a dot for decimals and no thousands separators)" if "," in text else ""
    raise ValueError(f"the value {clean(text, 40)!r} is not a number{hint}")


def parse_unsubscribed(value: str) -> bool | None:
    """`value` as an unsubscribed flag: yes/no, true/false, 1/0, "opted out"…; "" → None."""
    text = value.strip().lower()
    if not text:
        return None
    flag = _FLAGS.get(text)
    if flag is None:
        flag = _FLAGS.get(_compact(text))  # "Opted-Out", "opted out"
    if flag is not None:
        return flag
    raise ValueError(f"the value {clean(value, 40)!r} is not yes/no (or true/false, 1/0)")


def propose_mapping(
    headers: Sequence[str],
    sample_rows: Sequence[Sequence[str]],
    existing_properties: Mapping[str, PropertyType],
) -> list[ColumnProposal]:
    """A proposed target for each column, with the reason, from headers and sample values.

    Exactly one column becomes `email` when any looks like one (by name, or by values that
    are mostly addresses); name and unsubscribed columns are found by synonyms; the others
    become existing properties when the names match, else new properties, or `skip` for
    empty and export-bookkeeping columns.
    """
    columns = [_values(sample_rows, index) for index in range(len(headers))]
    compact = [_compact(header) for header in headers]
    proposals: dict[int, ColumnProposal] = {}

    def propose(
        index: int,
        maps_to: str,
        reason: str,
        property_type: PropertyType | None = None,
        *,
        new: bool = False,
    ) -> None:
        samples = list(dict.fromkeys(clean(v, SAMPLE_CHARS) for v in columns[index]))[:3]
        proposals[index] = ColumnProposal(
            column=headers[index],
            maps_to=maps_to,
            property_type=property_type,
            new_property=new,
            reason=reason,
            samples=samples,
        )

    email = _email_column(headers, compact, columns)
    if email is not None:
        propose(email[0], "email", email[1])
    for target in ("first_name", "last_name", "unsubscribed"):
        for index, word in enumerate(compact):
            if index in proposals or _SYNONYMS.get(word) != target:
                continue
            if target == "unsubscribed" and not _mostly_flags(columns[index]):
                continue  # not yes/no values: kept as a property below
            propose(index, target, f"header {clean(headers[index], 40)!r} means {target}")
            break

    taken = {p.maps_to for p in proposals.values()}
    by_key = {key.casefold(): key for key in existing_properties}
    by_compact = {_compact(key): key for key in existing_properties}
    by_core: dict[str, list[str]] = {}
    for key in existing_properties:
        by_core.setdefault(_core(key), []).append(key)
    used_keys: set[str] = set(existing_properties)
    new_count = 0
    for index, header in enumerate(headers):
        if index in proposals:
            continue
        shown, word, values = clean(header, 40), compact[index], columns[index]
        key = _key_from_header(header) or f"column_{index + 1}"
        existing = by_key.get(key.casefold()) or by_compact.get(word)
        loosely = False
        if existing is None and len(same := by_core.get(_core(header), [])) == 1:
            existing, loosely = same[0], True  # one property only: no guess between two
        synonym = _SYNONYMS.get(word)
        note = ""
        if synonym in taken:
            note = f"; another column is the contact's {synonym}"
        elif synonym == "unsubscribed":
            note = "; the values are not yes/no, so not used as unsubscribed"
        elif word in _FULL_NAME:
            note = "; map it to first_name instead if it holds names"
        elif email is not None and _mostly_emails(values):
            note = f"; the values are addresses, but {clean(headers[email[0]], 40)!r} is the email"
        if word in _SYSTEM or word.startswith("unnamed"):
            propose(index, "skip", f"{shown!r} looks like a column of the export, not the contact")
        elif word == "segments" and "segments" not in taken:
            taken.add("segments")
            propose(
                index,
                "segments",
                "segment names separated by ';' (as export_contacts writes them): each row "
                "joins its segments",
            )
        elif word == "topics" and "topics" not in taken:
            taken.add("topics")
            propose(
                index,
                "topics",
                "topic choices as export_contacts writes them: each row's opt-outs are "
                "applied, and a new contact's opt-ins",
            )
        elif not values:
            propose(index, "skip", f"empty in the first {counted(len(sample_rows), 'row')}")
        elif word in _INVERTED and "unsubscribed" not in taken and _mostly_flags(values):
            propose(
                index,
                "skip",
                f"{shown!r} holds yes/no meaning subscribed, the opposite of unsubscribed: "
                "import does not invert a column, so it is skipped. To use it, turn it into "
                "an unsubscribed column (yes where they opted out) and map that",
            )
        elif existing is not None and existing not in taken:
            taken.add(existing)
            type_ = existing_properties[existing]
            why = f"matches the existing {type_} property {existing!r}"
            if loosely:
                why += f" (the header without {', '.join(_fillers(header)) or 'plural'})"
            if type_ == "number" and not all(map(_is_number, values)):
                why += " (but some sampled values are not numbers)"
            propose(index, existing, why + note, type_)
        elif key in RESERVED_PROPERTY_KEYS:
            propose(index, "skip", f"{key!r} is a built-in field or reserved name{note}")
        elif new_count >= MAX_NEW_PROPERTIES:
            propose(
                index,
                "skip",
                f"not proposed: a proposal suggests at most {MAX_NEW_PROPERTIES} new "
                "properties; map it in the column map to import it",
            )
        else:
            new_count += 1
            key = _unique_key(key, used_keys)
            used_keys.add(key)
            taken.add(key)
            type_, why = _infer_type(values)
            propose(index, key, f"new {type_} property: {why}{note}", type_, new=True)
    return [proposals[index] for index in range(len(headers))]


def check_column_map(
    headers: Sequence[str],
    column_map: Mapping[str, str],
    property_types: Mapping[str, PropertyType],
) -> None:
    """Raise ValueError listing everything wrong with `column_map`.

    Every key must be a header; targets are the built-ins, "skip", or a key of
    `property_types`; exactly one column maps to email and no target is used twice.
    """
    problems: list[str] = []
    known = set(headers)
    unknown = [column for column in column_map if column not in known]
    if unknown:
        listed = ", ".join(repr(clean(c, 40)) for c in unknown[:10])
        problems.append(
            f"not columns of the file: {listed} (the columns are "
            f"{', '.join(repr(clean(h, 40)) for h in headers[:30])})"
        )
    emails = [column for column, target in column_map.items() if target == "email"]
    if len(emails) != 1:
        problems.append(
            "no column maps to 'email'"
            if not emails
            else f"{len(emails)} columns map to 'email' "
            f"({', '.join(repr(clean(c, 40)) for c in emails)}); use one"
        )
    seen: dict[str, str] = {}
    for column, target in column_map.items():
        if target == "skip":
            continue
        if target not in BUILTIN_TARGETS and target not in property_types:
            problems.append(
                f"column {clean(column, 40)!r} maps to {clean(target, 50)!r}, which is neither "
                "email, first_name, last_name, unsubscribed, segments, skip nor a known or "
                "new property"
            )
        elif target in seen and target != "email":
            problems.append(
                f"columns {clean(seen[target], 40)!r} and {clean(column, 40)!r} both map "
                f"to {target!r}"
            )
        seen.setdefault(target, column)
    if problems:
        raise ValueError("The column map has problems: " + "; ".join(problems) + ".")


# -- helpers ------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    """Lower-case ASCII, accents dropped: "Straße Prénom" → "strasse prenom"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return decomposed.encode("ascii", "ignore").decode()


def _compact(text: str) -> str:
    """Lower-case ASCII letters and digits only: "E-mail Address" → "emailaddress"."""
    return re.sub(r"[^a-z0-9]", "", _ascii(text))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", _ascii(text))


def _core(text: str) -> str:
    """A name without filler words or a plural "s": "# of Seats" and "seats" → "seat",
    "Plan Type" and "plan" → "plan"."""
    words = [w for w in _words(text) if w not in _FILLER] or _words(text)
    joined = "".join(words)
    return joined[:-1] if len(joined) > 3 and joined.endswith("s") else joined


def _fillers(header: str) -> list[str]:
    return [repr(w) for w in dict.fromkeys(_words(header)) if w in _FILLER]


def _key_from_header(header: str) -> str:
    """A property key from a header: "Signup Date" → "signup_date", "" when nothing is left."""
    key = re.sub(r"[^a-z0-9]+", "_", _ascii(header)).strip("_")
    if key and not key[0].isalpha():
        key = f"col_{key}"
    return key[:MAX_KEY_CHARS].rstrip("_")


def _unique_key(key: str, taken: set[str]) -> str:
    lowered = {k.casefold() for k in taken}
    candidate, n = key, 1
    while candidate.casefold() in lowered:
        n += 1
        suffix = f"_{n}"
        candidate = key[: MAX_KEY_CHARS - len(suffix)] + suffix
    return candidate


def _values(rows: Sequence[Sequence[str]], index: int) -> list[str]:
    return [value for row in rows if index < len(row) and (value := row[index].strip())]


def _mostly_flags(values: list[str]) -> bool:
    def is_flag(value: str) -> bool:
        try:
            parse_unsubscribed(value)
        except ValueError:
            return False
        return True

    return not values or sum(map(is_flag, values)) >= 0.8 * len(values)


def _email_column(
    headers: Sequence[str], compact: list[str], columns: list[list[str]]
) -> tuple[int, str] | None:
    """The column holding the contact's address: named like one, or holding mostly addresses."""
    best: tuple[bool, bool, float, int] | None = None
    for index, values in enumerate(columns):
        named = _SYNONYMS.get(compact[index]) == "email"
        share = _email_share(values)
        if not named and share < 0.5:
            continue
        score = (share >= 0.5, named, share, -index)
        if best is None or score > best:
            best = score
    if best is None:
        return None
    index = -best[3]
    shown = clean(headers[index], 40)
    if best[1]:
        return index, f"header {shown!r} means email"
    return index, f"{best[2]:.0%} of the sampled values in {shown!r} are email addresses"


def _email_share(values: list[str]) -> float:
    return sum(1 for v in values if _LOOSE_EMAIL(v)) / len(values) if values else 0.0


def _mostly_emails(values: list[str]) -> bool:
    return _email_share(values) >= 0.5


def _infer_type(values: list[str]) -> tuple[PropertyType, str]:
    """ "number" when (nearly) all values are numbers, with the reason.

    One stray "many" among numbers should not turn a numeric column into text: it stays a
    number column and the preview reports that cell, which the user can fix.
    """
    numbers = [value for value in values if _is_number(value)]
    if len(numbers) < NUMBER_SHARE * len(values):
        return "string", "text values"
    if any(_TEXT_LIKE_NUMBER(value) for value in numbers):
        return "string", "values have leading zeros or a '+', which numbers would lose"
    if any(sum(c.isdigit() for c in value) > 15 for value in numbers):
        return "string", "values have more digits than a number keeps exactly"
    others = len(values) - len(numbers)
    if others:
        return "number", f"values look like numbers ({others} of {len(values)} sampled are not)"
    return "number", "values look like numbers"


def _is_number(value: str) -> bool:
    try:
        parse_number(value)
    except ValueError:
        return False
    return True
