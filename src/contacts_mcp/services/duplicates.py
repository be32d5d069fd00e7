"""Contacts that are likely one person, found from their fields alone.

Resend keys a contact by its exact address: `ada.lovelace@gmail.com` and
`adalovelace+news@googlemail.com` are two contacts, and the one person behind them gets
every broadcast twice. This finds such groups in the mirror; merging them is another step.

Keys, not comparisons. Each contact gets at most two keys, from its own fields, so that no
contact is compared with every other (100,000 contacts take under two seconds, in
memory proportional to their number):
- its mailbox (`normalized_address`): the address as its provider delivers it;
- its name at a company: first and last name (NFKC, case and spacing ignored, both given)
  with the domain, unless that is a free-mail domain, where namesakes are common.
Contacts sharing a key are linked, and linked contacts form one group, transitively
(union-find): a contact is in one group at most, which has every reason of its links.

Reasons, and the confidence they give a link:
- high: the provider delivers both addresses to one mailbox. `case`, `googlemail`,
  `plus_tag` (only where the provider honours it), `gmail_dots`, or `same_address`;
- medium: `domain_typo`, one address is on a misspelt domain (`gmial.com`);
- low: `same_name`, the same first and last name at one company domain: two colleagues
  may share a name, so this one asks a person to look.
A mailbox link's reasons are the steps the two addresses need to meet (without any one of
them, they would not). A group is as strong as the weakest link it needs: links are joined
strongest first, and the group's confidence is that of the last one that joined two parts.

The contact to keep: the oldest (`created_at`) not on a misspelt domain, since mail to
that domain goes nowhere; none when every address in the group is on one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal, NamedTuple, Protocol

from pydantic import BaseModel, Field

from contacts_mcp.services.mirror import Mirror
from contacts_mcp.text.sanitize import name_key

__all__ = [
    "Confidence",
    "ContactFields",
    "DuplicateContact",
    "DuplicateGroup",
    "Reason",
    "find_duplicates",
    "keep_of",
    "mirror_duplicates",
    "normalized_address",
]

Reason = Literal[
    "same_address", "case", "domain_typo", "googlemail", "plus_tag", "gmail_dots", "same_name"
]
Confidence = Literal["high", "medium", "low"]

_GMAIL = "gmail.com"
# Google gave addresses at googlemail.com where it could not use the Gmail name (Germany,
# the UK); every such account receives at gmail.com too, and the reverse.
_GOOGLEMAIL = "googlemail.com"

# Where `name+anything@domain` reaches `name@domain` (RFC 5233 subaddressing, with "+"):
# consumer domains whose operator documents it, or whose behaviour is widely relied on.
# - gmail.com (googlemail.com is mapped to it first): Gmail Help describes adding "+" and
#   a word to an address (and, in "Dots don't matter in Gmail addresses", the dots);
# - outlook.com, hotmail.com, live.com, msn.com: Microsoft documents "Plus addressing in
#   Exchange Online", which Outlook.com runs on; its consumer help does not say so
#   explicitly, but Proton's web client (`canonicalizeEmailByGuess`) and validator.js
#   (`normalizeEmail`) both drop "+tags" there;
# - icloud.com, me.com: iCloud Mail delivers "+tags" (receive only); Apple's help does not
#   document it, reports do since 2012, and validator.js drops them there;
# - fastmail.com: Fastmail Help, "Plus addressing and subdomain addressing";
# - proton.me, protonmail.com, protonmail.ch, pm.me: Proton Support, "Types of email
#   addresses and aliases" (+aliases).
# Not Yahoo: its disposable addresses are `basename-keyword@`, with a base name chosen
# apart from the account's address, so no separator can be dropped to find the account.
# Not any other domain: a company's own may honour "+" (Google Workspace, Exchange Online
# do) but nothing in an address says so, and elsewhere "+" is an ordinary character.
_PLUS_TAGS = frozenset({
    "gmail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com",
    "fastmail.com", "proton.me", "protonmail.com", "protonmail.ch", "pm.me",
})  # fmt: skip

# Misspellings of the big providers' domains (typo → intended): every name one slip from
# gmail, hotmail, yahoo, outlook or icloud (two letters swapped, one missing or one
# doubled: "gmial", "gmai", "gmaill"; or, past the first letter, one struck as its
# neighbour on a QWERTY keyboard: "gmsil", "hotmaik"), at ".com". Fixed names, never an
# edit distance between the contacts' own domains, which would join acme.co and acme.com,
# two companies. Left out: slips that make a name in use (mail.com, gail.com, cloud.com,
# ymail.com); a neighbour struck for the first letter, which makes words and brands
# (bmail, gotmail, tahoo, putlook, ucloud) where one inside the name makes nonsense; and
# aol.com, whose every slip is a short name likely taken (ao.com).
_PROVIDER_NAMES = ("gmail", "hotmail", "yahoo", "outlook", "icloud")
_NAMES_IN_USE = frozenset({"mail", "gail", "cloud"})
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _near(letter: str) -> list[str]:
    """The keys beside `letter` on its row, and the ones above and below it."""
    for row, keys in enumerate(_KEYBOARD):
        if letter in keys:
            col = keys.index(letter)
            beside = [keys[c] for c in (col - 1, col + 1) if 0 <= c < len(keys)]
            return beside + [
                _KEYBOARD[other][col]
                for other in (row - 1, row + 1)
                if 0 <= other < len(_KEYBOARD) and col < len(_KEYBOARD[other])
            ]
    return []


def _slips(name: str) -> set[str]:
    """`name` with two neighbouring letters swapped, one letter missing, one doubled, or
    one after the first struck as its neighbour on the keyboard."""
    swapped = {name[:i] + name[i + 1] + name[i] + name[i + 2 :] for i in range(len(name) - 1)}
    missing = {name[:i] + name[i + 1 :] for i in range(len(name))}
    doubled = {name[: i + 1] + name[i:] for i in range(len(name))}
    struck = {name[:i] + key + name[i + 1 :] for i in range(1, len(name)) for key in _near(name[i])}
    in_use = _NAMES_IN_USE | {domain.partition(".")[0] for domain in _FREE_MAIL}
    return (swapped | missing | doubled | struck) - {name} - in_use


# Endings one slip from ".com" that are no top-level domain (none is in the Public Suffix
# List; ".co", ".cm", ".om" and ".cam" are, and stay): an address there reaches no one,
# and ".com" is what was meant, at any domain.
_TLD_TYPOS = frozenset({"con", "cmo", "ocm", "comm", "cpm", "vom", "xom"})

# Free mail: anyone can have an address here, so two people sharing a name are common and
# a name never links contacts. The big consumer providers and ISPs; a free-mail domain
# missing here costs a low-confidence group when two namesakes use it.
_FREE_MAIL = _PLUS_TAGS | {
    "googlemail.com", "mac.com", "aol.com", "aim.com", "yahoo.com", "ymail.com",
    "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it",
    "yahoo.ca", "yahoo.com.br", "yahoo.com.mx", "yahoo.co.in", "yahoo.co.jp",
    "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.es", "hotmail.it", "hotmail.com.br",
    "live.co.uk", "live.fr", "live.de", "live.nl", "outlook.fr", "outlook.de", "outlook.es",
    "fastmail.fm", "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "web.de",
    "t-online.de", "freenet.de", "posteo.de", "mailbox.org", "tutanota.com", "tuta.io",
    "hey.com", "zoho.com", "mail.com", "email.com", "yandex.ru", "yandex.com", "ya.ru",
    "mail.ru", "inbox.ru", "list.ru", "bk.ru", "rambler.ru", "qq.com", "163.com", "126.com",
    "sina.com", "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "orange.fr",
    "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it",
    "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl", "comcast.net", "verizon.net",
    "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net", "earthlink.net",
    "btinternet.com", "sky.com", "virginmedia.com", "ntlworld.com", "bigpond.com",
    "optusnet.com.au", "shaw.ca", "rogers.com", "sympatico.ca", "uol.com.br", "bol.com.br",
    "terra.com.br", "ziggo.nl", "telenet.be", "bluewin.ch",
}  # fmt: skip

_TYPOS = {f"{slip}.com": f"{name}.com" for name in _PROVIDER_NAMES for slip in _slips(name)}

# A name shared at one domain by more mailboxes than one person plausibly has there is a
# placeholder ("Test User", "Info Team") or a common name at a big company: no link.
_MOST_SAME_NAME = 3

_STEPS: tuple[Reason, ...] = ("case", "domain_typo", "googlemail", "plus_tag", "gmail_dots")
_LINK_LEVEL: dict[Confidence, int] = {"high": 0, "medium": 1, "low": 2}
_LEVELS: tuple[Confidence, ...] = ("high", "medium", "low")
_REASON_ORDER = {reason: i for i, reason in enumerate(("same_address", *_STEPS, "same_name"))}


class ContactFields(Protocol):
    """What duplicates are found from: a `MirroredContact` has it."""

    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def created_at(self) -> str: ...
    @property
    def unsubscribed(self) -> bool: ...


class DuplicateContact(BaseModel):
    """One contact of a group."""

    id: str
    email: str
    created_at: str = Field(description="When the contact was created, as Resend gives it.")
    unsubscribed: bool = Field(
        description="Unsubscribed from broadcasts: a merge must keep this for the person."
    )
    domain_typo: bool = Field(
        description="The address is on a misspelt domain (gmial.com): mail to it goes nowhere."
    )


class DuplicateGroup(BaseModel):
    """Contacts that are likely one person."""

    confidence: Confidence = Field(
        description="high: one mailbox (case, +tag, Gmail dots, googlemail.com); medium: a "
        "misspelt domain; low: the same name at one company domain. A group is as strong "
        "as the weakest link it needs."
    )
    reasons: list[Reason] = Field(
        description="Why its contacts were linked: same_address; case (letter case); "
        "domain_typo (gmial.com for gmail.com); googlemail (googlemail.com is gmail.com); "
        "plus_tag (a +tag the provider ignores); gmail_dots (Gmail ignores dots); "
        "same_name (first and last name, at one company domain)."
    )
    keep: str | None = Field(
        description="The id of the contact to keep: the oldest not on a misspelt domain. "
        "None when every address is on one."
    )
    contacts: list[DuplicateContact] = Field(description="Oldest first.")


def keep_of(contacts: Iterable[ContactFields]) -> str | None:
    """The id of the contact to keep of these (a merge's rule, as a group's `keep`): the
    oldest not on a misspelt domain; None when every address is on one."""
    ordered = sorted(contacts, key=lambda c: (*_age(c.created_at), c.id))
    return next((c.id for c in ordered if not _on_typo_domain(c.email)), None)


def normalized_address(email: str) -> str:
    """The mailbox `email` reaches: lower case, a misspelt domain corrected, googlemail.com
    as gmail.com, a +tag dropped where the provider ignores it, Gmail's dots dropped."""
    return _normalized(email)


