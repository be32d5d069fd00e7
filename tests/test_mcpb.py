"""The Claude Desktop bundle (bundle/build.sh) and the uvx path from a wheel, for real.

The bundle is built once with the official packer, which bundle/build.sh installs from
the npm registry with Node (npm is needed: .ci/run installs it where it is missing, and
these tests fail, rather than skip, without it). Claude Desktop's own code for turning a
manifest and the user's settings into a command (the packer's getMcpConfigForManifest,
through `bundle/build.sh config`) says what the host runs, and the tests run exactly
that: `uv run` in the unpacked bundle, with uv installed from PyPI into a temporary
folder, and the server's dependencies from PyPI (cached by uv after the first run).
"""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from contacts_mcp import __version__

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "bundle" / "build.sh"
README = (ROOT / "README.md").read_text(encoding="utf-8")
SURFACE = ROOT / "tests" / "server" / "snapshots" / "tools.json"
# A cold uv cache downloads the server's dependencies before it answers.
FIRST_START_SECONDS = 180
# Without them, the server would use the caller's account or settings.
FOREIGN = ("RESEND_", "CONTACTS_MCP_", "VIRTUAL_ENV", "XDG_DATA_HOME", "LOCALAPPDATA")


def build_sh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash, "bundle/build.sh needs bash"
    return subprocess.run(
        [bash, str(BUILD), *args],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Built:
    bundle: Path
    uv_bin: Path  # uv's `uv` and `uvx`, from PyPI


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The bundle, and uv installed meanwhile: both mostly wait on the package registries."""
    assert shutil.which("npm"), "npm is needed to install the packer (apt-get install npm)"
    uv = tmp_path_factory.mktemp("uv")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(uv), "uv>=0.8,<1"]
    with subprocess.Popen(pip, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as job:
        made = build_sh(str(tmp_path_factory.mktemp("dist")), timeout=600)
        _, pip_errors = job.communicate(timeout=300)
    assert made.returncode == 0, made.stderr
    assert job.returncode == 0, pip_errors
    return Built(bundle=Path(made.stdout.strip()), uv_bin=uv / "bin")


@pytest.fixture(scope="module")
def bundle(built: Built) -> Path:
    return built.bundle


@pytest.fixture(scope="module")
def uv_bin(built: Built) -> Path:
    return built.uv_bin


@pytest.fixture(scope="module")
def unpacked(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("extension")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def manifest(bundle: Path) -> dict[str, Any]:
    with zipfile.ZipFile(bundle) as archive:
        loaded: dict[str, Any] = json.loads(archive.read("manifest.json"))
    return loaded


def host_config(unpacked: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The command, arguments and environment Claude Desktop runs for these settings."""
    made = build_sh("config", str(unpacked), json.dumps(settings))
    assert made.returncode == 0, made.stderr
    config: dict[str, Any] = json.loads(made.stdout)
    return config


def host_environment(config: dict[str, Any], uv_bin: Path, data: Path) -> dict[str, str]:
    """This machine's environment, without our settings, and the config's own on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env["PATH"] = f"{uv_bin}{os.pathsep}{env['PATH']}"
    env["XDG_DATA_HOME"] = str(data)  # where `--local` keeps the emulator's database
    return {**env, **config["env"]}


def run_as_the_host(
    config: dict[str, Any], uv_bin: Path, data: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(uv_bin / config["command"]), *config["args"], *more],
        env=host_environment(config, uv_bin, data),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=FIRST_START_SECONDS,
        check=False,
    )


def test_the_bundle_is_named_for_the_package_version_and_its_manifest_validates(
    bundle: Path, unpacked: Path, manifest: dict[str, Any]
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert bundle.name == f"contacts-mcp-{__version__}.mcpb"
    assert manifest["version"] == project["version"] == __version__
    validated = build_sh("mcpb", "validate", str(unpacked / "manifest.json"))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "validation passes" in validated.stdout
    assert manifest == json.loads((ROOT / "bundle" / "manifest.json").read_text("utf-8"))


def test_the_manifest_lists_every_tool_of_the_surface_snapshot_in_its_order(
    manifest: dict[str, Any],
) -> None:
    """The snapshot is the server's list (tests/server/test_surface.py); the sandbox test
    below compares the manifest with what the bundle's running server lists."""
    surface = json.loads(SURFACE.read_text(encoding="utf-8"))
    assert [tool["name"] for tool in manifest["tools"]] == [tool["name"] for tool in surface]
    for tool in manifest["tools"]:
        assert tool["description"].strip(), tool["name"]
        assert "\n" not in tool["description"], tool["name"]


def test_the_api_key_is_asked_for_as_a_secret_and_handed_to_the_cli_s_variable(
    manifest: dict[str, Any],
) -> None:
    [key] = [name for name, option in manifest["user_config"].items() if option.get("sensitive")]
    assert manifest["user_config"][key]["type"] == "string"
    env = manifest["server"]["mcp_config"]["env"]
    assert env["RESEND_API_KEY"] == f"${{user_config.{key}}}"
    assert [name for name, value in env.items() if key in value] == ["RESEND_API_KEY"]


def test_the_host_runs_the_entry_point_with_uv_in_the_bundle_s_environment(
    bundle: Path, unpacked: Path, manifest: dict[str, Any]
) -> None:
    server = manifest["server"]
    config = host_config(unpacked, {"sandbox": True})
    assert (server["type"], config["command"]) == ("uv", "uv")
    assert config["args"] == ["--directory", str(unpacked), "run", server["entry_point"]]
    with zipfile.ZipFile(bundle) as archive:
        inside = set(archive.namelist())
        bundled = tomllib.loads(archive.read("pyproject.toml").decode())
    assert server["entry_point"] in inside
    # uv makes the environment from the bundle's pyproject.toml: this version's wheel.
    assert bundled["project"]["dependencies"] == [f"contacts-mcp=={__version__}"]
    wheel = bundled["tool"]["uv"]["sources"]["contacts-mcp"]["path"]
    assert wheel == f"wheels/contacts_mcp-{__version__}-py3-none-any.whl"
    assert wheel in inside
    python = manifest["compatibility"]["runtimes"]["python"]
    assert bundled["project"]["requires-python"] == python == ">=3.11"


@pytest.mark.anyio
async def test_the_sandbox_setting_serves_every_tool_on_the_local_emulator(
    unpacked: Path, manifest: dict[str, Any], uv_bin: Path, tmp_path: Path
) -> None:
    config = host_config(unpacked, {"sandbox": True})
    assert config["env"]["RESEND_API_KEY"].startswith("${")  # no key: left unreplaced
    params = StdioServerParameters(
        command=str(uv_bin / config["command"]),
        args=config["args"],
        env=host_environment(config, uv_bin, tmp_path),
        cwd=tmp_path,
    )
    with anyio.fail_after(FIRST_START_SECONDS):
        async with Client(params) as client:
            tools = [tool.name for tool in (await client.list_tools()).tools]
            created = await client.call_tool("create_contact", {"email": "ada@example.com"})
    assert tools == [tool["name"] for tool in manifest["tools"]]
    assert not created.is_error, created.content
    assert (tmp_path / "contacts-mcp" / "contacts.db").is_file()


def test_read_only_offers_only_the_tools_that_read(
    unpacked: Path, uv_bin: Path, tmp_path: Path
) -> None:
    config = host_config(unpacked, {"sandbox": True, "read_only": True})
    listed = run_as_the_host(config, uv_bin, tmp_path, "call", "--list")
    assert listed.returncode == 0, listed.stderr
    tools = {tool["name"] for tool in json.loads(listed.stdout)}
    assert "list_contacts" in tools
    assert not tools & {"create_contact", "delete_contact", "delete_contacts"}


@pytest.mark.parametrize("settings", [{}, {"resend_api_key": "", "sandbox": False}])
def test_without_a_key_or_the_sandbox_the_server_names_the_settings_to_fill(
    unpacked: Path, uv_bin: Path, tmp_path: Path, settings: dict[str, Any]
) -> None:
    config = host_config(unpacked, settings)
    started = run_as_the_host(config, uv_bin, tmp_path)
    assert started.returncode == 2
    assert started.stdout == ""
    assert "Resend API key" in started.stderr
    assert "Use the local sandbox (no Resend account)" in started.stderr


def test_uvx_runs_the_wheel_on_the_local_emulator(
    bundle: Path, uv_bin: Path, tmp_path: Path
) -> None:
    """The README's uvx line, with the wheel the bundle carries (`pip wheel` built it)."""
    wheel_name = f"contacts_mcp-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(bundle) as archive:
        wheel = Path(archive.extract(f"wheels/{wheel_name}", tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    command = ["contacts-mcp", "call", "--local", "list_contacts"]
    listed = subprocess.run(
        [str(uv_bin / "uvx"), "--from", str(wheel), *command],
        env={**env, "XDG_DATA_HOME": str(tmp_path / "data")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=FIRST_START_SECONDS,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["contacts"] == []
    assert f"uvx --from dist/{wheel_name} contacts-mcp" in README


def test_the_readme_names_the_bundle_this_build_makes(bundle: Path) -> None:
    [line] = [line for line in README.splitlines() if line.startswith("bash bundle/build.sh ")]
    assert line.endswith(f"# dist/{bundle.name}")
