"""The review UI in a real browser: Debian's chromium driven by Playwright, against `autopilot up`.

Playwright downloads no browser here: it launches the system's `chromium` (`make test` installs
it). Every page load records the requests the browser makes; none may leave 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from services.cli.demo import System, scratch_dir, start_system, stop_system

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GATE_SECONDS = 180_000  # ms: a swarm step on a loaded CI machine
SHOTS = Path("/tmp/autopilot-ui-shots")
# A config file whose content is markup: the UI must show it as text and never run it.
COMPOSE = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    configs:
      - source: page
        target: /usr/share/nginx/html/index.html
configs:
  page:
    content: |
      <script>window.__xss = 1</script><b id="injected">bold</b>
"""
KEYS = {
    "sub-key-0123456789abcdef": {"id": "alice", "roles": ["submitter"]},
    "apr-key-0123456789abcdef": {"id": "bob", "roles": ["approver"]},
}


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless chromium from the system (never a Playwright download). Per test, and set up
    after the servers: Playwright's sync API holds an event loop while it runs, and the database
    fixtures use asyncio.run."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("no chromium on PATH: `make test` installs it (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """`autopilot up` in local mode (the local user is admin)."""
    with scratch_dir("autopilot-web-") as data_dir:
        running = start_system(data_dir)
        try:
            yield running
        finally:
            stop_system(running)


class Offline:
    """A browser context that aborts and records every request not to 127.0.0.1."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 1000}
        )
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._guard)

    def _guard(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    guard = Offline(browser)
    yield guard
    guard.context.close()
    assert guard.outside == [], f"requests left 127.0.0.1: {guard.outside}"


def shot(page: Page, name: str) -> None:
    """A screenshot to look at (and for the README)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_gate(page: Page, gate: str) -> None:
    """Until the workflow's page shows `gate` pending (the live stream refreshes the page)."""
    page.wait_for_selector(f'#gate[data-gate="{gate}"]', timeout=GATE_SECONDS)


def submit(page: Page, base: str, name: str) -> str:
    """Paste the Compose file on the submit page; the workflow's id from the page it lands on."""
    page.goto(f"{base}/submit")
    page.fill("#source", COMPOSE)
    page.fill("#name", name)
    shot(page, "submit")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/workflows/[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def test_submit_review_every_gate_by_clicking_and_download(
    system: System, offline: Offline
) -> None:
    page = offline.page()
    wf = submit(page, system.url, "webui")
    wait_gate(page, "planning_review")
    page.wait_for_selector('#events li[data-type="gate.planning_review.pending"]')
    components = page.inner_text("#components")
    assert "web" in components and "nginx:1.27" in components
    assert "Decisions (" in page.inner_text("#gate") and "Risks (" in page.inner_text("#gate")
    shot(page, "planning")

    page.goto(f"{system.url}/")
    row = page.locator("table.list tr", has=page.locator(f'a[href="/workflows/{wf}"]'))
    assert "waiting for approval" in row.inner_text() and "Planning review" in row.inner_text()
    page.select_option("#status", "completed")
    # A selector wait, not wait_for_function: the page's CSP (script-src 'self') forbids eval.
    page.wait_for_selector(f'a[href="/workflows/{wf}"]', state="detached")
    page.select_option("#status", "waiting_for_approval")
    page.wait_for_selector(f'a[href="/workflows/{wf}"]')
    shot(page, "workflows")
    page.click(f'a[href="/workflows/{wf}"]')
    wait_gate(page, "planning_review")

    # An invalid edit is refused by the gateway and shown at the field, at its line.
    page.click("#edit-plan summary")
    text = page.input_value("#plan")
    page.fill("#plan", re.sub(r"replicas: \d+", "replicas: -3", text, count=1))
    page.click("#edit")
    errors = page.inner_text("#plan-errors")
    assert "components.web.replicas" in errors and re.search(r"line \d+", errors), errors
    assert page.get_attribute("#plan", "aria-invalid") == "true"
    shot(page, "planning-invalid-edit")

    page.click("#approve")
    wait_gate(page, "security_review")
    assert "checkov score" in page.inner_text("#gate")
    shot(page, "security")
    page.click("#approve")
    wait_gate(page, "deployment_approval")
    assert page.locator("#diff .d-add").count() > 10
    shot(page, "deployment")

    # The config file's markup is text in the chart's files: shown, never run.
    page.click('ul.file-list a:text-is("values.yaml")')
    # The gate panel refreshes itself while the workflow moves on; expect() polls until the
    # file's text is shown (a live refresh may briefly put the empty view back).
    expect(page.locator("#file-view")).to_contain_text(
        "<script>window.__xss = 1</script>", timeout=30_000
    )
    assert page.locator("#injected").count() == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "file")

    page.click("#approve")
    page.wait_for_selector("#download", timeout=GATE_SECONDS)
    assert page.inner_text("#wf-status") == "completed"
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert any(n.endswith("/Chart.yaml") for n in tar.getnames())
    page.wait_for_selector('#events li[data-type="workflow.completed"]')
    shot(page, "completed")
    assert offline.errors == []


def test_docs_and_redoc_load_from_the_gateway_alone(system: System, offline: Offline) -> None:
    page = offline.page()
    page.goto(f"{system.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('K8s Autopilot gateway')")
    page.wait_for_selector(".opblock-summary-path:has-text('/v1/workflows')")
    shot(page, "docs")
    page.goto(f"{system.url}/redoc")
    page.wait_for_selector("h1:has-text('K8s Autopilot gateway')", timeout=30_000)
    page.wait_for_selector("text=Submit a spec, a Compose file or a prompt")
    shot(page, "redoc")
    assert any("/ui/static/vendor/redoc/" in url for url in offline.requests)
    assert any("/ui/static/vendor/swagger-ui/" in url for url in offline.requests)


@pytest.fixture
def keyed(
    nats_url: str, pg_database: str, nats_subject_prefix: str, nats_stream: str
) -> Iterator[System]:
    """`autopilot up` outside local mode: API keys, external NATS and Postgres, encryption."""
    with scratch_dir("autopilot-web-keys-") as data_dir:
        running = start_system(
            data_dir,
            AUTOPILOT_LOCAL_MODE="false",
            AUTOPILOT_NATS_URL=nats_url,
            AUTOPILOT_DATABASE_URL=pg_database,
            AUTOPILOT_SUBJECT_PREFIX=nats_subject_prefix,
            AUTOPILOT_STREAM_NAME=nats_stream,
            AUTOPILOT_GATEWAY_HOST="127.0.0.1",
            AUTOPILOT_API_KEYS=json.dumps(KEYS),
            LANGGRAPH_AES_KEY="k" * 32,
        )
        try:
            yield running
        finally:
            stop_system(running)


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.fill("#key", key)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_a_submitter_sees_no_decision_buttons_an_approver_decides(
    keyed: System, offline: Offline
) -> None:
    page = offline.page()
    page.goto(f"{keyed.url}/login")
    page.fill("#key", "not-a-key")
    page.click("form[action='/login'] button[type=submit]")
    assert "unknown or revoked API key" in page.inner_text("main")

    sign_in(page, keyed.url, "sub-key-0123456789abcdef")
    cookie = next(c for c in offline.context.cookies() if c["name"] == "autopilot_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "sub-key" not in cookie["value"]
    assert page.evaluate("document.cookie") == ""
    wf = submit(page, keyed.url, "roles")
    wait_gate(page, "planning_review")
    assert page.locator("#approve").count() == 0 and page.locator("#reject").count() == 0
    assert page.locator("#edit-plan").count() == 0
    assert "An approver decides" in page.inner_text("#decide")
    shot(page, "submitter")

    page.click("text=Sign out")
    sign_in(page, keyed.url, "apr-key-0123456789abcdef")
    page.goto(f"{keyed.url}/workflows/{wf}")
    wait_gate(page, "planning_review")
    assert "bob" in page.inner_text("header")
    page.click("#approve")
    wait_gate(page, "security_review")
    assert "approve" in page.inner_text("#state") and "bob" in page.inner_text("#state")