def find_duplicates(contacts: Iterable[ContactFields]) -> list[DuplicateGroup]:
    """Groups of contacts that are likely one person: highest confidence first, then the
    biggest. `contacts` is read once, as it comes (a stream from the mirror will do)."""
    seen = _Seen()
    deliveries = _Deliveries()
    mailboxes: dict[str, int] = {}
    names: dict[str, int] = {}  # name key → its first contact
    namesakes: dict[str, list[int]] = {}  # name key → every contact, once it has two
    links: list[_Link] = []
    for contact in contacts:
        i = seen.add(contact)
        email = contact.email
        mailbox = _normalized(email, deliveries=deliveries)
        first = mailboxes.setdefault(mailbox, i)
        if first != i:
            reasons = _address_reasons(seen.emails[first], email, deliveries)
            level = _LINK_LEVEL["medium" if "domain_typo" in reasons else "high"]
            links.append((level, first, i, reasons))
        key = _name_key(contact.first_name, contact.last_name, mailbox)
        if key is not None:
            earlier = names.setdefault(key, i)
            if earlier != i:
                namesakes.setdefault(key, [earlier]).append(i)
    for together in namesakes.values():
        named = {_normalized(seen.emails[i], deliveries=deliveries) for i in together}
        if len(named) <= _MOST_SAME_NAME:
            links += ((_LINK_LEVEL["low"], together[0], i, ("same_name",)) for i in together[1:])
    return _groups(seen, links)


