"""Opening files named by the model, safely.

A CSV path in a tool call comes from the model, and the model reads text from outside
(prompt injection). So paths are opened only inside directories the server was
configured with, after resolving symlinks; only regular files are read (a FIFO would
block forever, `/dev/zero` never ends, `/proc/self/environ` holds the API key); the size
is capped before and while reading. Error messages never quote file contents and never
reveal where a link outside the allowed folders points.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from contacts_mcp.services.explain import UserFacingError

if TYPE_CHECKING:
    from contacts_mcp.services.outfiles import WrittenFiles

__all__ = [
    "DEFAULT_MAX_IMPORT_BYTES",
    "FileAccessError",
    "FilePolicy",
    "default_import_dirs",
    "open_for_import",
    "open_upload",
    "path_for_export",
]

DEFAULT_MAX_IMPORT_BYTES = 200 * 1024 * 1024  # what Resend's dashboard accepts
_BUFFER = 1024 * 1024


class FileAccessError(UserFacingError):
    """A path that may not or cannot be read for an import."""


@dataclass(frozen=True)
class FilePolicy:
    """Where imports may read from, and how much."""

    allowed_dirs: tuple[Path, ...] = ()
    max_bytes: int = DEFAULT_MAX_IMPORT_BYTES
    # Folders the server writes files to that import may read back by absolute path
    # (bulk delete snapshots); they never turn reading on, nor take relative paths.
    also_readable: tuple[Path, ...] = ()
    # The server's own data (its key, journals, mirror, emulator database): never read
    # or written through imports and exports, even inside an import folder, except
    # where `also_readable` says (snapshots). Over HTTP, callers are not the operator.
    private: tuple[Path, ...] = ()

    def describe(self) -> str:
        return ", ".join(str(d) for d in self.allowed_dirs) or "none"


def default_import_dirs(cwd: Path | None = None, home: Path | None = None) -> tuple[Path, ...]:
    """Folders a local user would expect an assistant to read a CSV from.

    The working directory (unless it is `/` or the home folder itself, which is what
    some hosts start servers in), and the usual Downloads, Documents and Desktop folders.
    """
    cwd = cwd or Path.cwd()
    home = home or Path.home()
    candidates = []
    if cwd not in (Path("/"), home):
        candidates.append(cwd)
    candidates += [home / "Downloads", home / "Documents", home / "Desktop"]
    return tuple(dict.fromkeys(p for p in candidates if p.is_dir()))


class _CappedReader(io.RawIOBase):
    """Reads at most `limit` bytes and fails past it: the file may grow after the check."""

    def __init__(self, raw: BinaryIO, limit: int, shown: str) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit
        self._shown = shown

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._raw.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise FileAccessError(
                f"{self._shown} grew past the {self._limit // (1024 * 1024)} MB import limit "
                "while it was being read. Import it once it is completely written."
            )
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _inside(path: str, folder: str) -> bool:
    # Whole path components, never a string prefix: /data_evil is not inside /data.
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False


def open_upload(path: str, policy: FilePolicy) -> tuple[BinaryIO, int]:
    """Open an upload's file (one the server wrote in its own data folder, found by the
    upload's id, never by a path a caller gave): a regular file, under the size cap."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        raise FileAccessError("That upload's file is gone: send the file again.") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > policy.max_bytes:
        os.close(fd)
        raise FileAccessError("That upload cannot be read as a CSV file: send it again.")
    return os.fdopen(fd, "rb"), info.st_size


