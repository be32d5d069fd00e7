"""open_for_import: only regular files inside the allowed folders, within the size cap."""

import os
from pathlib import Path

import pytest

from contacts_mcp.imports.files import (
    FileAccessError,
    FilePolicy,
    default_import_dirs,
    open_for_import,
)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    sibling = tmp_path / "allowed_evil"
    for folder in (allowed, outside, sibling, allowed / "sub"):
        folder.mkdir()
    (allowed / "ok.csv").write_text("email\na@example.com\n")
    (allowed / "sub" / "nested.csv").write_text("email\nb@example.com\n")
    (outside / "secret.csv").write_text("RESEND_API_KEY=re_secret\n")
    (sibling / "x.csv").write_text("email\n")
    (allowed / "link.csv").symlink_to(outside / "secret.csv")
    (allowed / "dirlink").symlink_to(outside)
    (allowed / "inner_link.csv").symlink_to(allowed / "ok.csv")
    (allowed / "zero.csv").symlink_to("/dev/zero")
    os.mkfifo(allowed / "fifo.csv")
    return {"allowed": allowed, "outside": outside, "sibling": sibling}


def read(path: str, policy: FilePolicy) -> bytes:
    stream, size, _ = open_for_import(path, policy)
    with stream:
        data = stream.read()
    assert len(data) == size
    return data


@pytest.mark.parametrize(
    "path",
    ["{allowed}/ok.csv", "ok.csv", "sub/nested.csv", "{allowed}/sub/../ok.csv", "inner_link.csv"],
)
def test_files_inside_the_allowed_folder_open(tree: dict[str, Path], path: str) -> None:
    policy = FilePolicy(allowed_dirs=(tree["allowed"],))
    assert read(path.format(**tree), policy).startswith(b"email\n")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("{outside}/secret.csv", "not inside an allowed import folder"),
        ("{sibling}/x.csv", "not inside an allowed import folder"),
        ("../outside/secret.csv", "not inside an allowed import folder"),
        ("{allowed}/../outside/secret.csv", "not inside an allowed import folder"),
        ("link.csv", "not inside an allowed import folder"),
        ("dirlink/secret.csv", "not inside an allowed import folder"),
        ("zero.csv", "not inside an allowed import folder"),
        ("fifo.csv", "not a regular file"),
        ("sub", "is a folder"),
        ("missing.csv", "No file at"),
        ("/proc/self/environ", "not inside an allowed import folder"),
        ("ok.csv\x00.txt", "NUL"),
        ("", "empty"),
        ("..\\outside\\secret.csv", "No file at"),
        ("%2e%2e/outside/secret.csv", "No file at"),
    ],
)
def test_everything_else_is_refused_without_revealing_contents(
    tree: dict[str, Path], path: str, expected: str
) -> None:
    policy = FilePolicy(allowed_dirs=(tree["allowed"],))
    with pytest.raises(FileAccessError) as info:
        open_for_import(path.format(**tree), policy)
    message = str(info.value)
    assert expected in message
    assert "re_secret" not in message
    assert str(tree["outside"]) not in message or path.startswith("{outside}")


def test_no_allowed_folder_means_no_file_reading(tree: dict[str, Path]) -> None:
    with pytest.raises(FileAccessError, match="turned off"):
        open_for_import(str(tree["allowed"] / "ok.csv"), FilePolicy())


def test_files_over_the_size_cap_are_refused_before_reading(tree: dict[str, Path]) -> None:
    big = tree["allowed"] / "big.csv"
    big.write_bytes(b"email\n" + b"a@example.com\n" * 100)
    with pytest.raises(FileAccessError, match="import limit is 0 MB"):
        open_for_import(str(big), FilePolicy(allowed_dirs=(tree["allowed"],), max_bytes=1000))


def test_a_file_that_grows_while_read_is_cut_off(tree: dict[str, Path]) -> None:
    growing = tree["allowed"] / "growing.csv"
    growing.write_bytes(b"x" * 500)
    stream, _, _ = open_for_import(
        str(growing), FilePolicy(allowed_dirs=(tree["allowed"],), max_bytes=1000)
    )
    with growing.open("ab") as more:
        more.write(b"y" * 1000)
    with stream, pytest.raises(FileAccessError, match="grew past"):
        stream.read()


def test_default_folders_skip_root_and_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    assert default_import_dirs(cwd=work, home=home) == (work, home / "Downloads")
    assert default_import_dirs(cwd=Path("/"), home=home) == (home / "Downloads",)
    assert default_import_dirs(cwd=home, home=home) == (home / "Downloads",)
