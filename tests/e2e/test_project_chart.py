"""The project's own chart is build output: k8s/autopilot.yaml generated, k8s/overlay/ added.

`make k8s` (k8s/build.py) run over a copy of k8s/ writes exactly the committed k8s/autopilot/,
leaving no merge leftovers; the chart passes every validator step under a release name other
than the chart's; and under that name (`prod`) the gateway, the swarms and the notifier still
meet: one Secret (the same NATS and PostgreSQL URLs), policies, Services, monitors and scalers
that select them.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.validator.engine import render_objects, validate_chart
from shared.errors import ValidationFailed

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
CHART = K8S / "autopilot"
SWARMS = ("planner", "generator", "validator")
SERVICES = (*SWARMS, "gateway", "notifier")
RELEASE = "prod"
FULLNAME = f"{RELEASE}-autopilot"
KEDA = {"autoscaling": {"keda": {"enabled": True}}} | {
    s: {"autoscaling": {"enabled": False}} for s in SWARMS
}

pytestmark = pytest.mark.slow


def _files(chart: Path) -> dict[str, bytes]:
    return {
        p.relative_to(chart).as_posix(): p.read_bytes() for p in chart.rglob("*") if p.is_file()
    }


def _build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(K8S / "build.py"), "--root", str(root), "--no-validate"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_the_committed_chart_is_exactly_the_build_output(tmp_path: Path) -> None:
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("__pycache__"))
    # Leftovers of an old merge and a stale overlay file: the build must not carry them over.
    (root / "autopilot" / "values.yaml.autopilot-new").write_text("old: true\n")
    (root / "autopilot" / ".autopilot" / "pending" / "templates").mkdir(parents=True)
    (root / "autopilot" / ".autopilot" / "pending" / "templates" / "hpa.yaml").write_text("x\n")
    (root / "autopilot" / "templates" / "removed-from-overlay.yaml").write_text("x\n")
    run = _build(root)
    assert run.returncode == 0, run.stdout + run.stderr
    built, committed = _files(root / "autopilot"), _files(CHART)
    assert sorted(built) == sorted(committed), "run `make k8s` and commit k8s/autopilot"
    changed = [name for name in built if built[name] != committed[name]]
    assert not changed, f"k8s/autopilot differs from the build in {changed}: run `make k8s`"
    assert not [n for n in built if n.endswith(".autopilot-new") or n.startswith(".autopilot/")]
    assert b"Hand edit" not in b"".join(built.values())
    # Git tracks no merge leftovers either (and ignores new ones).
    tracked = subprocess.run(
        ["git", "ls-files", "--", "k8s"], capture_output=True, text=True, cwd=ROOT
    )
    leftovers = [
        name
        for name in tracked.stdout.splitlines()
        if name.endswith(".autopilot-new") or "/.autopilot/pending/" in name
    ]
    assert not leftovers, leftovers


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_build", K8S / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_overlay_may_only_add_documented_values() -> None:
    build = _build_module()
    generated = (CHART / "values.yaml").read_text()
    with pytest.raises(build.BuildError, match=r"redefines generated keys \['tests'\]"):
        build.merge_values(generated, "## @param tests Clash\ntests:\n  enabled: false\n")
    with pytest.raises(build.BuildError, match=r"extra\.b has no '## @param extra\.b"):
        build.merge_values(
            "a: 1\n", "## @param extra X\nextra:\n  ## @param extra.a A\n  a: 1\n  b: 2\n"
        )
    with pytest.raises(build.BuildError, match="redefines generated properties"):
        build.merge_schema(
            (CHART / "values.schema.json").read_text(), '{"properties": {"tests": {}}}'
        )


def test_the_chart_passes_every_validator_step_under_another_release() -> None:
    report = validate_chart(CHART, release=RELEASE)
    failed = [(r.step, [f.message for f in r.findings]) for r in report.results if not r.passed]
    assert report.passed, failed
    assert [r.step for r in report.results] == [
        "lint",
        "render",
        "values-schema",
        "schema",
        "checkov",
        "checks",
    ]
    assert report.security.passRate >= 0.95
    # Only information: placeholder secrets, custom resources without an upstream schema.
    assert {f.severity.value for r in report.results for f in r.findings} <= {"info"}


def _by_kind(values: dict[str, Any] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in render_objects(CHART, values, release=RELEASE, namespace="autopilot"):
        out.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return out


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_release_prod_wires_the_gateway_to_the_swarms() -> None:
    kinds = _by_kind({"metrics": {"serviceMonitor": {"enabled": True}}} | KEDA)
    names = [name for objs in kinds.values() for name in objs]
    # Nothing keeps a name written for the release `autopilot`.
    assert all(name.startswith(FULLNAME) for name in names), names
    deployments = kinds["Deployment"]
    assert set(deployments) == {f"{FULLNAME}-{s}" for s in SERVICES}
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for name, d in (deployments | kinds["Job"]).items()
    }
    # One Secret carries the NATS and PostgreSQL URLs of all five: they meet on one bus.
    secret = kinds["Secret"][FULLNAME]
    refs = {}
    for name in SERVICES:
        deployment = deployments[f"{FULLNAME}-{name}"]
        env = _env(deployment)
        assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", name]
        for var, key in (
            ("AUTOPILOT_NATS_URL", "nats-url"),
            ("AUTOPILOT_DATABASE_URL", "postgresql-url"),
            ("LANGGRAPH_AES_KEY", "langgraph-aes-key"),
        ):
            assert env[var]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": key}
            assert key in secret.get("data", secret.get("stringData", {}))
        refs[name] = {k: v.get("value") for k, v in env.items() if k.startswith("AUTOPILOT_")}
        assert "AUTOPILOT_SUBJECT_PREFIX" not in env and "AUTOPILOT_STREAM_NAME" not in env
    assert refs["gateway"]["AUTOPILOT_GATEWAY_HOST"] == "0.0.0.0"
    assert refs["notifier"]["AUTOPILOT_NOTIFIER_PORT"] == "8080"
    assert refs["notifier"]["AUTOPILOT_PUBLIC_URL"]
    # Each Service selects its own Deployment's pods; the Ingress reaches the gateway's.
    for name in SERVICES:
        service = kinds["Service"][f"{FULLNAME}-{name}"]
        selected = [
            p for p, labels in pods.items() if _matches(service["spec"]["selector"], labels)
        ]
        assert selected == [f"{FULLNAME}-{name}"]
    (ingress,) = kinds["Ingress"].values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == f"{FULLNAME}-gateway"
    # Every NetworkPolicy applies to pods that exist; each service may reach NATS.
    for name, policy in kinds["NetworkPolicy"].items():
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert any(_matches(selector, labels) for labels in pods.values()) or name.endswith(
            "-test-connection"
        ), name
    for name in SERVICES:
        flow = kinds["NetworkPolicy"][f"{FULLNAME}-{name}-flow"]
        ports = {p["port"] for rule in flow["spec"]["egress"] for p in rule["ports"]}
        assert {4222, 5432, 53} <= ports
        # Only the notifier may leave the cluster, to webhook receivers on 443 and 80.
        assert ({443, 80} <= ports) == (name == "notifier"), name
        assert _matches(flow["spec"]["podSelector"]["matchLabels"], pods[f"{FULLNAME}-{name}"])
    # The migration hook reads the database URL from its own hook Secret of this release.
    job = kinds["Job"][f"{FULLNAME}-migrate"]
    ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{FULLNAME}-migrate", "key": "postgresql-url"}
    assert ref["name"] in kinds["Secret"]
    # KEDA scales this release's swarms on their own consumers; the ServiceMonitor sees all five.
    for swarm in SWARMS:
        scaled = kinds["ScaledObject"][f"{FULLNAME}-{swarm}"]["spec"]
        assert scaled["scaleTargetRef"]["name"] in deployments
        assert scaled["triggers"][0]["metadata"]["consumer"] == swarm
        assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) != (None, None)
    assert "HorizontalPodAutoscaler" not in kinds
    assert set(kinds["ScaledObject"]) == {f"{FULLNAME}-{s}" for s in SWARMS}
    (monitor,) = kinds["ServiceMonitor"].values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert sorted(
        n for n, s in kinds["Service"].items() if _matches(selector, s["metadata"]["labels"])
    ) == sorted(f"{FULLNAME}-{s}" for s in SERVICES)


def test_keda_beside_a_swarms_cpu_hpa_fails_with_a_clear_message() -> None:
    with pytest.raises(ValidationFailed, match=r"set planner\.autoscaling\.enabled=false"):
        _by_kind({"autoscaling": {"keda": {"enabled": True}}})
    # A swarm switched off needs neither: no ScaledObject, no HPA for it.
    values = KEDA | {"validator": {"enabled": False, "autoscaling": {"enabled": True}}}
    kinds = _by_kind(values)
    assert f"{FULLNAME}-validator" not in kinds["ScaledObject"]
    assert f"{FULLNAME}-validator-flow" not in kinds["NetworkPolicy"]
