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
