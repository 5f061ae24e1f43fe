"""The review UI in memory: pages over the real gateway app (memory resources), no browser.

The browser flows are in tests/integration/test_web_browser.py; here the rules that need no
browser: escaping, CSRF, the session cookie, roles outside local mode, docs without a CDN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.gateway.web import views
from services.gateway.web.routes import templates
from services.gateway.web.session import LIFETIME_SECONDS, Session, Sessions
from tests.fakes.gateway_world import MemoryWorld
from tests.gateway_client import at_gate, wait_for

COMPOSE = "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n"
KEYS = {
    "sub-key-0123456789abcdef": {"id": "alice", "roles": ["submitter"]},
    "apr-key-0123456789abcdef": {"id": "bob", "roles": ["approver"]},
}
SCRIPT = "<script>alert(1)</script>"


def csrf(client: TestClient, path: str = "/submit") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(GatewaySettings(data_dir=tmp_path, local_mode=True), resources=MemoryWorld())
    with TestClient(app) as client:
        yield client


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    settings = GatewaySettings(
        data_dir=tmp_path,
        local_mode=False,
        api_keys=KEYS,
        aes_key="k" * 32,
        nats_url="nats://127.0.0.1:1",
        database_url="postgresql://unused",
    )
    with TestClient(create_app(settings, resources=MemoryWorld())) as client:
        yield client


def submit(client: TestClient) -> str:
    answer = client.post(
        "/submit", data={"source": COMPOSE, "csrf_token": csrf(client)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"].rsplit("/", 1)[1])


def test_a_finding_or_exception_holding_markup_renders_as_text() -> None:
    finding = {
        "severity": "error",
        "tool": "checkov",
        "check": "CKV_X",
        "object": SCRIPT,
        "message": f"bad {SCRIPT}",
        "hint": '<img src=x onerror="alert(1)">',
    }
    exception = {"component": "web", "setting": "hostNetwork", "reason": SCRIPT, "checks": []}
    gate = {
        "gate": "security_review",
        "security": {
            "checkov": {"passed": 9, "failed": 1},
            "findings": [finding],
            "exceptions": [exception],
        },
    }
    wf = {
        "id": "wf1",
        "status": "waiting_for_approval",
        "phase": "security_review",
        "input_kind": "compose",
        "submitted_by": "x",
        "created_at": "2026-01-01T00:00:00+00:00",
        "name": SCRIPT,
        "pending_gate": gate,
    }
    html = templates.get_template("workflow.html").render(
        me=None,
        csrf="t",
        csrf_field="csrf_token",
        wf=wf,
        gate=gate,
        view={"security": views.security_view(gate["security"])},
        files=[SCRIPT],
        may_decide=True,
        may_approve=True,
        by_field={},
        form={},
        terminal=False,
    )
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "bad &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_pages_and_forms_need_the_sessions_csrf_token(local: TestClient) -> None:
    page = local.get("/")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "default-src 'self'" in page.headers["content-security-policy"]
    wf = submit(local)
    wait_for(local, wf, at_gate("planning_review"))
    for token in (None, "forged"):
        data = {"gate": "planning_review", "decision": "approve"}
        answer = local.post(f"/workflows/{wf}/decision", data={**data, "csrf_token": token or ""})
        assert answer.status_code == 403 and "session token" in answer.text
    other_site = local.post(
        f"/workflows/{wf}/decision",
        data={"gate": "planning_review", "decision": "approve", "csrf_token": csrf(local)},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert (local.get(f"/v1/workflows/{wf}").json()["pending_gate"] or {})[
        "gate"
    ] == "planning_review"


def test_reject_needs_a_comment_and_an_invalid_edit_names_the_field_at_its_line(
    local: TestClient,
) -> None:
    wf = submit(local)
    wait_for(local, wf, at_gate("planning_review"))
    token = csrf(local)
    answer = local.post(
        f"/workflows/{wf}/decision",
        data={"gate": "planning_review", "decision": "reject", "csrf_token": token},
    )
    assert answer.status_code == 422 and "say why it is rejected" in answer.text
    plan = local.get(f"/v1/workflows/{wf}").json()["pending_gate"]["plan"]
    text = views.plan_text(plan).replace("replicas: 2", "replicas: -3", 1)
    answer = local.post(
        f"/workflows/{wf}/decision",
        data={"gate": "planning_review", "decision": "edit", "plan": text, "csrf_token": token},
    )
    assert answer.status_code == 422
    line = text.splitlines().index(next(x for x in text.splitlines() if "replicas: -3" in x)) + 1
    assert f"line {line}: <code>components.web.replicas</code>" in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_outside_local_mode_a_key_signs_in_and_roles_decide_what_is_shown(
    keyed: TestClient,
) -> None:
    first = keyed.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    token = csrf(keyed, "/login")
    refused = keyed.post("/login", data={"key": "nope", "csrf_token": token})
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    signed = keyed.post(
        "/login",
        data={"key": "sub-key-0123456789abcdef", "csrf_token": token},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    assert "sub-key" not in signed.headers["set-cookie"]
    wf = submit(keyed)
    keyed.headers["Authorization"] = "Bearer apr-key-0123456789abcdef"
    wait_for(keyed, wf, at_gate("planning_review"))
    del keyed.headers["Authorization"]
    page = keyed.get(f"/workflows/{wf}").text
    assert 'id="approve"' not in page and 'id="reject"' not in page
    assert "An approver decides" in page

    keyed.post("/logout", data={"csrf_token": csrf(keyed, "/")})
    assert keyed.get("/", follow_redirects=False).status_code == 303
    token = csrf(keyed, "/login")
    keyed.post("/login", data={"key": "apr-key-0123456789abcdef", "csrf_token": token})
    page = keyed.get(f"/workflows/{wf}").text
    assert 'id="approve"' in page and 'id="reject"' in page and 'id="edit"' in page


def test_a_forged_or_expired_session_is_no_session() -> None:
    sessions = Sessions(b"s" * 32)
    sealed = sessions.seal(Session(key="k"))
    opened = sessions.open(sealed)
    assert opened is not None and opened.key == "k"
    assert Sessions(b"t" * 32).open(sealed) is None
    assert sessions.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]) is None
    assert sessions.open(sessions.seal(Session(key="k", expires=0))) is None
    assert LIFETIME_SECONDS > 0


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_only_the_gateways_own_assets(local: TestClient, path: str) -> None:
    page = local.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert "fonts.googleapis" not in page.text and "cdn.jsdelivr" not in page.text
    for asset in assets:
        assert local.get(asset).status_code == 200, asset
    assert "img-src 'self' data:" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("components.web.replicas", "replicas"),
        ("components.web.spec.image", "image"),
        ("components.nope.replicas", "components"),
        ("secrets.db.keys", "name: db"),
    ],
)
def test_an_error_path_with_names_finds_its_yaml_line(field: str, expected: str) -> None:
    text = (
        "name: shop\ncomponents:\n- spec:\n    name: api\n  replicas: 1\n"
        "- spec:\n    name: web\n    image: nginx\n  replicas: 2\nsecrets:\n- name: db\n"
    )
    line = views.field_line(text, field)
    assert line is not None and expected in text.splitlines()[line - 1]


def test_a_diff_is_classified_line_by_line() -> None:
    lines = views.diff_lines("--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n same")
    assert [k for k, _ in lines] == ["file", "file", "hunk", "remove", "add", "context"]
    assert views.diff_counts(lines) == (1, 1)


def test_age_reads_like_a_person_says_it() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert views.age("2026-01-01T00:00:00+00:00", now) == "1d"
    assert views.age("2026-01-01T23:59:30+00:00", now) == "30s"
    assert views.age(None) == "-"