def open_for_import(path: str, policy: FilePolicy) -> tuple[BinaryIO, int, str]:
    """Open `path` for reading under `policy`: (buffered stream, size in bytes, real path).

    Relative paths are taken from the first allowed folder; `~` is the home folder.
    """
    shown = repr(path if len(path) <= 120 else path[:117] + "...")
    if not path.strip() or "\x00" in path:
        raise FileAccessError(
            "The path is empty or contains a NUL character; give the CSV file's path."
        )
    candidate = Path(path.strip()).expanduser()
    extra = [os.path.realpath(d) for d in policy.also_readable]
    if not policy.allowed_dirs and not (
        candidate.is_absolute() and any(_inside(os.path.realpath(candidate), d) for d in extra)
    ):
        raise FileAccessError(
            "Reading files is turned off: the server has no import folder. Start it with "
            "--import-dir DIR (or CONTACTS_MCP_IMPORT_DIRS), or pass the CSV as csv_text."
        )
    if not candidate.is_absolute():
        candidate = policy.allowed_dirs[0] / candidate
    real = os.path.realpath(candidate)
    folders = [os.path.realpath(d) for d in policy.allowed_dirs] + extra
    if not any(_inside(real, folder) for folder in folders):
        raise FileAccessError(
            f"{shown} is not inside an allowed import folder ({policy.describe()}). "
            "Move the file there, or ask the user to add its folder with --import-dir."
        )
    _refuse_private(real, policy, shown)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise FileAccessError(f"No file at {shown}. Check the name and folder.") from None
    except IsADirectoryError:
        raise FileAccessError(f"{shown} is a folder; name a CSV file in it.") from None
    except OSError as exc:
        raise FileAccessError(
            f"Cannot open {shown}: {exc.strerror or 'access denied'}. Check that the server "
            "may read it."
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileAccessError(f"{shown} is a folder; name a CSV file in it.")
        if not stat.S_ISREG(info.st_mode):
            raise FileAccessError(
                f"{shown} is not a regular file (a device, pipe or socket); name a CSV file."
            )
        # The descriptor, not the name, decides: a parent folder swapped for a link
        # between the check and the open shows up here (Linux).
        opened = f"/proc/self/fd/{fd}"
        if os.path.exists(opened) and not any(
            _inside(os.path.realpath(opened), f) for f in folders
        ):
            raise FileAccessError(
                f"{shown} is not inside an allowed import folder ({policy.describe()}). "
                "Move the file there, or ask the user to add its folder with --import-dir."
            )
        if info.st_size > policy.max_bytes:
            raise FileAccessError(
                f"{shown} is {info.st_size / (1024 * 1024):.1f} MB; the import limit is "
                f"{policy.max_bytes // (1024 * 1024)} MB. Split the file, or ask the user to "
                "raise the limit with --max-import-mb."
            )
        raw = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    capped = _CappedReader(raw, policy.max_bytes, shown)
    return io.BufferedReader(capped, _BUFFER), info.st_size, real


def _refuse_private(real: str, policy: FilePolicy, shown: str, *, writing: bool = False) -> None:
    # Snapshots may be read back by an import; nothing in the data folder is written.
    readable = [] if writing else [os.path.realpath(d) for d in policy.also_readable]
    if any(_inside(real, os.path.realpath(d)) for d in policy.private) and not any(
        _inside(real, d) for d in readable
    ):
        raise FileAccessError(
            f"{shown} is in the server's own data folder, which imports and exports never "
            "touch. Use a file in an import folder."
        )


def path_for_export(
    path: str, policy: FilePolicy, *, overwrite: bool, written: WrittenFiles | None
) -> Path:
    """Where an export may write `path`: a new .csv file inside an allowed folder (the
    import folders, so the export can be imported again), never in the server's own
    data. An existing file is refused, unless `overwrite` and `written` records it as an
    export of this server, unchanged since; a link is never followed."""
    shown = repr(path if len(path) <= 120 else path[:117] + "...")
    if not policy.allowed_dirs:
        raise FileAccessError(
            "Writing files is turned off: the server has no import folder (--import-dir). "
            "Export up to 50 contacts inline instead (leave `path` out)."
        )
    if not path.strip() or "\x00" in path:
        raise FileAccessError("The path is empty or contains a NUL character.")
    candidate = Path(path.strip()).expanduser()
    if candidate.suffix.lower() != ".csv":
        raise FileAccessError(f"{shown} must be a .csv file name.")
    if not candidate.is_absolute():
        candidate = policy.allowed_dirs[0] / candidate
    folder = os.path.realpath(candidate.parent)
    if not any(_inside(folder, os.path.realpath(d)) for d in policy.allowed_dirs):
        raise FileAccessError(
            f"{shown} is not inside an allowed folder ({policy.describe()}). Give a file "
            "name there, or ask the user to add a folder with --import-dir."
        )
    if not os.path.isdir(folder):
        raise FileAccessError(f"The folder of {shown} does not exist.")
    _refuse_private(os.path.join(folder, candidate.name), policy, shown, writing=True)
    target = Path(folder) / candidate.name
    if os.path.islink(target):
        raise FileAccessError(f"{shown} is a link; give the name of a new file.")
    if not os.path.lexists(target):
        return target
    if not overwrite:
        raise FileAccessError(
            f"{shown} already exists. Give another name, or pass overwrite=true to replace it "
            "(only a file an earlier export wrote)."
        )
    if not target.is_file():
        raise FileAccessError(f"{shown} is not a regular file.")
    if written is None or not written.owns(target):
        raise FileAccessError(
            f"{shown} was not written by an export of this server, or was changed since: "
            "overwrite replaces only this server's own exports. Give another name."
        )
    return target
