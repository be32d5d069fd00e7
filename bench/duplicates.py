"""Duplicate detection over a generated account: recall, precision, false groups and time.

    python -m bench.duplicates [--people 10000] [--big 100000] [--seed 7]

The account: `--people` distinct people. Names come from common first and last names,
weighted so that the commonest are about 1.6 % and 0.6 % of people (near real shares),
and a long tail of rare ones; some are missing. Addresses take the usual shapes at free
mail (Gmail 44 % of them), ISPs and a few hundred companies of very unequal size
(acme.co and acme.com are two of them); each is a mailbox of its own as its provider sees
it (no two people at gmail.com differ only by dots). Namesakes happen, on free mail
mostly: the same name is never evidence there.

Then duplicates are planted, as people make them: of each kind the detector is meant to
find (typos drawn from every single-keystroke slip of a big provider's domain, not from
the detector's list), and of kinds its rules cannot see by design, reported apart (a +tag
at a company domain, a company domain misspelt, a second record without the name, a work
and a personal address). About one planted person in seven gets two or more, of
different kinds, which only transitive grouping puts together.

Printed: recall per kind (a planted pair found in one group), pairwise precision per
confidence, the false groups (people mixed) with their reasons, the groups found among
the distinct people alone (goal: none), and the time and memory of a detection at
`--people` and `--big` contacts, in memory and streamed from a mirror.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import tracemalloc
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from contacts_mcp.services.duplicates import DuplicateGroup, find_duplicates, mirror_duplicates
from contacts_mcp.services.mirror import Mirror, MirroredContact


def words(text: str) -> list[str]:
    return text.split()


FIRST = words(
    "James Mary John Maria Robert Ana Michael Anna David Laura William Sarah José Emma Daniel "
    "Sofia Thomas Julia Mohammed Fatima Wei Carlos Lucía Pedro Marie Pierre Hans Katarzyna "
    "Piotr Olga Ivan Yuki Hiroshi Priya Raj Ahmed Aisha Giulia Marco Luca Sophie Lukas Elena "
    "Paul Peter Jennifer Linda Patricia Elizabeth Susan Karen Lisa Joseph Charles Christopher "
    "Matthew Anthony Mark Steven Andrew Joshua Kevin Brian George Emily Olivia Chloé Léa Noah "
    "Liam Mateo Valentina Camila Juan Luis Jorge Ali Omar Mei Jun Minji Seo-yeon Arjun Ananya "
    "Zoë Björn Åsa Søren Nikolai Tatiana Dmitri Fernanda Thiago Gabriel Rafael Beatriz Inês"
)
LAST = words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Silva Santos "
    "Oliveira Souza Pereira Müller Schmidt Schneider Fischer Weber Martin Bernard Dubois "
    "Thomas Robert Rossi Russo Ferrari Esposito Bianchi Nowak Kowalski Wiśniewski Ivanov "
    "Smirnov Kuznetsov Nguyen Tran Le Pham Kim Lee Park Choi Wang Li Zhang Liu Chen Yang "
    "Patel Singh Kumar Sharma Shah Khan Ali Ahmed Hassan Cohen Levi Murphy Kelly O'Brien "
    "Walsh Taylor Wilson Anderson Moore Jackson White Harris Thompson Clark Lewis Walker Hall "
    "Young Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts "
    "Carter Phillips Evans Turner Torres Hernández López González Pérez Sánchez Ramírez "
    "Flores Gómez Díaz Cruz Morales Reyes Jiménez Ruiz Álvarez Fernández Romero Navarro "
    "Suzuki Tanaka Watanabe Sato Yamamoto Jansen Peeters Andersson Johansson Hansen Nielsen "
    "Virtanen Novák Horvat Popescu Papadopoulos Yilmaz Kaya"
)
# Shares of people with a common name (the rest draw a rare one from syllables, about
# 25,000 first and 700,000 last names), and how flat the common names' weights are
# (1 / (rank + offset)): the commonest first name is then 1.6 %, last name 0.6 %.
COMMON_FIRST, FIRST_OFFSET = 0.5, 15
COMMON_LAST, LAST_OFFSET = 0.3, 25
SYLLABLES = words(
    "ka ri to na mi le so ra vi en do la ma sa ta ni lo ve ar in el ba de fi go ju ko mu pe"
)
MISSING_NAME = 0.08

FREE = {  # domain: weight (share of the free-mail people)
    "gmail.com": 36, "yahoo.com": 8, "hotmail.com": 8, "outlook.com": 6, "icloud.com": 4,
    "aol.com": 2, "live.com": 1, "me.com": 0.6, "googlemail.com": 0.5, "proton.me": 0.4,
    "protonmail.com": 0.5, "fastmail.com": 0.3, "msn.com": 0.5, "gmx.de": 1.5, "web.de": 1.5,
    "yahoo.fr": 0.6, "orange.fr": 1, "hotmail.fr": 0.6, "free.fr": 0.5, "libero.it": 0.5,
    "mail.ru": 0.5, "yandex.ru": 0.5, "comcast.net": 1, "verizon.net": 0.5, "att.net": 0.5,
    "btinternet.com": 0.5, "qq.com": 0.5, "naver.com": 0.3, "seznam.cz": 0.3, "wp.pl": 0.3,
    # Small ISPs and providers, of a few people each.
    "kpnmail.nl": 0.2, "xs4all.nl": 0.2, "telia.com": 0.2, "online.no": 0.2, "eircom.net": 0.2,
    "iinet.net.au": 0.2, "xtra.co.nz": 0.2, "videotron.ca": 0.2, "netzero.net": 0.2,
    "juno.com": 0.2, "centurylink.net": 0.2, "frontier.com": 0.2, "windstream.net": 0.2,
}  # fmt: skip
FREE_SHARE = 0.7
COMPANIES = 400
# Where a +tag reaches the mailbox, as the providers document or behave; and Gmail's dots.
TAGGED = {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
          "icloud.com", "me.com", "fastmail.com", "proton.me", "protonmail.com"}  # fmt: skip
GMAIL = {"gmail.com", "googlemail.com"}
BIG = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com"]
TAGS = ["news", "shop", "promo", "2024", "list", "amazon", "work", "x", "spam", "nl"]
KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]

KINDS = ["case", "plus_tag", "gmail_dots", "googlemail", "domain_typo", "same_name"]
UNSEEN = ["tag_at_company", "company_typo", "name_missing", "work_and_personal"]
START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN_MINUTES = 3 * 365 * 24 * 60


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    company: bool


@dataclass
class Account:
    contacts: list[MirroredContact]
    owner: list[int]  # contact index → person
    pairs: list[tuple[int, int, str]]  # (original, duplicate, kind), by contact index
    namesakes: Counter[str]  # same-name pairs of distinct people: "free mail" / "company"
    slips: dict[int, str]  # a misspelt duplicate's index → its slip (swap, miss, …)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        # Cumulative weights, summed once: `choices` would sum them on every draw.
        self.first_weights = list(accumulate(1 / (r + FIRST_OFFSET) for r in range(len(FIRST))))
        self.last_weights = list(accumulate(1 / (r + LAST_OFFSET) for r in range(len(LAST))))
        self.free = list(FREE)
        self.free_weights = list(accumulate(FREE.values()))
        stems = words(
            "acme globex initech umbrella stark wayne hooli vandelay tyrell cyberdyne wonka "
            "soylent aperture oscorp nakatomi"
        )
        tlds = ["com", "com", "com", "io", "co", "de", "fr", "co.uk", "net", "org", "nl"]
        names = {"acme.com", "acme.co"}  # two companies a fuzzy match would join
        while len(names) < COMPANIES:
            stem = rng.choice(stems) + rng.choice(["", "-labs", "corp", "soft", "data", "ly"])
            names.add(
                f"{stem}{rng.randrange(100) if rng.random() < 0.5 else ''}.{rng.choice(tlds)}"
            )
        self.companies = sorted(names)
        # Very unequal sizes: the biggest has hundreds of people, most a handful.
        self.company_weights = list(
            accumulate(1 / (r + 1) ** 1.1 for r in range(len(self.companies)))
        )
        self.taken: set[str] = set()
        self.last_slip = ""

    def name(self) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < COMMON_FIRST:
            first = rng.choices(FIRST, cum_weights=self.first_weights)[0]
        else:
            first = "".join(rng.choices(SYLLABLES, k=rng.choice([2, 3]))).title()
        if rng.random() < COMMON_LAST:
            last = rng.choices(LAST, cum_weights=self.last_weights)[0]
        else:
            last = "".join(rng.choices(SYLLABLES, k=rng.choice([2, 3, 4]))).title()
        if rng.random() < MISSING_NAME:
            return ("", "") if rng.random() < 0.5 else (first, "")
        return first, last

    def local(self, first: str, last: str, *, company: bool) -> str:
        rng = self.rng
        f, la = ascii_word(first), ascii_word(last)
        if not f or not la:
            return f"{f or rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{rng.randrange(10_000)}"
        shapes = (
            [f"{f}.{la}", f"{f[0]}{la}", f, f"{f}{la[0]}", f"{f}_{la}"]
            if company
            else [f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}.{la}{rng.randrange(100)}",
                  f"{f}{rng.randrange(1000)}", f"{la}.{f}", f"{f}_{la}{rng.randrange(100)}",
                  f"{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{rng.randrange(10_000)}"]
        )  # fmt: skip
        weights = [4, 3, 1, 1, 1] if company else [4, 2, 2, 2, 2, 1, 1, 3]
        return rng.choices(shapes, weights=weights)[0]

    def person(self) -> Person:
        rng = self.rng
        first, last = self.name()
        company = rng.random() > FREE_SHARE
        if company:
            domain = rng.choices(self.companies, cum_weights=self.company_weights)[0]
        else:
            domain = rng.choices(self.free, cum_weights=self.free_weights)[0]
        local = self.local(first, last, company=company)
        while mailbox(local, domain) in self.taken:  # the provider would refuse it
            local = f"{local}{rng.randrange(10)}"
        self.taken.add(mailbox(local, domain))
        if domain in TAGGED and rng.random() < 0.02:  # signed up with a tag, once
            local += "+" + rng.choice(TAGS)
        email = f"{local}@{domain}"
        if rng.random() < 0.03:  # typed with capitals, once
            email = email.title() if rng.random() < 0.5 else email.replace(domain, domain.upper())
        if rng.random() < 0.1 and first:  # names as a form stored them
            first, last = first.lower(), last.upper()
        return Person(first, last, email, company)

    # -- duplicates --------------------------------------------------------------------

    def duplicate(self, p: Person, kind: str) -> tuple[str, str, str] | None:
        """The email and names of `p`'s second record, of `kind`; None if it cannot apply."""
        rng = self.rng
        local, domain = p.email.rsplit("@", 1)
        low = domain.lower()
        first, last = p.first, p.last
        if kind == "case":
            email = rng.choice([p.email.upper(), p.email.title(), f"{local.title()}@{domain}",
                                f"{local}@{domain.upper()}"])  # fmt: skip
            return (email, first, last) if email != p.email else None
        if kind == "plus_tag" and low in TAGGED:
            return f"{local.split('+')[0]}+{rng.choice(TAGS)}@{domain}", first, last
        if kind == "gmail_dots" and low in GMAIL:
            bare = local.split("+")[0].replace(".", "")
            if len(bare) < 3:
                return None
            cuts = sorted(rng.sample(range(1, len(bare)), k=min(len(bare) - 1, rng.choice([1, 2]))))
            dotted = ".".join(
                bare[a:b] for a, b in zip([0, *cuts], [*cuts, len(bare)], strict=True)
            )
            variant = dotted if dotted != local.split("+")[0] else bare
            return f"{variant}@{domain}", first, last
        if kind == "googlemail" and low == "gmail.com":
            return f"{local}@googlemail.com", first, last
        if kind == "domain_typo" and low in BIG:
            typo, self.last_slip = slip(rng, low)
            return f"{local}@{typo}", first, last
        if kind == "same_name" and p.company and first and last:
            other = self.local(first, last, company=True)
            if mailbox(other, low) == mailbox(local, low):
                return None
            if rng.random() < 0.3:  # the same name, typed another way
                first, last = f" {first.upper()}", last.lower()
            return f"{other}@{domain}", first, last
        if kind == "tag_at_company" and p.company:
            return f"{local}+{rng.choice(TAGS)}@{domain}", first, last
        if kind == "company_typo" and p.company:
            name, _, ending = low.partition(".")
            typo, self.last_slip = slip(rng, name, tld=False)
            return f"{local}@{typo}.{ending}", first, last
        if kind == "name_missing" and p.company and first and last:
            other = self.local(first, last, company=True)
            if mailbox(other, low) == mailbox(local, low):
                return None
            return f"{other}@{domain}", rng.choice(["", first]), ""
        if kind == "work_and_personal" and p.company and first and last:
            return f"{self.local(first, last, company=False)}@gmail.com", first, last
        return None

    def account(self, people: int, planted: int, unseen: int) -> Account:
        rng = self.rng
        everyone = [self.person() for _ in range(people)]
        contacts: list[MirroredContact] = []
        owner: list[int] = []
        created: list[datetime] = []
        for n, p in enumerate(everyone):
            moment = START + timedelta(minutes=rng.randrange(SPAN_MINUTES))
            created.append(moment)
            contacts.append(self.contact(p.email, p.first, p.last, moment))
            owner.append(n)
        pairs: list[tuple[int, int, str]] = []
        slips: dict[int, str] = {}
        wanted = [(kind, planted) for kind in KINDS] + [(kind, unseen) for kind in UNSEEN]
        order = list(range(people))
        rng.shuffle(order)
        used: set[int] = set()
        for kind, count in wanted:
            for n in order:
                if count == 0:
                    break
                twice = rng.random() < 0.1
                if n in used and not twice:
                    continue
                made = self.duplicate(everyone[n], kind)
                if made is None:
                    continue
                email, first, last = made
                local, _, domain = email.rpartition("@")
                box = mailbox(local, domain)
                if box in self.taken and box != mailbox(*everyone[n].email.split("@")):
                    continue  # another person's mailbox: theirs, not a second one of n's
                self.taken.add(box)
                if kind in ("domain_typo", "company_typo"):
                    slips[len(contacts)] = self.last_slip
                # Mostly made later; a misspelt or tagged address may also have come first.
                shift = timedelta(minutes=rng.randrange(1, 200_000))
                moment = created[n] + (shift if rng.random() < 0.8 else -shift)
                pairs.append((n, len(contacts), kind))
                contacts.append(self.contact(email, first, last, moment))
                owner.append(n)
                used.add(n)
                count -= 1
        order = list(range(len(contacts)))
        rng.shuffle(order)  # the mirror holds them in no telling order
        where = {old: new for new, old in enumerate(order)}
        return Account(
            contacts=[contacts[i] for i in order],
            owner=[owner[i] for i in order],
            pairs=[(where[a], where[b], kind) for a, b, kind in pairs],
            namesakes=namesakes(everyone),
            slips={where[i]: kind for i, kind in slips.items()},
        )

    def contact(self, email: str, first: str, last: str, moment: datetime) -> MirroredContact:
        return MirroredContact(
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            email=email,
            first_name=first,
            last_name=last,
            unsubscribed=self.rng.random() < 0.05,
            # As Resend sends it: trailing zeros of the fraction dropped.
            created_at=moment.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".") + "+00",
        )


