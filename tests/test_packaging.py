"""Deployment files agree with the package: server.json (MCP registry), the Dockerfile's
label, and the README line the registry reads to verify the PyPI package."""

import json
import re
import tomllib
from pathlib import Path

from contacts_mcp import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_server_json_names_this_package_and_version() -> None:
    manifest = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert manifest["version"] == project["version"] == __version__
    assert len(manifest["description"]) <= 100  # the registry schema's limit
    kinds = {package["registryType"]: package for package in manifest["packages"]}
    assert kinds["pypi"]["identifier"] == project["name"]
    assert kinds["pypi"]["version"] == __version__
    assert kinds["oci"]["identifier"].endswith(f":{__version__}")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    label = re.search(r'io\.modelcontextprotocol\.server\.name="([^"]+)"', dockerfile)
    assert label is not None
    assert label.group(1) == manifest["name"]
    assert f"mcp-name: {manifest['name']}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_wheel_ships_every_screen(tmp_path: Path) -> None:
    """The built screens are package data: a wheel built from this tree carries each one
    the server registers, byte for byte (nobody needs Node.js to install the server)."""
    import subprocess
    import sys
    import zipfile

    from contacts_mcp.server.screens import SCREENS, UI_DIR

    # pip fetches the build backend (hatchling) from the package index, as any install does.
    wheel_command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w"]
    subprocess.run(
        [*wheel_command, str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("contacts_mcp-*.whl")
    with zipfile.ZipFile(wheel) as built:
        for shown in SCREENS:
            inside = built.read(f"contacts_mcp/server/ui/{shown.name}.html")
            assert inside == (UI_DIR / f"{shown.name}.html").read_bytes(), shown.name
