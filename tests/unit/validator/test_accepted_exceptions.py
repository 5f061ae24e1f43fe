"""Exceptions a reviewer accepts (issue 9.4): a DaemonSet that declares runAsRoot, capabilities
and hostNetwork with reasons passes validation, and the --json report and the security gate list
the accepted exceptions with their reasons; findings with no exception still fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from services.cli.main import main
from services.cli.remote import gate_summary
from services.gateway.config import GatewaySettings
from services.gateway.main import create_app
from services.validator import security
from tests.fakes.gateway_world import MemoryWorld
from tests.gateway_client import approve, at_gate, ended, wait_for
from tests.gateway_client import submit as submit_to

REASONS = {
    "runAsRoot": "reads every container's logs under /var/log, owned by root on the node",
    "capabilities": "NET_ADMIN to read the node's network counters for the metrics it exports",
    "hostNetwork": "exports per-node network metrics, which only the host network namespace shows",
}
AGENT: dict[str, Any] = {
    "name": "nodeagent",
    "components": [
        {
            "name": "agent",
            "image": "fluent/fluent-bit:3.2.2",
            "kind": "DaemonSet",
            "ports": [{"name": "http", "port": 2020}],
            "probes": {
                "readiness": {"httpGet": {"path": "/api/v1/health", "port": "http"}},
                "liveness": {"httpGet": {"path": "/api/v1/health", "port": "http"}},
            },
            "security": {
                "capabilities": {"add": ["NET_ADMIN"]},
                "exceptions": [{"setting": k, "reason": v} for k, v in REASONS.items()],
            },
        }
    ],
}
CHECKS = {
    "runAsRoot": ["CKV_K8S_23", "CKV_K8S_40"],
    "capabilities": ["CKV_K8S_25"],
    "hostNetwork": ["CKV_K8S_19"],
}


def _spec(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _without(setting: str) -> dict[str, Any]:
    spec = json.loads(json.dumps(AGENT))
    sec = spec["components"][0]["security"]
    sec["exceptions"] = [e for e in sec["exceptions"] if e["setting"] != setting]
    return spec


# --------------------------------------------------------------------------- local generate


def test_declared_exceptions_complete_with_yes_and_the_json_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["generate", str(_spec(tmp_path, AGENT)), "-o", str(tmp_path / "out"), "--yes", "--json"]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 0 and body["report"]["passed"] is True
    listed = {e["setting"]: e for e in body["acceptedExceptions"]}
    assert set(listed) == set(REASONS)
    for setting, reason in REASONS.items():
        assert listed[setting]["component"] == "agent" and listed[setting]["reason"] == reason
        assert listed[setting]["checks"] == CHECKS[setting]
    accepted = {f["check"]: f["message"] for f in body["report"]["security"]["accepted"]}
    assert REASONS["hostNetwork"] in accepted["CKV_K8S_19"]
    assert not body["report"]["security"]["failedChecks"]
    values = yaml.safe_load((tmp_path / "out" / "nodeagent" / "values.yaml").read_text())
    assert values["agent"]["hostNetwork"] is True


def test_added_capabilities_without_an_exception_are_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            str(_spec(tmp_path, _without("capabilities"))),
            "-o",
            str(tmp_path / "out"),
            "--yes",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "components[0].security.capabilities.add" in err and "'capabilities'" in err
    assert not (tmp_path / "out").exists()


def _daemonset(annotations: dict[str, str], **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "x", "namespace": "n", "annotations": annotations},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "fluent/fluent-bit:3.2.2"}], **pod},
            },
        },
    }


def test_host_network_is_accepted_only_as_a_declared_hostnetwork_exception() -> None:
    why = "hostNetwork: exports per-node network metrics from the host namespace"
    report = security.scan(
        [_daemonset({"checkov.io/skip1": f"CKV_K8S_19={why}"}, hostNetwork=True)]
    )
    assert [f.check for f in report.accepted] == ["CKV_K8S_19"]
    assert not [f for f in report.failedChecks if f.check == "CKV_K8S_19"]
    # A skip that does not come from the hostNetwork exception, and any other host namespace,
    # still fail: a reason cannot make host PID safe.
    report = security.scan(
        [
            _daemonset(
                {
                    "checkov.io/skip1": "CKV_K8S_19=because we want it that way",
                    "checkov.io/skip2": f"CKV_K8S_17={why}",
                },
                hostNetwork=True,
                hostPID=True,
            )
        ]
    )
    failed = {f.check: f for f in report.failedChecks}
    assert "cannot be skipped" in failed["CKV_K8S_19"].message
    assert "cannot be skipped" in failed["CKV_K8S_17"].message
    assert failed["CKV_K8S_17"].severity.value == "error" and not report.accepted


# --------------------------------------------------------------------------- gateway


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


def _client(tmp_path: Path, world: MemoryWorld, **extra: Any) -> TestClient:
    settings = GatewaySettings(data_dir=tmp_path, local_mode=True, **extra)
    return TestClient(create_app(settings, resources=world))


@pytest.fixture
def client(tmp_path: Path, world: MemoryWorld) -> Iterator[TestClient]:
    with _client(tmp_path, world) as c:
        yield c


def test_security_gate_lists_accepted_exceptions_and_the_approval_records_who_and_when(
    client: TestClient,
) -> None:
    wf = submit_to(client, AGENT)
    wait_for(client, wf, at_gate("planning_review"))
    approve(client, wf, "planning_review")
    body = wait_for(client, wf, at_gate("security_review"))
    assert body["validation"]["passed"] is True
    sec = body["pending_gate"]["security"]
    listed = {e["setting"]: e for e in sec["exceptions"]}
    assert {s: e["reason"] for s, e in listed.items()} == REASONS
    assert {s: e["checks"] for s, e in listed.items()} == CHECKS
    assert {f["check"] for f in sec["accepted"]} == {
        "CKV_K8S_19",
        "CKV_K8S_23",
        "CKV_K8S_25",
        "CKV_K8S_40",
    }
    assert not [f for f in sec["findings"] if f.get("check") == "CKV_K8S_19"]
    screen = gate_summary(body, None, colour=False)
    assert "Accepted exceptions (3)" in screen
    assert f"agent  hostNetwork: {REASONS['hostNetwork']}" in screen

    approve(client, wf, "security_review")
    decided = wait_for(client, wf, at_gate("deployment_approval"))["decisions"]["security_review"]
    assert decided["decision"] == "approve" and decided["by"] == "local" and decided["at"]
    assert {(a["setting"], a["reason"]) for a in decided["accepted"]} == set(REASONS.items())
    approve(client, wf, "deployment_approval")
    assert wait_for(client, wf, ended)["status"] == "completed"


def test_findings_left_after_the_fix_loop_open_error_review_readably(
    tmp_path: Path, world: MemoryWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the hostNetwork acceptance the DaemonSet's CKV_K8S_19 fails on every attempt.
    monkeypatch.setattr(security, "ACCEPTABLE_CRITICAL", {})
    with _client(tmp_path, world, max_fix_attempts=1) as client:
        wf = submit_to(client, AGENT)
        wait_for(client, wf, at_gate("planning_review"))
        approve(client, wf, "planning_review")
        body = wait_for(client, wf, at_gate("error_review"))
        error = body["pending_gate"]["error"]
        assert error["code"] == "validation_failed"
        found = {f["check"]: f for f in error["details"]["findings"]}
        assert found["CKV_K8S_19"]["severity"] == "error"
        assert found["CKV_K8S_19"]["object"].startswith("DaemonSet/")
        screen = gate_summary(body, None, colour=False)
        assert "{" not in screen  # readable, not a JSON dump
        assert "Errors (1)" in screen and "checkov:CKV_K8S_19" in screen
        assert "fix: remove hostNetwork: true" in screen
        assert "approve re-runs dispatch_generation" in screen
        response = client.post(
            f"/v1/workflows/{wf}/decisions",
            json={"gate": "error_review", "decision": "reject", "comment": "not on our nodes"},
        )
        assert response.status_code == 200
        done = wait_for(client, wf, ended)
        assert done["status"] == "failed"
