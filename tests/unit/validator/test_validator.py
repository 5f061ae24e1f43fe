"""The chart validator: a hardened chart passes, and each kind of breakage is caught by its step."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest

from services.validator import checks, engine, kube_schema, security
from services.validator.engine import STEPS, render_objects, validate_chart
from shared.errors import InputError, ValidationFailed
from shared.models.reports import Severity, ValidationReport
from tests.support.charts import HARDENED, hardened_copy, patch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "charts"
NEWEST = kube_schema.shipped_versions()[-1]


def _step(report: ValidationReport, name: str) -> Any:
    """The result of one step."""
    return next(r for r in report.results if r.step == name)


def _failed_steps(report: ValidationReport) -> set[str]:
    """Names of the steps that did not pass."""
    return {r.step for r in report.results if not r.passed}


def _checks(report: ValidationReport, step: str) -> set[str]:
    """Check ids of the error findings of one step."""
    return {f.check for f in _step(report, step).findings if f.severity is Severity.ERROR}


# --- the good chart -----------------------------------------------------------------------


def test_hardened_chart_passes_every_step() -> None:
    report = validate_chart(HARDENED)
    assert [r.step for r in report.results] == list(STEPS)
    assert report.passed, [f for f in report.findings if f.severity is not Severity.INFO]
    assert report.chart == "hardened"
    assert report.kubeVersions == ["1.27", NEWEST]
    assert report.security.passRate == 1.0
    assert report.security.passed > 100
    assert report.security.excluded == ["CKV_K8S_35", "CKV_K8S_43"]
    assert all(r.seconds > 0 for r in report.results)
    # the existingSecret in ci/ha-values.yaml names a Secret the chart does not render
    assert not [f for f in report.findings if f.check == "missing-ref"]


def test_render_objects_returns_parsed_objects() -> None:
    objects = render_objects(HARDENED, {"replicaCount": 3}, namespace="shop")
    kinds = sorted(o["kind"] for o in objects)
    assert "PodDisruptionBudget" in kinds and "Deployment" in kinds
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["namespace"] == "shop"


def test_render_objects_raises_on_broken_template(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart, "templates/configmap.yaml", "{{ .Values.greeting | quote }}", "{{ .Values.greeting "
    )
    with pytest.raises(ValidationFailed):
        render_objects(chart)


# --- each breakage caught by the right step -----------------------------------------------


def test_template_syntax_error_fails_render(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart, "templates/configmap.yaml", "{{ .Values.greeting | quote }}", "{{ .Values.greeting "
    )
    report = validate_chart(chart)
    assert not report.passed
    assert {"lint", "render"} <= _failed_steps(report)
    render = _step(report, "render")
    assert any("values.yaml" in f.message for f in render.findings)


def test_deprecated_api_is_a_lint_warning_and_not_served(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "old-pdb.yaml").write_text(
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: old\n"
        "  namespace: {{ .Release.Namespace }}\nspec:\n  minAvailable: 1\n"
    )
    report = validate_chart(chart)
    lint = _step(report, "lint")
    assert not lint.passed
    assert any(f.severity is Severity.WARNING and "deprecated" in f.message for f in lint.findings)
    # policy/v1beta1 is gone from every version we validate: an error, not "unknown CRD"
    schema = _step(report, "schema")
    assert any("not served" in f.message for f in schema.findings)


def test_typo_field_fails_strict_schema(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "templates/deployment.yaml", "  replicas:", "  replica:")
    report = validate_chart(chart)
    assert _failed_steps(report) == {"schema"}
    finding = next(f for f in _step(report, "schema").findings if f.severity is Severity.ERROR)
    assert finding.object == "Deployment/rel-hardened"
    assert "'replica' was unexpected" in finding.message and "$.spec" in finding.message
    assert finding.hint


def test_wrong_type_fails_schema(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "templates/deployment.yaml",
        "replicas: {{ .Values.replicaCount }}",
        'replicas: "two"',
    )
    report = validate_chart(chart)
    assert "schema" in _failed_steps(report)
    messages = [f.message for f in _step(report, "schema").findings]
    assert any("$.spec.replicas" in m and "'two' is not of type" in m for m in messages)


def test_selector_mismatch_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "templates/deployment.yaml",
        '      {{- include "hardened.selectorLabels" . | nindent 6 }}',
        '      {{- include "hardened.selectorLabels" . | nindent 6 }}\n      tier: web',
    )
    report = validate_chart(chart)
    assert _failed_steps(report) == {"checks"}
    finding = next(f for f in _step(report, "checks").findings if f.check == "selector-match")
    assert finding.object == "Deployment/rel-hardened"
    assert "values.yaml" in finding.message and "ci/ha-values.yaml" in finding.message


def test_service_selecting_nothing_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "templates/service.yaml",
        '    {{- include "hardened.selectorLabels" . | nindent 4 }}',
        "    app: nobody",
    )
    report = validate_chart(chart)
    findings = _step(report, "checks").findings
    assert [(f.check, f.object) for f in findings] == [("selector-match", "Service/rel-hardened")]


def test_missing_target_port_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "templates/service.yaml", "targetPort: http", "targetPort: metrics")
    report = validate_chart(chart)
    assert _failed_steps(report) == {"checks"}
    assert _checks(report, "checks") == {"target-port"}


def test_numeric_target_port_matches_container_port(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "templates/service.yaml", "targetPort: http", "targetPort: 8080")
    assert validate_chart(chart).passed


def test_missing_probe_port_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart, "templates/deployment.yaml", "              port: http", "              port: admin"
    )
    report = validate_chart(chart)
    assert _failed_steps(report) == {"checks"}
    finding = next(iter(_step(report, "checks").findings))
    assert finding.check == "probe-port" and "livenessProbe" in finding.message


def test_missing_configmap_reference_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "templates/deployment.yaml",
        '            - configMapRef:\n                name: {{ include "hardened.fullname" . }}',
        "            - configMapRef:\n                name: shared-settings",
    )
    report = validate_chart(chart)
    assert _failed_steps(report) == {"checks"}
    finding = next(iter(_step(report, "checks").findings))
    assert finding.check == "missing-ref" and "shared-settings" in finding.message


def test_unrendered_secret_without_existing_secret_is_caught(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    # the ci file drops the chart's Secret but points at a name no existingSecret declares
    patch(
        chart,
        "templates/deployment.yaml",
        'name: {{ include "hardened.secretName" . }}',
        'name: {{ include "hardened.secretName" . }}-x',
    )
    report = validate_chart(chart)
    assert _checks(report, "checks") == {"missing-ref"}


def test_values_violating_schema_fail_values_schema(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "ci" / "bad-values.yaml").write_text("image:\n  pullPolicy: Sometimes\n")
    report = validate_chart(chart)
    step = _step(report, "values-schema")
    assert not step.passed
    assert [f.object for f in step.findings] == ["ci/bad-values.yaml"]
    assert "pullPolicy" in step.findings[0].message


def test_defaults_violating_schema_fail_values_schema(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "values.yaml", "greeting: hello", "greeting: 42")
    step = _step(validate_chart(chart), "values-schema")
    assert not step.passed
    # One bad default fails every values set alike: one finding naming them all.
    assert [f.object for f in step.findings] == ["values.yaml"]
    assert "values.yaml, ci/ha-values.yaml violates" in step.findings[0].message


def test_missing_values_schema_is_a_warning(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "values.schema.json").unlink()
    step = _step(validate_chart(chart), "values-schema")
    assert step.passed
    assert [(f.severity, f.message) for f in step.findings] == [
        (Severity.WARNING, "no values.schema.json")
    ]


def test_privileged_root_container_fails_checkov(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    # the shared helper: every container of the chart turns root and privileged
    patch(
        chart,
        "templates/_helpers.tpl",
        "runAsNonRoot: true\nrunAsUser: 10001\nallowPrivilegeEscalation: false\n"
        'readOnlyRootFilesystem: true\ncapabilities:\n  drop: ["ALL"]',
        "privileged: true\nrunAsUser: 0\nallowPrivilegeEscalation: true",
    )
    report = validate_chart(chart)
    assert "checkov" in _failed_steps(report)
    assert report.security.passRate < security.MIN_CHECKOV_PASS_RATE
    failed = {f.check for f in report.security.failedChecks}
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_37"} <= failed
    assert all(f.hint for f in report.security.failedChecks)
    assert {f.check for f in report.security.failedChecks if f.severity is Severity.ERROR} == {
        "CKV_K8S_16"
    }
    assert _step(report, "checkov").findings == report.security.failedChecks


def test_one_privileged_container_fails_checkov_despite_high_rate(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "templates/deployment.yaml",
        '{{- include "hardened.securityContext" . | nindent 12 }}',
        '{{- include "hardened.securityContext" . | nindent 12 }}\n            privileged: true',
    )
    report = validate_chart(chart)
    assert report.security.passRate >= security.MIN_CHECKOV_PASS_RATE
    assert "checkov" in _failed_steps(report)
    assert [f.check for f in _step(report, "checkov").findings if f.severity is Severity.ERROR] == [
        "CKV_K8S_16"
    ]


def test_helm_create_scaffold_matches_reference_pass_rate(tmp_path: Path) -> None:
    # DESIGN.md's anchor: the `helm create` scaffold passes 78.5% of counted checkov checks.
    with helm_python.Chart.create("demo", tmp_path):
        pass
    report = validate_chart(tmp_path / "demo", namespace="ns")
    assert report.security.passRate == pytest.approx(0.785, abs=0.005)
    assert (report.security.passed, report.security.failed) == (139, 38)
    assert not _step(report, "checkov").passed
    lint = _step(report, "lint")
    assert lint.passed
    assert [(f.severity, f.message) for f in lint.findings] == [
        (Severity.INFO, "icon is recommended")
    ]
    # everything else about the scaffold is sound
    assert _failed_steps(report) == {"checkov"}


def test_custom_resources_are_noted_not_failed(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "servicemonitor.yaml").write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\n"
        "  namespace: {{ .Release.Namespace }}\nspec:\n  endpoints: [{port: http}]\n"
    )
    report = validate_chart(chart)
    assert report.passed
    notes = [f for f in _step(report, "schema").findings if f.check == "no-schema"]
    assert [(f.severity, f.object) for f in notes] == [(Severity.INFO, "ServiceMonitor/web")]


def test_unloadable_chart_reports_every_step(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = validate_chart(tmp_path / "empty")
    assert not report.passed
    assert [r.step for r in report.results] == list(STEPS)
    assert "render" in _failed_steps(report)


# --- Kubernetes versions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">=1.25.0-0", ["1.25", NEWEST]),
        (">= 1.27.0-0 < 1.31.0-0", ["1.27", "1.30"]),
        (">=1.26.0-0, <1.31", ["1.26", "1.30"]),
        ("<=1.29.5", ["1.25", "1.29"]),
        ("^1.28", ["1.28", NEWEST]),
        ("~1.29.0", ["1.29"]),
        ("1.26 - 1.29", ["1.26", "1.29"]),
        (">=1.20", ["1.25", NEWEST]),
    ],
)
def test_versions_from_kube_version(constraint: str, expected: list[str]) -> None:
    versions, note = kube_schema.versions_for_constraint(constraint)
    assert versions == expected
    assert note is None


def test_versions_without_kube_version_cover_the_shipped_range() -> None:
    versions, note = kube_schema.versions_for_constraint(None)
    assert versions == [kube_schema.shipped_versions()[0], NEWEST]
    assert note


def test_kube_versions_argument_overrides_chart(tmp_path: Path) -> None:
    report = validate_chart(HARDENED, kube_versions=["v1.30.4", "1.33"])
    assert report.kubeVersions == ["1.30", "1.33"]
    with pytest.raises(InputError):
        validate_chart(HARDENED, kube_versions=["1.99"])


def test_chart_kube_version_upper_bound_is_respected(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", 'kubeVersion: ">=1.27.0-0"', 'kubeVersion: ">=1.28.0-0 <1.31.0-0"')
    assert validate_chart(chart).kubeVersions == ["1.28", "1.30"]


def test_schema_validators_are_cached_across_validations() -> None:
    validate_chart(HARDENED)
    before = kube_schema.validator_for.cache_info()
    engine._MEMO.clear()  # the same chart again: validated anew, not the stored report
    validate_chart(HARDENED)
    after = kube_schema.validator_for.cache_info()
    assert after.misses == before.misses
    assert after.hits > before.hits


def test_crd_with_builtin_kind_name_is_not_checked_as_builtin() -> None:
    assert kube_schema.validator_for("1.30", "Deployment", "apps/v1") is not None
    assert kube_schema.validator_for("1.30", "Deployment", "apps.example.com/v1") is None


# --- checkov hygiene ----------------------------------------------------------------------


def test_checkov_runs_offline_and_leaves_logging_alone() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    validate_chart(HARDENED)
    assert root.handlers == handlers and root.level == level
    import os

    assert os.environ["BC_SKIP_MAPPING"] == "TRUE"
    assert "BC_API_KEY" not in os.environ


_NO_NETWORK_PROBE = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network disabled by test")
socket.socket.connect = refuse
socket.getaddrinfo = refuse
from services.validator import security
from services.validator.engine import render_objects
report = security.scan(render_objects(sys.argv[1]))
assert report.passed > 0, report
print(len(attempts))
"""


