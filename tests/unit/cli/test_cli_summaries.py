"""The gate summaries: plain functions from the plan and report models to text."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.remote import gateway_url
from services.cli.review import validate_plan
from services.cli.summaries import (
    AcceptedException,
    changes,
    deployment_summary,
    plan_summary,
    risks,
    security_summary,
)
from services.planner.engine import plan_chart
from services.planner.intake import intake
from shared.errors import InputError
from shared.models.plan import ChartPlan
from shared.models.reports import Finding, SecurityScanReport, Severity
from shared.plan_edit import plan_changes

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shop() -> ChartPlan:
    return plan_chart(intake((ROOT / "examples" / "shop.yaml").read_bytes()).requirements)


@pytest.fixture(scope="module")
def wordpress() -> ChartPlan:
    source = ROOT / "examples" / "compose" / "wordpress-mysql.yaml"
    taken = intake(source.read_bytes(), name="wp")
    return plan_chart(taken.requirements, notes=taken.notes)


def test_plan_summary_has_components_decisions_and_risks(shop: ChartPlan) -> None:
    text = plan_summary(shop)
    assert "\x1b[" not in text
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("db "))
    assert "StatefulSet" in row and "postgres:17.2" in row and "5432" in row and "512Mi" in row
    assert any(line.startswith("storefront") and "2-6 (HPA)" in line for line in lines)
    assert f"Decisions ({len(shop.decisions)})" in text
    assert "Stateless service." in text
    assert "ports assumed postgresql/5432" in text
    assert "api: nothing is known about image ghcr.io/acme/shop-api:2.3.1" in text
    assert "though nothing is known" not in text  # said once, by the planner's note
    assert "\x1b[" in plan_summary(shop, colour=True)


def test_risks_and_changes_of_a_compose_import(wordpress: ChartPlan) -> None:
    found = [text for _, text in risks(wordpress)]
    assert any(t.startswith("dropped:") and "host ports are not published" in t for t in found)
    kinds = {k for k, _ in changes(wordpress)}
    assert {"pinned", "linked", "secret"} <= kinds
    assert (
        "linked",
        "wordpress WORDPRESS_DB_HOST -> db (its Service name, any release)",
    ) in changes(wordpress)


def test_security_summary_groups_findings_and_explains_exclusions() -> None:
    scan = SecurityScanReport(
        passed=90,
        failed=2,
        excluded=["CKV_K8S_35", "CKV_K8S_43"],
        failedChecks=[
            Finding(
                severity=Severity.ERROR,
                tool="checkov",
                check="CKV_K8S_20",
                object="Deployment/web",
                message="privilege escalation allowed",
                hint="set allowPrivilegeEscalation: false",
            ),
        ],
    )
    warning = Finding(severity=Severity.WARNING, tool="helm-lint", message="icon is recommended")
    text = security_summary(
        scan,
        [warning],
        exceptions=[AcceptedException("agent", "hostNetwork", "node exporter reads the host")],
    )
    assert "checkov score 97.8% (90 passed, 2 failed)" in text
    assert text.index("Errors (1)") < text.index("Warnings (1)")
    assert "Deployment/web  checkov:CKV_K8S_20" in text
    assert "fix: set allowPrivilegeEscalation: false" in text
    assert "agent  hostNetwork: node exporter reads the host" in text
    assert "CKV_K8S_43  image digests" in text


def test_deployment_summary_first_release_lists_files_and_diff_is_coloured() -> None:
    first = "--- /dev/null\n+++ shop\n@@ -0,0 +1,3 @@\n+# Service/shop-db\n+kind: Service\n"
    text = deployment_summary(first, release="shop", namespace="shop", previous=None)
    assert "release shop in namespace shop" in text
    assert "First release: 1 object(s)" in text and "+ Service/shop-db" in text
    diff = "--- a\n+++ b\n@@ -1 +1 @@\n-replicas: 2\n+replicas: 3\n"
    text = deployment_summary(diff, release="shop", namespace=None, previous="wf-1", colour=True)
    assert "+1 -1 lines" in text and "\x1b[32m+replicas: 3\x1b[0m" in text


def test_validate_plan_names_the_component_field(shop: ChartPlan) -> None:
    data = shop.dump()
    data["components"][1]["replicas"] = "many"
    with pytest.raises(InputError, match=r"components\.api\.replicas"):
        validate_plan(data)
    data = shop.dump()
    data["secrets"] = []
    with pytest.raises(InputError, match="refers to secret"):
        validate_plan(data)
    data = shop.dump()
    data["components"][1]["replicas"] = 4
    assert validate_plan(data).components[1].replicas == 4


def test_merge_patch_and_gateway_url() -> None:
    old = {
        "name": "a",
        "components": [
            {"spec": {"name": "web", "image": "x"}, "replicas": 1},
            {"spec": {"name": "db", "image": "y"}, "replicas": 1},
        ],
    }
    new = {"name": "a", "components": [{"spec": {"name": "db", "image": "y"}, "replicas": 3}]}
    assert plan_changes(old, new) == {"components": {"web": None, "db": {"replicas": 3}}}
    assert gateway_url("http://gw:8080/v1/") == "http://gw:8080"
    assert gateway_url("http://gw:8080") == "http://gw:8080"
