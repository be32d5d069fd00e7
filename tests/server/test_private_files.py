"""Every file the server keeps holds personal data, so each is this user's alone: folders
0700 and files 0600 under the usual umask (022), for every kind the data folder holds.
A data folder an earlier version left readable by others is tightened at startup."""

import base64
import os
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.server import build_server
from contacts_mcp.server.surface import Surface
from contacts_mcp.services.retention import Retention

pytestmark = pytest.mark.anyio

APPS = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give a user (022): new files readable by everyone unless
    the server says otherwise."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


class Session:
    """A client on a server whose local account lives in the data folder, as `--local`
    runs it (not the tests' in-memory emulator, which keeps nothing on disk)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        answer = await self.client.call_tool(tool, arguments)
        assert not answer.is_error, answer.content
        return answer.structured_content

    async def job(self, tool: str, arguments: dict[str, Any]) -> Any:
        answer = await self.call(tool, arguments)
        while answer["status"] == "working":
            answer = (await self.call("get_job", {"job_id": answer["job_id"]}))["job"]
        assert answer["status"] == "completed", answer
        return answer["result"]


@asynccontextmanager
async def session(
    era: str,
    state: Path,
    files: Path,
    *,
    rate_limit: float | None = None,
    wait_seconds: float = 20.0,
    retention: Retention | None = None,
    surface: Surface | None = None,
    local_db: Path | None = None,
) -> AsyncIterator[Session]:
    imports = ImportSettings(
        files=FilePolicy(allowed_dirs=(files,)),
        state_dir=state,
        retention=retention or Retention(),
    )
    config = BackendConfig(
        api_key=LOCAL_API_KEY,
        local_db=str(local_db or state / "contacts.db"),
        rate_limit=rate_limit,
    )
    server = build_server(config, imports, wait_seconds=wait_seconds, surface=surface)
    async with Client(server, mode=era, extensions=APPS) as client:
        yield Session(client)


def modes(folder: Path) -> dict[str, str]:
    """Each path under `folder` (itself included) → its permission bits, in octal."""
    found = {".": oct(stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


async def test_every_kind_of_local_data_is_this_users_alone(
    era: str, tmp_path: Path, usual_umask: None
) -> None:
    state = tmp_path / "state"
    files = tmp_path / "files"
    files.mkdir()
    (files / "people.csv").write_text(
        "email,first_name,age\nada@example.com,Ada,36\nnot-an-email,Bob,1\ncy@example.com,Cy,x\n"
    )
    async with session(era, state, files) as h:
        columns = {"email": "email", "first_name": "first_name", "age": "age"}
        for strategy in ("rows", "api"):  # journals, failure reports, summaries, API parts
            await h.job(
                "import_contacts",
                {
                    "path": str(files / "people.csv"),
                    "columns": columns,
                    "new_properties": {"age": "number"},
                    "create_missing_properties": True,
                    "on_conflict": "upsert",
                    "strategy": strategy,
                },
            )
        await h.call("search_contacts", {"where": []})  # the mirror
        await h.job("export_contacts", {"contacts": ["ada@example.com"], "path": "ada.csv"})
        upload = await h.call(  # an upload, and an approval nonce with the preview below
            "upload_csv",
            {"data": base64.b64encode(b"email\nzed@example.com\n").decode(), "done": True},
        )
        assert upload["done"]
        preview = await h.call("delete_contacts", {"contacts": ["ada@example.com"]})
        confirm = preview["preview"]["confirm"]
        await h.call("delete_contacts", {"contacts": ["ada@example.com"], "confirm": confirm})
    found = modes(state)
    kinds = {"jobs.sqlite", "written.sqlite", "approvals.sqlite", "contacts.db", "confirm.key"}
    assert kinds <= set(found), sorted(found)
    for prefix in ("mirrors/", "snapshots/", "imports/", "uploads/", "locks/"):
        assert any(name.startswith(prefix) for name in found), (prefix, sorted(found))
    assert any(name.endswith("failures.csv") for name in found)
    wrong = {
        name: mode
        for name, mode in found.items()
        if mode != ("0o700" if (state / name).is_dir() else "0o600")
    }
    assert wrong == {}
    # The export went where the person asked, and is theirs alone as well.
    assert oct(stat.S_IMODE((files / "ada.csv").stat().st_mode)) == "0o600"


async def test_a_data_folder_left_readable_by_others_is_tightened_at_startup(
    tmp_path: Path, usual_umask: None
) -> None:
    state = tmp_path / "state"
    (state / "mirrors").mkdir(parents=True)
    (state / "mirrors").chmod(0o755)
    state.chmod(0o755)
    async with session("auto", state, tmp_path) as h:
        await h.call("create_contact", {"email": "ada@example.com"})
        await h.call("search_contacts", {"where": []})
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    # Folders inside a private one cannot be entered by others anyway; the ones in use
    # are tightened as well.
    assert stat.S_IMODE((state / "mirrors").stat().st_mode) == 0o700
    [mirror] = (state / "mirrors").glob("*.sqlite")
    assert stat.S_IMODE(mirror.stat().st_mode) == 0o600
