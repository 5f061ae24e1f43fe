"""`autopilot edit ID` against an in-memory gateway: $EDITOR on the pending plan as YAML, the
change sent by component name and validated like a spec, the result shown."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.cli import remote
from services.cli import terminal as terminal_module
from services.cli.main import main
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from shared.models.plan import ChartPlan
from tests.fakes.gateway_world import MemoryWorld
from tests.gateway_client import at_gate, wait_for
from tests.gateway_client import submit as submit_to

SPEC: dict[str, Any] = {
    "name": "shop",
    "components": [
        {
            "name": "web",
            "image": "ghcr.io/acme/web:1.4.2",
            "ports": [{"port": 8080}],
            "env": {"DB_PASSWORD": {"secret": "db-password"}},
        },
        {"name": "worker", "image": "ghcr.io/acme/worker:2.0.1"},
    ],
    "secrets": [{"name": "db-password"}],
}


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    world = MemoryWorld()
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True)
    with TestClient(create_app(settings, resources=world)) as client:
        monkeypatch.setattr(remote, "client", lambda *a, **k: contextlib.nullcontext(client))
        yield client


def _terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: str, body: str) -> Path:
    """A terminal reading `answers` and an $EDITOR running `body` on the plan; the screen file."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, yaml\npath = sys.argv[1]\nplan = yaml.safe_load(open(path))\n"
        + body
        + "open(path, 'w').write(yaml.safe_dump(plan))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    (tmp_path / "answers").write_text(answers)
    screen = tmp_path / "screen"

    def fake_open(cls: type[terminal_module.Terminal]) -> terminal_module.Terminal:
        return cls(open(tmp_path / "answers"), open(screen, "w"))  # noqa: SIM115

    monkeypatch.setattr(terminal_module.Terminal, "open", classmethod(fake_open))
    return screen


def test_edit_sends_the_change_by_name_and_shows_the_result(
    gateway: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wf = submit_to(gateway, SPEC)
    wait_for(gateway, wf, at_gate("planning_review"))
    body = "for c in plan['components']:\n    if c['spec']['name'] == 'worker':\n        c['replicas'] = 4\n"
    _terminal(tmp_path, monkeypatch, "", body)
    assert main(["edit", wf]) == 0
    out = capsys.readouterr().out
    assert f"edited planning_review of {wf}" in out
    assert '{"components": {"worker": {"replicas": 4}}}' in out
    assert "COMPONENT" in out  # the edited plan's summary
    view = wait_for(gateway, wf, at_gate("security_review"))
    approved = gateway.get(f"/v1/workflows/{wf}/files/values.yaml").text
    assert (
        "replicaCount: 4" in approved and view["decisions"]["planning_review"]["decision"] == "edit"
    )


def test_edit_that_drops_a_referenced_secret_is_refused_before_sending(
    gateway: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wf = submit_to(gateway, SPEC)
    plan = wait_for(gateway, wf, at_gate("planning_review"))["pending_gate"]["plan"]
    screen = _terminal(tmp_path, monkeypatch, "x\n", "plan['secrets'] = []\n")
    assert main(["edit", wf]) == 0
    shown = screen.read_text()
    assert "invalid edit: components.web.spec.env.DB_PASSWORD.secret: refers to secret" in shown
    assert "edit aborted" in shown and "no change" in capsys.readouterr().err
    body = gateway.get(f"/v1/workflows/{wf}").json()
    assert at_gate("planning_review")(body) and body["pending_gate"]["plan"] == plan
    assert ChartPlan.model_validate(plan).secrets[0].name == "db-password"


def test_edit_needs_a_plan_waiting(gateway: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    wf = submit_to(gateway, SPEC)
    wait_for(gateway, wf, at_gate("planning_review"))
    gateway.post(
        f"/v1/workflows/{wf}/decisions", json={"gate": "planning_review", "decision": "approve"}
    )
    wait_for(gateway, wf, at_gate("security_review"))
    assert main(["edit", wf, "-o", "json"]) == 2
    assert "not at planning_review (security_review)" in capsys.readouterr().err
