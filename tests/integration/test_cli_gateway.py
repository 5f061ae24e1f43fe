"""kubectl-style commands and `submit` at its gates against a real gateway (`autopilot up`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.cli.demo import System, scratch_dir, start_system, stop_system
from services.cli.main import main
from shared.infra.embedded import free_port
from tests.gateway_client import at_gate, ended, wait_for
from tests.pty_session import PtySession

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop.yaml"
PROMPT = "[?] full detail > "


def test_unreachable_gateway_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    assert main(["list", "--gateway", url]) == 3
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: gateway http://127.0.0.1:")
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with scratch_dir("autopilot-cli-") as data_dir:
        running = start_system(data_dir)
        try:
            yield running
        finally:
            stop_system(running)


def _submit(system: System) -> str:
    spec = yaml.safe_load(SHOP.read_text())
    resp = httpx.post(f"{system.url}/v1/workflows", json={"requirements": spec}, timeout=30)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def _wait_gate(system: System, wf: str, gate: str, timeout: float = 120) -> dict[str, Any]:
    """The workflow's state once it waits at `gate`; fails at once if it ends instead."""

    def at_gate_unless_ended(body: dict[str, Any]) -> bool:
        """At the gate; an ended workflow fails at once."""
        assert not ended(body), body
        return at_gate(gate)(body)

    return wait_for(system.url, wf, at_gate_unless_ended, timeout, interval=0.2)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.integration
@pytest.mark.slow
def test_list_get_approve_reject_logs(system: System, capsys: pytest.CaptureFixture[str]) -> None:
    wf = _submit(system)
    _wait_gate(system, wf, "planning_review")
    gw = ["--gateway", system.url + "/v1"]

    code, out = _cli(capsys, "list", *gw)
    assert code == 0 and "ID" in out and wf in out and "planning_review" in out
    code, out = _cli(capsys, "list", *gw, "-o", "json")
    assert code == 0 and wf in out

    code, out = _cli(capsys, "get", wf, *gw)
    assert code == 0 and "pending gate: planning_review" in out
    assert "COMPONENT" in out and "postgres:17.2" in out and "Risks (" in out

    code, out = _cli(capsys, "approve", wf, *gw)
    assert code == 0 and f"approved planning_review of {wf}" in out

    _wait_gate(system, wf, "security_review")
    code, out = _cli(capsys, "get", wf, *gw)
    assert "checkov score" in out and "Excluded checks (2)" in out and "CKV_K8S_43" in out

    code, out = _cli(capsys, "reject", wf, *gw, "--comment", "not this week")
    assert code == 0 and "rejected security_review" in out and "not this week" in out
    code, out = _cli(capsys, "get", wf, *gw, "-o", "yaml")
    view = yaml.safe_load(out)
    assert view["status"] == "rejected" and view["comment"] == "not this week"

    code, out = _cli(capsys, "logs", wf, *gw)
    assert code == 0 and "gate.planning_review.approve" in out and "workflow.rejected" in out

    code, out = _cli(capsys, "get", "no-such-workflow", *gw)
    assert code == 2


@pytest.mark.integration
@pytest.mark.slow
def test_submit_in_a_terminal_through_every_gate(system: System, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "PAGER": "cat", "TERM": "xterm", "PATH": "/usr/bin:/bin"}
    argv = [
        sys.executable,
        "-m",
        "services.cli",
        "submit",
        str(SHOP),
        "-o",
        str(tmp_path),
        "--gateway",
        system.url,
    ]
    session = PtySession(argv, env, ROOT)
    try:
        assert "COMPONENT" in session.expect(PROMPT, timeout=120)
        session.send("a")
        screen = session.expect(PROMPT, timeout=180)
        assert "== security_review ==" in screen and "checkov score" in screen
        session.send("a")
        screen = session.expect(PROMPT, timeout=180)
        assert "== deployment_approval ==" in screen
        assert "release shop in namespace" in screen and "First release:" in screen
        session.send("a")
        assert session.wait(timeout=180) == 0
    finally:
        session.kill()
    assert "chart written to" in session.text
    assert (tmp_path / "shop" / "values.yaml").is_file()