def ascii_word(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def mailbox(local: str, domain: str) -> str:
    """Who a provider says an address is: Gmail ignores dots and +tags, others +tags
    where they honour them; every other address is its own, case aside."""
    local, domain = local.lower(), domain.lower()
    if domain in TAGGED:
        local = local.split("+")[0]
    if domain in GMAIL:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def slip(rng: random.Random, domain: str, *, tld: bool = True) -> tuple[str, str]:
    """`domain` with one keystroke slip, and which: a swapped, missing, doubled or
    neighbouring letter in its name, or (with `tld`) a slip in ".com". Every position alike."""
    name, dot, ending = domain.partition(".")
    kind = rng.choices(["swap", "miss", "double", "neighbour", "tld"],
                       weights=[30, 25, 15, 20, 10 if tld else 0])[0]  # fmt: skip
    if kind == "tld":
        return f"{name}.{rng.choice(['con', 'cmo', 'co', 'cm', 'om', 'comm', 'vom', 'xom'])}", kind
    i = rng.randrange(len(name) - 1 if kind == "swap" else len(name))
    if kind == "swap":
        slipped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    elif kind == "miss":
        slipped = name[:i] + name[i + 1 :]
    elif kind == "double":
        slipped = name[: i + 1] + name[i:]
    else:
        slipped = name[:i] + neighbour(rng, name[i]) + name[i + 1 :]
    if slipped == name:  # a swap of two equal letters: no slip at all
        return slip(rng, domain, tld=tld)
    return f"{slipped}{dot}{ending}", kind


def neighbour(rng: random.Random, letter: str) -> str:
    for row_index, row in enumerate(KEYBOARD):
        if letter in row:
            col = row.index(letter)
            near = [row[c] for c in (col - 1, col + 1) if 0 <= c < len(row)]
            for other in (row_index - 1, row_index + 1):
                if 0 <= other < len(KEYBOARD) and col < len(KEYBOARD[other]):
                    near.append(KEYBOARD[other][col])
            return rng.choice(near)
    return letter


def namesakes(everyone: Sequence[Person]) -> Counter[str]:
    """Pairs of distinct people with the same full name at one domain."""
    same: Counter[tuple[str, str, str]] = Counter()
    for p in everyone:
        if p.first.strip() and p.last.strip():
            domain = p.email.rsplit("@", 1)[1].lower()
            same[(p.first.strip().casefold(), p.last.strip().casefold(), domain)] += 1
    found: Counter[str] = Counter()
    for (_, _, domain), n in same.items():
        found["free mail" if domain in FREE else "company"] += n * (n - 1) // 2
    return found


# -- measures ------------------------------------------------------------------------------


def report(account: Account, groups: list[DuplicateGroup]) -> None:
    index = {c.id: i for i, c in enumerate(account.contacts)}
    group_of: dict[int, int] = {}
    for g, group in enumerate(groups):
        for c in group.contacts:
            group_of[index[c.id]] = g
    found: Counter[str] = Counter()
    planted: Counter[str] = Counter(kind for _, _, kind in account.pairs)
    for a, b, kind in account.pairs:
        if a in group_of and group_of.get(a) == group_of.get(b):
            found[kind] += 1
    print("recall (planted pairs found in one group):")
    for label, kinds in (("kinds the detector is for", KINDS), ("kinds it cannot see", UNSEEN)):
        total = sum(planted[k] for k in kinds)
        print(f"  {label}: {percent(sum(found[k] for k in kinds), total)} of {total:,}")
        for k in kinds:
            print(f"    {k:<18} {percent(found[k], planted[k])} of {planted[k]}")
            if k == "domain_typo":
                print(f"      by slip: {by_slip(account, group_of, k)}")
    right: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    false_groups: list[DuplicateGroup] = []
    for group in groups:
        owners = [account.owner[index[c.id]] for c in group.contacts]
        size = len(owners)
        pairs[group.confidence] += size * (size - 1) // 2
        right[group.confidence] += sum(n * (n - 1) // 2 for n in Counter(owners).values())
        if len(set(owners)) > 1:
            false_groups.append(group)
    print("precision (pairs in a group that are one person):")
    print(f"  all: {percent(sum(right.values()), sum(pairs.values()))} of {sum(pairs.values()):,}")
    for level in ("high", "medium", "low"):
        print(f"    {level:<7} {percent(right[level], pairs[level])} of {pairs[level]:,}")
    print(f"groups: {len(groups):,}; mixing people: {len(false_groups)}")
    for group in false_groups[:5]:
        shown = ", ".join(c.email for c in group.contacts)
        print(f"    {group.confidence} {'+'.join(group.reasons)}: {shown}")
    typo_kept = sum(1 for g in groups for c in g.contacts if c.id == g.keep and c.domain_typo)
    print(
        f"keep rule: {typo_kept} groups keep a misspelt address; "
        f"{sum(g.keep is None for g in groups)} have none to keep"
    )


def by_slip(account: Account, group_of: dict[int, int], kind: str) -> str:
    found: Counter[str] = Counter()
    planted: Counter[str] = Counter()
    for a, b, k in account.pairs:
        if k == kind:
            planted[account.slips[b]] += 1
            found[account.slips[b]] += a in group_of and group_of.get(a) == group_of.get(b)
    return ", ".join(f"{s} {found[s]}/{n}" for s, n in sorted(planted.items()))


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "   -   "


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median seconds of `runs` calls: wall clock, and this process's CPU (the figure to
    trust when other work shares the machine)."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def through_mirror(contacts: Sequence[MirroredContact]) -> tuple[float, tuple[float, float]]:
    """Seconds to fill a mirror with `contacts`, and to detect over it (streamed)."""
    with tempfile.TemporaryDirectory() as folder:
        mirror = Mirror(Path(folder) / "mirror.sqlite3")
        try:
            start = time.perf_counter()
            mirror.begin_full_sync()
            for at in range(0, len(contacts), 1000):
                page = contacts[at : at + 1000]
                mirror.stage_contacts(page, cursor=page[-1].id)
            mirror.start_segments([])
            mirror.finish_full_sync(time.time())
            filled = time.perf_counter() - start
            return filled, timed(lambda: mirror_duplicates(mirror), 3)
        finally:
            mirror.close()


def main(people: int, big: int, seed: int) -> None:
    planted = max(1, people * 15 // 1000)  # per kind: 1.5 % of the people each
    account = Generator(seed).account(people, planted, planted // 3)
    print(
        f"{people:,} people, {len(account.contacts):,} contacts with the planted duplicates; "
        f"namesakes among the people (same name, same domain): "
        f"{account.namesakes['free mail']} pairs on free mail, "
        f"{account.namesakes['company']} at companies"
    )
    report(account, find_duplicates(account.contacts))
    alone(account)
    wall, cpu = timed(lambda: find_duplicates(account.contacts), 5)
    print(f"detection over {len(account.contacts):,} contacts: {wall:.2f} s (CPU {cpu:.2f} s)")
    large = Generator(seed + 1).account(big, big * 15 // 1000, big * 5 // 1000)
    print(
        f"{big:,} people: namesakes {large.namesakes['free mail']} pairs on free mail, "
        f"{large.namesakes['company']} at companies (the same {COMPANIES} companies, bigger)"
    )
    alone(large)
    wall, cpu = timed(lambda: find_duplicates(large.contacts), 3)
    memory = peak_mib(lambda: find_duplicates(large.contacts))
    print(
        f"detection over {len(large.contacts):,} contacts: {wall:.2f} s (CPU {cpu:.2f} s); "
        f"peak memory of the detection {memory:.0f} MiB (traced)"
    )
    filled, (wall, cpu) = through_mirror(large.contacts)
    print(
        f"  streamed from a mirror file, read included: {wall:.2f} s (CPU {cpu:.2f} s) "
        f"(the mirror filled in {filled:.1f} s)"
    )


def alone(account: Account) -> None:
    people = distinct_people(account)
    by_reason = Counter(f"{g.confidence} {'+'.join(g.reasons)}" for g in find_duplicates(people))
    print(
        f"groups among the {len(people):,} distinct people alone (goal 0): "
        f"{sum(by_reason.values())} {dict(by_reason) if by_reason else ''}"
    )


def distinct_people(account: Account) -> list[MirroredContact]:
    """Each person's first record: the account as it was before any duplicate."""
    firsts: dict[int, MirroredContact] = {}
    planted = {b for _, b, _ in account.pairs}
    for i, c in enumerate(account.contacts):
        if i not in planted:
            firsts[account.owner[i]] = c
    return list(firsts.values())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    main(arguments.people, arguments.big, arguments.seed)