def test_checkov_import_and_scan_never_touch_the_network() -> None:
    # a fresh interpreter, so checkov's import-time code is covered too
    out = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK_PROBE, str(HARDENED)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert out.stdout.strip() == "0", out.stderr[-2000:]


# --- own checks on hand-made objects ------------------------------------------------------


def _deploy(name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A minimal Deployment with one container exposing port `http`."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]
                },
            },
        },
    }


def _svc(name: str = "web", selector: dict[str, str] | None = None) -> dict[str, Any]:
    """A Service with one port named http."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector or {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def _ids(objects: list[dict[str, Any]], values: Any = None) -> list[tuple[str, str]]:
    """(check, object) of every finding over hand-made objects."""
    return [(f.check, f.object) for f in checks.run_checks(objects, "ns", values or {})]


def test_checks_accept_a_consistent_set() -> None:
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
    }
    pdb = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}
        },
    }
    deny_all = {"kind": "NetworkPolicy", "metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    ingress = {
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"name": "http"}}},
                            }
                        ]
                    }
                }
            ]
        },
    }
    assert _ids([_deploy(), _svc(), hpa, pdb, deny_all, ingress]) == []


def test_hpa_pdb_netpol_and_ingress_targets_are_checked() -> None:
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}},
    }
    pdb = {
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "p"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}},
    }
    netpol = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "n"},
        "spec": {"podSelector": {"matchLabels": {"app": "api"}}},
    }
    ingress = {
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {
            "defaultBackend": {"service": {"name": "web", "port": {"number": 8080}}},
            "rules": [
                {
                    "http": {
                        "paths": [{"backend": {"service": {"name": "api", "port": {"number": 80}}}}]
                    }
                }
            ],
        },
    }
    assert sorted(_ids([_deploy(), _svc(), hpa, pdb, netpol, ingress])) == [
        ("hpa-target", "HorizontalPodAutoscaler/h"),
        ("ingress-backend", "Ingress/i"),
        ("ingress-backend", "Ingress/i"),
        ("netpol-selector", "NetworkPolicy/n"),
        ("pdb-selector", "PodDisruptionBudget/p"),
    ]


def test_references_honour_existing_secret_and_claim_templates() -> None:
    sts = _deploy("db")
    sts["kind"] = "StatefulSet"
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    pod = sts["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"},
        {"name": "cache", "mountPath": "/cache"},
    ]
    pod["containers"][0]["env"] = [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "pw"}}},
        {
            "name": "OPT",
            "valueFrom": {"secretKeyRef": {"name": "maybe", "key": "k", "optional": True}},
        },
    ]
    values = {"auth": {"existingSecret": "db-creds"}}
    assert _ids([sts], values) == [("missing-ref", "StatefulSet/db")]  # only the undefined mount
    assert sorted(_ids([sts])) == [("missing-ref", "StatefulSet/db")] * 2


def test_external_names_finds_nested_existing_secret_keys() -> None:
    values = {
        "a": {"existingSecret": "x"},
        "b": [{"tlsExistingSecret": "y"}],
        "existingClaim": "z",
        "existingSecretKey": "password",
    }
    assert checks.external_names(values) == {"x", "y", "z"}


def test_runs_proof_is_the_render_and_checks_alone(tmp_path: Path) -> None:
    """The generator's self-check: the same object and runs findings as the full report's
    checks step, from one render, and a chart that does not render is one error."""
    chart = hardened_copy(tmp_path)
    assert not [f for f in engine.runs_proof(chart) if f.severity is Severity.ERROR]
    patch(chart, "templates/service.yaml", "targetPort: http", "targetPort: metrics")
    proof = {f.check for f in engine.runs_proof(chart) if f.severity is Severity.ERROR}
    assert proof == _checks(validate_chart(chart), "checks") == {"target-port"}
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.nope.deeper }}\n")
    broken = engine.runs_proof(chart)
    assert [f.check for f in broken] == ["render"] and broken[0].severity is Severity.ERROR
