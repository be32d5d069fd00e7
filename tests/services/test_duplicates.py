"""Duplicate detection: each kind of duplicate is found with its reason and confidence;
different people stay apart; linked contacts end in one group; the keep rule holds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from contacts_mcp.services.duplicates import (
    DuplicateGroup,
    find_duplicates,
    mirror_duplicates,
    normalized_address,
)
from contacts_mcp.services.mirror import Mirror, MirroredContact

_ids = itertools.count(1)


def person(
    email: str, first: str = "", last: str = "", *, created: str = "2025-01-01 10:00:00+00"
) -> MirroredContact:
    return MirroredContact(
        id=f"c{next(_ids):04d}",
        email=email,
        first_name=first,
        last_name=last,
        unsubscribed=False,
        created_at=created,
    )


def emails(group: DuplicateGroup) -> set[str]:
    return {c.email for c in group.contacts}


def only_group(*contacts: MirroredContact) -> DuplicateGroup:
    groups = find_duplicates(contacts)
    assert len(groups) == 1, groups
    return groups[0]


@pytest.mark.parametrize(
    ("a", "b", "reasons"),
    [
        ("Ada@Example.com", "ada@example.com", ["case"]),
        ("ada@example.com", "ada@example.com", ["same_address"]),
        ("ada+news@gmail.com", "ada@gmail.com", ["plus_tag"]),
        ("ada+news@outlook.com", "ada@outlook.com", ["plus_tag"]),
        ("ada+news@hotmail.com", "ada@hotmail.com", ["plus_tag"]),
        ("ada+shop@icloud.com", "ada@icloud.com", ["plus_tag"]),
        ("ada+shop@fastmail.com", "ada@fastmail.com", ["plus_tag"]),
        ("ada+shop@proton.me", "ada@proton.me", ["plus_tag"]),
        ("ada.love.lace@gmail.com", "adalovelace@gmail.com", ["gmail_dots"]),
        ("ada@googlemail.com", "ada@gmail.com", ["googlemail"]),
        (
            "ada.lovelace@gmail.com",
            "adalovelace+news@googlemail.com",
            ["googlemail", "plus_tag", "gmail_dots"],
        ),
    ],
)
def test_one_mailbox_written_two_ways_is_a_high_confidence_group(
    a: str, b: str, reasons: list[str]
) -> None:
    group = only_group(person(a), person(b))
    assert (group.confidence, group.reasons, emails(group)) == ("high", reasons, {a, b})


@pytest.mark.parametrize(
    ("typo", "meant", "reasons"),
    [
        ("bob@gmial.com", "bob@gmail.com", ["domain_typo"]),
        ("bob@hotmial.com", "bob@hotmail.com", ["domain_typo"]),
        ("bob@yaho.com", "bob@yahoo.com", ["domain_typo"]),
        ("bob@outlok.com", "bob@outlook.com", ["domain_typo"]),
        # A key struck for its neighbour, past the first letter.
        ("bob@gmsil.com", "bob@gmail.com", ["domain_typo"]),
        ("bob@hotmaik.com", "bob@hotmail.com", ["domain_typo"]),
        ("bob@icliud.com", "bob@icloud.com", ["domain_typo"]),
        ("Bob@GAMIL.com", "bob@gmail.com", ["case", "domain_typo"]),
        ("bob@acme.con", "bob@acme.com", ["domain_typo"]),
        ("b.o.b+x@gmial.com", "bob@gmail.com", ["domain_typo", "plus_tag", "gmail_dots"]),
    ],
)
def test_an_address_on_a_misspelt_domain_is_a_medium_confidence_group(
    typo: str, meant: str, reasons: list[str]
) -> None:
    group = only_group(person(typo), person(meant))
    assert (group.confidence, group.reasons, emails(group)) == ("medium", reasons, {typo, meant})


def test_the_same_name_at_a_company_domain_is_a_low_confidence_group() -> None:
    group = only_group(
        person("ana.silva@acme.io", "Ana", "Silva"),
        # Case, spacing and NFKC forms (full-width letters) do not make another name.
        person("asilva@acme.io", "  \uff21\uff2e\uff21 ", "silva"),
    )
    assert (group.confidence, group.reasons) == ("low", ["same_name"])


@pytest.mark.parametrize(
    "contacts",
    [
        # Another company: domains are never compared by edit distance.
        [person("john@acme.co"), person("john@acme.com")],
        # Slips that make a domain in use, or under a real top-level domain, are left alone.
        [person("bob@mail.com"), person("bob@gmail.com")],
        [person("bob@cloud.com"), person("bob@icloud.com")],
        [person("bob@gmail.co"), person("bob@gmail.com")],
        [person("bob@ao.com"), person("bob@aol.com")],
        # A neighbour struck for the first letter makes words and brands; ymail.com is
        # Yahoo's own.
        [person("bob@bmail.com"), person("bob@gmail.com")],
        [person("bob@gotmail.com"), person("bob@hotmail.com")],
        [person("bob@ucloud.com"), person("bob@icloud.com")],
        [person("bob@ymail.com"), person("bob@gmail.com")],
        # Dots are only ignored by Gmail.
        [person("john.smith@company.com"), person("johnsmith@company.com")],
        [person("john.smith@outlook.com"), person("johnsmith@outlook.com")],
        # An unknown provider's "+" may name another mailbox.
        [person("a+b@example.org"), person("a@example.org")],
        # Yahoo has no "+" tags, and its "-keyword" addresses hang off another base name.
        [person("ana+news@yahoo.com"), person("ana@yahoo.com")],
        [person("ana-news@yahoo.com"), person("ana@yahoo.com")],
        # Namesakes on free mail are different people.
        [
            person("ana.silva@gmail.com", "Ana", "Silva"),
            person("silva.ana@gmail.com", "Ana", "Silva"),
        ],
        [person("ana1@yahoo.com", "Ana", "Silva"), person("ana2@gmx.de", "Ana", "Silva")],
        # Empty names never match, nor does a first name alone.
        [person("a@acme.io", "", ""), person("b@acme.io", "", "")],
        [person("a@acme.io", "Ana", ""), person("b@acme.io", "Ana", "")],
        # The same name at two companies.
        [person("ana@acme.io", "Ana", "Silva"), person("ana@other.io", "Ana", "Silva")],
        # A "+" with nothing before it has no mailbox to fall back on.
        [person("+news@gmail.com"), person("news@gmail.com")],
    ],
)
def test_different_people_are_not_grouped(contacts: list[MirroredContact]) -> None:
    assert find_duplicates(contacts) == []


def test_a_name_shared_by_more_mailboxes_than_a_person_has_is_not_a_link() -> None:
    contacts = [person(f"test{i}@acme.io", "Test", "User") for i in range(4)]
    assert find_duplicates(contacts) == []
    assert len(find_duplicates(contacts[:3])) == 1


def test_contacts_linked_through_others_are_one_group_with_every_reason() -> None:
    a = person("ana.silva@acme.com", "Ana", "Silva")
    b = person("Ana.Silva@acme.com")  # the same mailbox as a, without a name
    c = person("asilva@acme.com", "Ana", "Silva")  # a's name
    d = person("asilva@acme.con")  # c's address, misspelt
    group = only_group(a, b, c, d)
    assert emails(group) == {a.email, b.email, c.email, d.email}
    assert group.reasons == ["case", "domain_typo", "same_name"]
    # c, and d with it, join a and b only through a name: the group is as strong as that.
    assert group.confidence == "low"


def test_a_weak_link_between_contacts_already_linked_strongly_does_not_weaken_the_group() -> None:
    group = only_group(
        person("ana.silva@acme.io", "Ana", "Silva"), person("ANA.SILVA@acme.io", "Ana", "Silva")
    )
    assert (group.confidence, group.reasons) == ("high", ["case", "same_name"])


def test_the_oldest_contact_is_kept_but_never_one_on_a_misspelt_domain() -> None:
    typo = person("bob@gmial.com", created="2020-01-01 00:00:00+00")
    tagged = person("bob+x@gmail.com", created="2024-03-01 09:00:00.5+00")
    # Resend drops trailing zeros of the fraction: .5 is after .25, and +02 is UTC 07:00.
    plain = person("bob@gmail.com", created="2024-03-01 09:00:00.25+00")
    other = person("Bob@gmail.com", created="2024-03-01 09:00:00+02")
    group = only_group(typo, tagged, plain, other)
    assert group.keep == other.id
    assert [c.id for c in group.contacts] == [typo.id, other.id, plain.id, tagged.id]
    assert [c.domain_typo for c in group.contacts] == [True, False, False, False]


def test_no_contact_is_kept_when_every_address_is_on_a_misspelt_domain() -> None:
    group = only_group(person("bob@gmial.com"), person("Bob@gmial.com"))
    assert (group.keep, group.reasons, group.confidence) == (None, ["case"], "high")


def test_groups_come_highest_confidence_first_then_biggest() -> None:
    groups = find_duplicates(
        [
            person("x@acme.io", "Xu", "Li"),
            person("xl@acme.io", "Xu", "Li"),
            person("bob@gmial.com"),
            person("bob@gmail.com"),
            person("a@gmail.com"),
            person("A@gmail.com"),
            person("c@gmail.com"),
            person("C@gmail.com"),
            person("c+x@gmail.com"),
        ]
    )
    assert [(g.confidence, len(g.contacts)) for g in groups] == [
        ("high", 3),
        ("high", 2),
        ("medium", 2),
        ("low", 2),
    ]


def test_an_unsubscribe_is_shown_on_the_contact_that_has_it() -> None:
    left = MirroredContact("u1", "ana@gmail.com", "", "", True, "2025-01-01 00:00:00+00")
    group = only_group(left, person("a.na@gmail.com"))
    assert {c.id: c.unsubscribed for c in group.contacts}[left.id] is True


def test_contacts_are_read_once_as_they_come() -> None:
    def stream() -> Iterator[MirroredContact]:
        yield person("ada@gmail.com")
        yield person("a.da@gmail.com")

    assert len(find_duplicates(stream())) == 1


@pytest.mark.parametrize(
    ("email", "mailbox"),
    [
        (" Ada.Lovelace+News@GoogleMail.com ", "adalovelace@gmail.com"),
        ("bob+x@Hotmail.com", "bob@hotmail.com"),
        ("bob.smith+x@yahoo.com", "bob.smith+x@yahoo.com"),
        ("bob@gmial.con", "bob@gmail.com"),
        ("not an address", "not an address"),
    ],
)
def test_normalized_address_is_the_mailbox_an_address_reaches(email: str, mailbox: str) -> None:
    assert normalized_address(email) == mailbox


def test_the_mirror_is_read_in_one_streaming_pass_across_chunks() -> None:
    mirror = Mirror(":memory:")
    try:
        contacts = [person(f"user{i}@example.org") for i in range(7)]
        contacts += [person("ada.lovelace@gmail.com"), person("adalovelace+news@googlemail.com")]
        mirror.add_contacts(contacts, now=1000.0)
        fields = {row[0]: row for row in mirror.contact_fields(chunk=2)}
        assert len(fields) == len(contacts)
        for c in contacts:
            expected = (c.id, c.email, c.first_name, c.last_name, c.created_at, c.unsubscribed)
            assert fields[c.id] == expected
        [group] = mirror_duplicates(mirror)
        assert emails(group) == {"ada.lovelace@gmail.com", "adalovelace+news@googlemail.com"}
    finally:
        mirror.close()
