"""What a Compose file (or spec) states explicitly is kept: a low UID, a writable root
filesystem, the shm size. Each finding that causes is a declared exception with its reason."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from services.generator.engine import generate_chart
from services.planner.compose.importer import import_compose
from services.planner.engine import plan_chart
from services.validator import security
from services.validator.engine import render_objects, validate_chart
from shared.models.requirements import ChartRequirements, Component

COMPOSE = """
services:
  app:
    image: ghcr.io/acme/app:1.0
    user: "1000:1000"
    read_only: false
    shm_size: 1g
    ports: ["8080:8080"]
  web:
    image: nginx:1.27
    user: "101"
    read_only: true
    ports: ["80:80"]
"""


def _import(text: str) -> dict[str, Component]:
    result = import_compose(textwrap.dedent(text), name="shop", environ={})
    return {c.name: c for c in result.requirements.components}


def test_compose_user_read_only_and_shm_size_are_kept() -> None:
    comps = _import(COMPOSE)
    app, web = comps["app"], comps["web"]
    assert (app.security.runAsUser, app.security.runAsGroup) == (1000, 1000)
    reasons = {e.setting: e.reason for e in app.security.exceptions}
    assert reasons == {
        "lowUid": "set explicitly in Compose (user: 1000:1000)",
        "writableRootFilesystem": "set explicitly in Compose (read_only: false)",
    }
    assert app.shmSize == "1Gi" and "/dev/shm" in app.tmpfs
    assert web.security.runAsUser == 101
    assert [e.setting for e in web.security.exceptions] == ["lowUid"]  # read_only: true is default


def test_a_high_uid_needs_no_exception() -> None:
    comps = _import('services: {a: {image: "x/a:1", user: "10500"}}')
    assert comps["a"].security.runAsUser == 10500 and not comps["a"].security.exceptions


def test_the_plan_keeps_them_and_says_so() -> None:
    result = import_compose(COMPOSE, name="shop", environ={})
    plan = plan_chart(result.requirements)
    app = plan.component("app").spec.security
    assert app.runAsUser == 1000 and app.fsGroup == 1000
    decision = next(
        d for d in plan.decisions if d.component == "app" and d.topic == "securityContext"
    )
    assert decision.choice == "uid 1000, writable root, no capabilities"
    assert "set explicitly in Compose (user: 1000:1000)" in decision.reason
    assert "not fixed" in decision.reason
    assert not [n for n in plan.notes if "raised to" in n.message]


def test_native_spec_low_uid_is_kept_too() -> None:
    req = ChartRequirements.model_validate(
        {
            "name": "a",
            "components": [{"name": "api", "image": "x/a:1", "security": {"runAsUser": 1000}}],
        }
    )
    sec = plan_chart(req).component("api").spec.security
    assert sec.runAsUser == 1000
    assert [(e.setting, e.reason) for e in sec.exceptions if e.setting == "lowUid"] == [
        ("lowUid", "set explicitly in the spec (runAsUser: 1000)")
    ]


def test_hardening_an_unknown_image_is_a_risk_with_the_values_key_that_undoes_it() -> None:
    req = ChartRequirements.model_validate(
        {
            "name": "a",
            "components": [
                {"name": "my-api", "image": "ghcr.io/acme/api:2.0", "ports": [{"port": 8080}]},
                {"name": "web", "image": "nginx:1.27", "ports": [{"port": 80}]},
            ],
        }
    )
    plan = plan_chart(req)
    risks = [n for n in plan.notes if n.severity == "warning" and n.source == "my-api.security"]
    assert len(risks) == 1
    assert "myApi.containerSecurityContext.readOnlyRootFilesystem" in risks[0].message
    assert "myApi.podSecurityContext.runAsUser" in risks[0].message
    assert not [
        n for n in plan.notes if n.source == "web.security" and "nothing is known" in n.message
    ]


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = plan_chart(import_compose(COMPOSE, name="shop", environ={}).requirements)
    return generate_chart(plan, tmp_path_factory.mktemp("explicit")).chart_dir


def test_rendered_chart_keeps_them_and_declares_the_findings(chart: Path) -> None:
    objs = render_objects(chart, namespace="apps", release="rel")
    app = next(
        o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "rel-shop-app"
    )
    pod = app["spec"]["template"]["spec"]
    assert (
        pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["runAsGroup"] == 1000
    )
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    shm = next(m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm")
    volume = next(v for v in pod["volumes"] if v["name"] == shm["name"])
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    annotations = app["metadata"]["annotations"]
    assert "CKV_K8S_40=lowUid: set explicitly in Compose (user: 1000:1000)" in annotations.values()
    assert "CKV_K8S_22=writableRootFilesystem: set explicitly in Compose (read_only: false)" in (
        annotations.values()
    )


def test_validator_accepts_declared_exceptions_with_their_reasons(chart: Path) -> None:
    report = validate_chart(chart, release="rel")
    accepted = {(f.check, f.object) for f in report.security.accepted}
    assert ("CKV_K8S_40", "Deployment/rel-shop-app") in accepted
    assert ("CKV_K8S_22", "Deployment/rel-shop-app") in accepted
    assert ("CKV_K8S_40", "Deployment/rel-shop-web") in accepted
    assert all("set explicitly in Compose" in f.message for f in report.security.accepted)
    assert not [f for f in report.security.failedChecks if f.check in ("CKV_K8S_40", "CKV_K8S_22")]
    assert report.security.passRate >= 0.95


def _deployment(annotations: dict[str, str], **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "n", "annotations": annotations},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27", **container}]},
            },
        },
    }


def test_a_skip_without_a_reason_or_of_a_critical_check_still_fails() -> None:
    report = security.scan(
        [
            _deployment(
                {
                    "checkov.io/skip1": "CKV_K8S_22",
                    "checkov.io/skip2": "CKV_K8S_16=we like it",
                    "checkov.io/skip3": "CKV_K8S_40=image owns its files as uid 1000",
                },
                securityContext={"privileged": True, "runAsUser": 1000},
            )
        ]
    )
    failed = {f.check: f.message for f in report.failedChecks}
    assert "skipped without a reason" in failed["CKV_K8S_22"]
    assert "cannot be skipped" in failed["CKV_K8S_16"]
    assert [f.check for f in report.accepted] == ["CKV_K8S_40"]
    assert "image owns its files as uid 1000" in report.accepted[0].message