def mirror_duplicates(mirror: Mirror) -> list[DuplicateGroup]:
    """`find_duplicates` over every contact of the mirror, read in one streaming pass
    (blocking: a caller on the event loop runs it in a worker thread)."""
    return find_duplicates(map(_Fields._make, mirror.contact_fields()))


class _Fields(NamedTuple):
    id: str
    email: str
    first_name: str
    last_name: str
    created_at: str
    unsubscribed: bool


class _Seen:
    """What a group shows of each contact read, by its place in the input. Plain strings
    in a few lists, not an object per contact: at 100,000 contacts, the garbage
    collector's passes over that many objects took as long as the detection itself."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.emails: list[str] = []
        self.created: list[str] = []
        self.unsubscribed: list[bool] = []

    def add(self, contact: ContactFields) -> int:
        self.ids.append(contact.id)
        self.emails.append(contact.email)
        self.created.append(contact.created_at)
        self.unsubscribed.append(contact.unsubscribed)
        return len(self.ids) - 1


# (confidence level, one contact, another, reasons), contacts by their place in the input.
_Link = tuple[int, int, int, tuple[Reason, ...]]


# -- addresses -------------------------------------------------------------------------


class _Delivery(NamedTuple):
    """Where mail to a domain goes, and what its provider ignores in the local part."""

    domain: str
    tags: bool
    dots: bool


def _delivery(domain: str, skip: Reason | None = None) -> _Delivery:
    if skip != "domain_typo":
        domain = _corrected(domain)
    if skip != "googlemail" and domain == _GOOGLEMAIL:
        domain = _GMAIL
    return _Delivery(
        domain,
        tags=skip != "plus_tag" and domain in _PLUS_TAGS,
        dots=skip != "gmail_dots" and domain == _GMAIL,
    )


class _Deliveries:
    """`_delivery`, worked out once per domain and step skipped: a few thousand domains
    serve every contact."""

    def __init__(self) -> None:
        self._known: dict[Reason | None, dict[str, _Delivery]] = {}

    def __call__(self, domain: str, skip: Reason | None = None) -> _Delivery:
        known = self._known.setdefault(skip, {})
        found = known.get(domain)
        if found is None:
            found = known[domain] = _delivery(domain, skip)
        return found


def _normalized(
    email: str,
    skip: Reason | None = None,
    *,
    deliveries: Callable[[str, Reason | None], _Delivery] = _delivery,
) -> str:
    """`email` through every step of `_STEPS` but `skip`."""
    text = email.strip()
    if skip != "case":
        text = text.lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    delivery = deliveries(domain, skip)
    if delivery.tags:
        local = local.partition("+")[0] or local  # "+x@" has no name to fall back on
    if delivery.dots:
        local = local.replace(".", "") or local
    return f"{local}@{delivery.domain}"


def _corrected(domain: str) -> str:
    """`domain` (lower case) with a known misspelling corrected."""
    name, dot, ending = domain.rpartition(".")
    if dot and ending in _TLD_TYPOS:
        domain = f"{name}.com"
    return _TYPOS.get(domain, domain)


def _on_typo_domain(email: str) -> bool:
    _, at, domain = email.strip().lower().rpartition("@")
    return bool(at) and _corrected(domain) != domain


def _address_reasons(
    a: str, b: str, deliveries: Callable[[str, Reason | None], _Delivery] = _delivery
) -> tuple[Reason, ...]:
    """Why `a` and `b` reach one mailbox: each step without which they would not."""
    if a.strip() == b.strip():
        return ("same_address",)

    def without(email: str, step: Reason | None) -> str:
        return _normalized(email, step, deliveries=deliveries)

    needed = tuple(step for step in _STEPS if without(a, step) != without(b, step))
    if needed:
        return needed
    # Two steps that could each make them meet (no real address needs this): name them all.
    return tuple(
        step
        for step in _STEPS
        if without(a, step) != without(a, None) or without(b, step) != without(b, None)
    ) or ("case",)


# -- names -----------------------------------------------------------------------------


def _name_key(first: str, last: str, mailbox: str) -> str | None:
    """The key of a name at a company domain; None at free mail, or without both names."""
    domain = mailbox.rpartition("@")[2]
    if not domain or domain in _FREE_MAIL:
        return None
    first_key, last_key = _name_part(first), _name_part(last)
    if not first_key or not last_key:
        return None
    # One string: `name_key` leaves no control character to be mistaken for the separator.
    return f"{first_key}\x00{last_key}\x00{domain}"


def _name_part(name: str) -> str:
    # NFKC first: full-width letters and ligatures meet their plain forms, then case,
    # spacing and hidden characters are ignored as everywhere names are compared.
    return name_key(unicodedata.normalize("NFKC", name))


# -- groups ----------------------------------------------------------------------------


def _groups(seen: _Seen, links: list[_Link]) -> list[DuplicateGroup]:
    """The linked contacts as groups: union-find over the links, strongest first."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # halve the path: later finds are shorter
            i = parent[i]
        return i

    weakest: dict[int, int] = {}  # root → level of the last link that joined two parts
    links.sort(key=lambda link: link[0])
    for level, a, b, _ in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
            weakest[ra] = max(weakest.pop(ra, 0), weakest.pop(rb, 0), level)
    members: dict[int, list[int]] = {}
    for i in parent:
        members.setdefault(root(i), []).append(i)
    reasons: dict[int, set[Reason]] = {}
    for _, a, _, why in links:
        reasons.setdefault(root(a), set()).update(why)
    groups = [
        _group(seen, together, _LEVELS[weakest[r]], reasons[r]) for r, together in members.items()
    ]
    groups.sort(key=lambda g: (_LINK_LEVEL[g.confidence], -len(g.contacts), g.contacts[0].email))
    return groups


def _group(
    seen: _Seen,
    together: list[int],
    confidence: Confidence,
    reasons: set[Reason],
) -> DuplicateGroup:
    contacts = [
        DuplicateContact(
            id=seen.ids[i],
            email=seen.emails[i],
            created_at=seen.created[i],
            unsubscribed=seen.unsubscribed[i],
            domain_typo=_on_typo_domain(seen.emails[i]),
        )
        for i in together
    ]
    contacts.sort(key=lambda c: (*_age(c.created_at), c.id))
    keep = next((c.id for c in contacts if not c.domain_typo), None)  # as `keep_of`
    return DuplicateGroup(
        confidence=confidence,
        reasons=sorted(reasons, key=_REASON_ORDER.__getitem__),
        keep=keep,
        contacts=contacts,
    )


def _age(created_at: str) -> tuple[bool, str]:
    """A sort key for `created_at`: UTC times in order, then any we cannot read, as text."""
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return True, created_at
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return True, created_at
    return False, moment.isoformat(timespec="microseconds")
