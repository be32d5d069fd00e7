"""Uploads: a CSV sent from the person's machine in chunks (the import screen's file
picker, through the app-only `upload_csv`), then previewed and imported by its id."""

import base64
import time
from pathlib import Path

import pytest

from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.services.explain import UserFacingError
from contacts_mcp.services.uploads import KEEP_SECONDS, Uploads
from tests.server.conftest import open_harness
from tests.server.test_review_screens import APPS

pytestmark = pytest.mark.anyio

CSV = "email,first_name\n" + "".join(f"up{i}@example.com,Up {i}\n" for i in range(40))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def settings(tmp_path: Path, max_bytes: int = 10_000_000) -> ImportSettings:
    return ImportSettings(files=FilePolicy(max_bytes=max_bytes), state_dir=tmp_path / "state")


async def test_a_file_sent_in_chunks_is_previewed_and_imported_by_its_id(
    era: str, tmp_path: Path
) -> None:
    raw = CSV.encode()
    parts = [raw[:300], raw[300:700], raw[700:]]
    async for h in open_harness(era, None, settings(tmp_path), extensions=APPS):
        sent = await h.call("upload_csv", {"data": b64(parts[0]), "name": "people.csv"})
        upload = sent["upload_id"]
        assert sent["size"] == 300
        assert not sent["done"]
        # A chunk sent again (the answer was lost) is refused, not written twice.
        message = await h.error("upload_csv", {"data": b64(parts[0]), "upload_id": upload})
        assert "send from byte 300" in message
        await h.call("upload_csv", {"data": b64(parts[1]), "upload_id": upload, "offset": 300})
        last = {"data": b64(parts[2]), "upload_id": upload, "offset": 700, "done": True}
        whole = await h.call("upload_csv", last)
        assert (whole["size"], whole["done"]) == (len(raw), True)
        preview = await h.job("preview_import", {"upload": upload})
        assert preview["rows"] == 40
        assert preview["import_arguments"]["upload"] == upload
        summary = await h.job(
            "import_contacts",
            {"upload": upload, "columns": {"email": "email", "first_name": "first_name"},
             "on_conflict": "upsert"},
        )  # fmt: skip
        assert summary["created"] == 40
        assert await h.count_contacts() == 40
        # Finished: nothing more may be added.
        more = {"data": b64(b"x@example.com\n"), "upload_id": upload, "offset": len(raw)}
        assert "finished" in await h.error("upload_csv", more)


async def test_bad_chunks_are_refused_and_change_nothing(era: str, tmp_path: Path) -> None:
    async for h in open_harness(era, None, settings(tmp_path, max_bytes=500), extensions=APPS):
        assert "not base64" in await h.error("upload_csv", {"data": "%%%"})
        sent = await h.call("upload_csv", {"data": b64(CSV.encode()[:400])})
        over = {"data": b64(CSV.encode()[400:800]), "upload_id": sent["upload_id"], "offset": 400}
        assert "over the import cap" in await h.error("upload_csv", over)
        unfinished = await h.error("preview_import", {"upload": sent["upload_id"]})
        assert "not finished yet" in unfinished
        assert "No upload" in await h.error("preview_import", {"upload": "up_not-a-real-one"})
        both = {"upload": sent["upload_id"], "csv_text": "email\na@example.com\n"}
        assert "exactly one of" in await h.error("preview_import", both)


async def test_a_client_without_apps_is_not_offered_the_upload_tool(
    era: str, tmp_path: Path
) -> None:
    async for h in open_harness(era, None, settings(tmp_path)):
        names = {tool.name for tool in (await h.client.list_tools()).tools}
        assert "upload_csv" not in names


def test_an_upload_is_its_callers_alone_and_expires(tmp_path: Path) -> None:
    uploads = Uploads(tmp_path / "uploads", max_bytes=10_000)
    begun = uploads.begin("alice", "people.csv")
    uploads.append(begun.id, "alice", 0, b"email\na@example.com\n")
    uploads.finish(begun.id, "alice")
    path = uploads.path_of(begun.id, "alice")
    assert path.read_bytes() == b"email\na@example.com\n"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    for action in (
        lambda: uploads.path_of(begun.id, "bob"),
        lambda: uploads.append(begun.id, "bob", 0, b"x"),
    ):
        with pytest.raises(UserFacingError, match="No upload"):
            action()
    assert uploads.expire(now=time.time() + KEEP_SECONDS + 1) == 1
    assert not path.exists()
    with pytest.raises(UserFacingError, match="No upload"):
        uploads.path_of(begun.id, "alice")
    uploads.close()
