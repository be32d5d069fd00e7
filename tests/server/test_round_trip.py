"""A delete's snapshot and an export re-import to exactly what Resend held: names,
`unsubscribed`, property values (exact strings and numbers), segment memberships and
topic choices (an opt-out of a topic others get by default, an opt-in to one they do not), for
generated hostile values — whitespace at either end, tabs and line breaks, spreadsheet
formula starts, apostrophes, separators and brackets in segment names, tiny, huge and
long numbers. Checked against the emulator's state, through the MCP tools."""

import csv
import itertools
import os
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from tests.server.conftest import ERAS, Harness, open_harness
from tests.server.test_bulk import state_of

HOSTILE = [" padded ", "\tTab", "line\r\nbreak", "cr\rhere", "=SUM(A1)", "'apos", "''",
           "-5", "+1", "@cmd", "a; b", "[x]", " =sp", "trail\t", "\u00a0nbsp", "plain",
           "é ü 中"]  # fmt: skip
# Text Resend may hold: anything but NUL (a CSV file cannot carry it; exports refuse it)
# and lone surrogates (not UTF-8).
any_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1)
texts = st.sampled_from(HOSTILE) | any_text.map(lambda t: t[:30])
numbers = (
    st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-07, 1e300, -2.5, 0.1, 2**53 + 1, 10**19 + 7])
)
# Names as create_contact takes them: no line breaks or control characters.
names = st.sampled_from(["", " Ann", "Bo ", "=Cy", "'Di", "Ed; Fa", "[Gi]"]) | st.text(
    st.characters(whitelist_categories=("L", "N", "Zs", "P", "S")), max_size=12
)
segment_names = st.sampled_from(["A; B", " padded", "=Formula", "[x]", "'q", "Plain"]) | st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=12
).filter(lambda n: n.strip() != "")
contacts = st.lists(
    st.fixed_dictionaries(
        {
            "first_name": names,
            "last_name": names,
            "unsubscribed": st.booleans(),
            "text": st.none() | texts,
            "number": st.none() | numbers,
            "segments": st.lists(segment_names, max_size=3, unique=True),
            # An explicit choice per topic, or none (the topic's default).
            "topics": st.fixed_dictionaries(
                {t: st.sampled_from([None, "opt_in", "opt_out"]) for t in ("Weekly", "Offers")}
            ),
        }
    ),
    min_size=1,
    max_size=3,
)


@pytest.fixture(params=ERAS)
def harness_in_portal(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[BlockingPortal, Harness, dict[str, dict[str, str]]]]:
    folder = Path(tempfile.mkdtemp(prefix="round-trip-"))
    imports = ImportSettings(files=FilePolicy(allowed_dirs=(folder,)), state_dir=folder / "state")
    with start_blocking_portal() as portal:
        harness = asynccontextmanager(open_harness)(request.param, None, imports)
        with portal.wrap_async_context_manager(harness) as h:
            portal.call(h.seed, "POST", "/contact-properties", {"key": "text", "type": "string"})
            portal.call(h.seed, "POST", "/contact-properties", {"key": "number", "type": "number"})
            topics = {}
            for name, default in (("Weekly", "opt_in"), ("Offers", "opt_out")):
                body = {"name": name, "default_subscription": default}
                topics[name] = portal.call(h.seed, "POST", "/topics", body)["id"]
            yield portal, h, {"topics": topics, "segments": {}}


serial = itertools.count()


async def everything(h: Harness, contact_id: str) -> dict[str, Any]:
    """What Resend holds of a contact: `held` fields, values, segments, and topics."""
    topics = await h.seed("GET", f"/contacts/{contact_id}/topics")
    return {
        **held(await state_of(h, contact_id)),
        "topics": {t["name"]: t["subscription"] for t in topics["data"]},
    }


def held(state: dict[str, Any]) -> dict[str, Any]:
    """A contact's state, an empty name and no name alike: a CSV cell cannot tell them
    apart, and Resend shows no difference to a person."""
    return {
        **state,
        "first_name": state["first_name"] or None,
        "last_name": state["last_name"] or None,
    }


def headers_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as file:
        return next(csv.reader(file))


async def round_trips(
    h: Harness, ids: dict[str, dict[str, str]], drawn: list[dict[str, Any]]
) -> None:
    """Create `drawn` in Resend, export them, delete them, then import the snapshot and
    the export in turn: each time, every contact as it was. `ids`: the topics' and
    segments' ids by name."""
    segments, topics = ids["segments"], ids["topics"]
    emails, truth = [], {}
    for fields in drawn:
        email = f"person{next(serial)}@example.com"
        properties = {k: fields[k] for k in ("text", "number") if fields[k] is not None}
        for name in fields["segments"]:
            if name not in segments:
                segments[name] = (await h.seed("POST", "/segments", {"name": name}))["id"]
        created = await h.seed(
            "POST",
            "/contacts",
            {
                "email": email,
                "first_name": fields["first_name"],
                "last_name": fields["last_name"],
                "unsubscribed": fields["unsubscribed"],
                "properties": properties,
                "segments": [{"id": segments[name]} for name in fields["segments"]],
                "topics": [
                    {"id": topics[name], "subscription": choice}
                    for name, choice in fields["topics"].items()
                    if choice is not None
                ],
            },
        )
        emails.append(email)
        truth[email] = await everything(h, created["id"])
    exported = await h.job(
        "export_contacts", {"contacts": emails, "fresh": True, "path": f"e{next(serial)}.csv"}
    )
    preview = (await h.call("delete_contacts", {"contacts": emails}))["preview"]
    deleted = await h.call("delete_contacts", {"contacts": emails, "confirm": preview["confirm"]})
    run = deleted["run"]
    while run["status"] == "working":
        run = (await h.call("get_job", {"job_id": run["job_id"]}))["job"]
    assert run["result"]["done"] == len(emails), run
    for label, path in (("snapshot", run["result"]["snapshot_file"]), ("export", exported["file"])):
        headers = headers_of(Path(path))
        summary = await h.job(
            "import_contacts",
            {
                "path": path,
                "columns": {header: header for header in headers},
                "on_conflict": "upsert",
                "strategy": "rows",
            },
        )
        assert (summary["created"], summary["failed"]) == (len(emails), 0), (label, summary)
        for email in emails:
            again = await everything(h, (await h.seed("GET", f"/contacts/{email}"))["id"])
            assert again == truth[email], (label, email, again, truth[email])
            await h.seed("DELETE", f"/contacts/{email}")  # for the next file


@settings(
    max_examples=int(os.environ.get("ROUND_TRIP_EXAMPLES", "15")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=contacts)
def test_snapshots_and_exports_re_import_exactly(
    harness_in_portal: tuple[BlockingPortal, Harness, dict[str, dict[str, str]]],
    drawn: list[dict[str, Any]],
) -> None:
    portal, h, ids = harness_in_portal
    portal.call(round_trips, h, ids, drawn)
