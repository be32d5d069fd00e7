"""Browser tests of the review screens: headless Chromium (Debian's `chromium`) driven by
Playwright for Python, a test host page doing the host's side of MCP Apps, and our real
server over Streamable HTTP, on an emulator served over HTTP too.

The host page (`host.html`) is built from `ui/test-host/` by `ui/build.mjs`, committed
like the screens and checked against its sources by `ui/check.sh`: running these tests
needs Chromium, never Node. The page is served by Playwright at the server's own origin
(`page.route`), so the server is exactly the one users run, with no route added for tests.

    Chromium ──(route)──▶ /test-host.html: AppBridge + MCP client ──HTTP──▶ /mcp (our server)
        └── iframe (sandbox, default CSP): the screen, via postMessage ──┘        │
                                                   emulator over HTTP ◀───────────┘
                                                   (the tests seed and check it directly)
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FrameLocator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.emulator import EmulatorOptions
from contacts_mcp.emulator.app import create_app
from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.remote.http import HttpSettings, build_http_app
from contacts_mcp.server import build_server
from tests.remote.conftest import serving

HOST_PAGE = Path(__file__).with_name("host.html")
HOST_PATH = "/test-host.html"
ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "docs" / "screens"
# Phone width: the screens must work there.
PHONE: ViewportSize = {"width": 390, "height": 844}
# As root, Chromium runs only without its sandbox; the rest keep it off the network
# (this machine has none) and quick to start.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # The screen's sandboxed iframe is rendered in the page's own process (it is still an
    # opaque origin, its sandbox and CSP still hold): screenshots of a frame in a process
    # of its own were at times taken before that process painted.
    "--disable-features=IsolateSandboxedIframes",
]
# Every wait on the page is bounded (ms).
TIMEOUT = 20_000


def chromium_path() -> str:
    """Debian's Chromium (`apt-get install chromium`), or $CHROMIUM."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        message = f"the browser tests need Chromium ({found}): apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (.ci/run): never skipped there
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    expect.set_options(timeout=TIMEOUT)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS, timeout=TIMEOUT
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Stack:
    """Our server over HTTP, and a direct line to the emulator behind it."""

    url: str
    emulator: httpx.Client

    def seed(self, method: str, path: str, body: Any = None) -> Any:
        response = self.emulator.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact in the emulator, by email, each read whole (a list leaves out
        property values)."""
        found: list[dict[str, Any]] = []
        page = self.seed("GET", "/contacts?limit=100")
        found.extend(page["data"])
        while page["has_more"]:
            page = self.seed("GET", f"/contacts?limit=100&after={found[-1]['id']}")
            found.extend(page["data"])
        whole = [self.seed("GET", f"/contacts/{contact['id']}") for contact in found]
        return sorted(whole, key=lambda contact: str(contact["email"]))

    def emails(self) -> list[str]:
        page = self.seed("GET", "/contacts?limit=100")
        assert not page["has_more"]
        return sorted(str(contact["email"]) for contact in page["data"])


@contextmanager
def open_stack(
    tmp_path: Path, *, rate_limit: int = 1000, wait_seconds: float = 20.0
) -> Iterator[Stack]:
    """The emulator and our server pointed at it, as `contacts-mcp --base-url URL` would
    be. (Not `contacts_server`: its emulator is in-process, out of the tests' reach.) The
    server paces its requests to the emulator's stated `rate_limit`: high by default, so
    that pacing does not slow the tests."""
    emulator = create_app(EmulatorOptions(stated_rate_limit=rate_limit))
    imports = ImportSettings(
        files=FilePolicy(allowed_dirs=(tmp_path,)), state_dir=tmp_path / "state"
    )
    with serving(emulator) as emulator_url:
        config = BackendConfig(api_key=LOCAL_API_KEY, base_url=emulator_url)
        server = build_server(config, imports, wait_seconds=wait_seconds)
        with (
            serving(build_http_app(server, HttpSettings())) as url,
            httpx.Client(
                base_url=emulator_url,
                headers={"Authorization": f"Bearer {LOCAL_API_KEY}"},
                timeout=30,
                # A new connection each request: one kept idle past the server's keep-alive
                # (5 s, as a long run can take) may be closed as a request goes out on it.
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as direct,
        ):
            yield Stack(url=url, emulator=direct)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with open_stack(tmp_path) as opened:
        yield opened


class Host:
    """The test host page in a browser tab: the tests act as its model and its person."""

    def __init__(self, page: Page, errors: list[str]) -> None:
        self.page = page
        self.errors = errors

    @property
    def screen(self) -> FrameLocator:
        return self.page.frame_locator("iframe")

    def call_as_model(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The model calls `tool`; a tool with a screen has it rendered and fed."""
        return self.page.evaluate("([n, a]) => testHost.callAsModel(n, a)", [tool, arguments])

    def call_as_screen(self, tool: str, arguments: dict[str, Any]) -> Any:
        return self.page.evaluate("([n, a]) => testHost.callAsScreen(n, a)", [tool, arguments])

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)


@contextmanager
def open_host(browser: Browser, url: str, theme: str = "light") -> Iterator[Host]:
    """The test host page in a new tab at phone width, connected to the server at `url`."""
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    html = HOST_PAGE.read_text(encoding="utf-8")
    page.route(
        f"{url}{HOST_PATH}*",
        lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
    )
    page.goto(f"{url}{HOST_PATH}?theme={theme}")
    page.evaluate("testHost.ready")
    try:
        yield Host(page, errors)
    finally:
        page.close()


@pytest.fixture
def host(browser: Browser, stack: Stack) -> Iterator[Host]:
    with open_host(browser, stack.url) as opened:
        yield opened


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: docs/screens/ when UPDATE_SCREENSHOTS is set (to refresh
    the README's pictures), else the test's own folder."""
    folder = SCREENS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
