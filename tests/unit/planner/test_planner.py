"""The offline planner: its decisions, their reasons, and the errors it raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.planner.engine import plan_chart
from services.planner.intake import intake, parse_requirements, parse_standards
from shared.errors import InputError, PlanningError
from shared.models import ChartRequirements, Peer, Standards, WorkloadKind

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def req(*components: dict[str, Any], **extra: Any) -> ChartRequirements:
    return ChartRequirements.model_validate(
        {"name": "app", "components": list(components), **extra}
    )


def decisions(plan: Any, component: str) -> dict[str, str]:
    return {d.topic: d.choice for d in plan.decisions if d.component == component}


def test_stateless_service_gets_two_replicas_pdb_and_hardening() -> None:
    plan = plan_chart(req({"name": "web", "image": "ghcr.io/a/web:1.0", "ports": [{"port": 8080}]}))
    web = plan.component("web")
    assert web.kind == WorkloadKind.DEPLOYMENT
    assert web.replicas == 2 and web.pdb
    assert web.spec.security.runAsUser == 10001 and web.spec.security.fsGroup == 10001
    assert web.spec.resources is not None and web.spec.resources.limits.memory
    assert web.spec.probes.readiness is not None and web.spec.probes.readiness.tcpSocket == "http"
    assert web.spec.probes.startup is not None
    assert web.service is not None and web.service.type == "ClusterIP"
    assert not web.automountToken
    assert all(d.reason for d in plan.decisions)


def test_known_database_with_volume_is_statefulset_with_known_port_and_probe() -> None:
    plan = plan_chart(
        req(
            {
                "name": "db",
                "image": "postgres",
                "volumes": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
            }
        )
    )
    db = plan.component("db")
    assert db.kind == WorkloadKind.STATEFULSET and db.replicas == 1 and not db.pdb
    assert [(p.name, p.port) for p in db.spec.ports] == [("postgresql", 5432)]
    assert db.spec.image == "postgres:17.2"
    assert db.spec.env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert db.spec.probes.readiness is not None and db.spec.probes.readiness.exec
    assert "/var/run/postgresql" in db.spec.security.writablePaths
    assert db.service is not None and db.service.headless
    assert decisions(plan, "db")["workload"] == "StatefulSet"


def test_unknown_image_with_volume_is_single_replica_deployment_with_recreate() -> None:
    plan = plan_chart(
        req(
            {
                "name": "app",
                "image": "acme/app:1",
                "ports": [{"port": 80}],
                "volumes": [{"name": "files", "mountPath": "/srv"}],
            }
        )
    )
    app = plan.component("app")
    assert app.kind == WorkloadKind.DEPLOYMENT and app.replicas == 1
    assert app.spec.strategy is not None and app.spec.strategy.type == "Recreate"
    assert "low ports" in decisions(plan, "app")


def test_user_settings_win_over_defaults() -> None:
    plan = plan_chart(
        req(
            {
                "name": "api",
                "image": "acme/api:1",
                "ports": [{"port": 9000, "name": "api"}],
                "replicas": 4,
                "resources": {
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                },
                "probes": {"readiness": {"httpGet": {"path": "/ready", "port": "api"}}},
                "security": {"runAsUser": 20000, "runAsGroup": 20000},
            }
        )
    )
    api = plan.component("api")
    assert api.replicas == 4
    assert api.spec.resources is not None and api.spec.resources.requests.cpu == "1"
    assert api.spec.probes.readiness is not None and api.spec.probes.readiness.httpGet is not None
    assert api.spec.security.runAsUser == 20000


def test_an_explicit_low_uid_is_kept_as_a_declared_exception() -> None:
    plan = plan_chart(req({"name": "a", "image": "x/a:1", "security": {"runAsUser": 999}}))
    security = plan.component("a").spec.security
    assert security.runAsUser == 999 and security.runAsGroup == 999
    [exception] = [e for e in security.exceptions if e.setting == "lowUid"]
    assert exception.setting == "lowUid" and "runAsUser: 999" in exception.reason
    keep = {
        "runAsUser": 999,
        "exceptions": [{"setting": "lowUid", "reason": "image owns its files as uid 999"}],
    }
    plan = plan_chart(req({"name": "a", "image": "x/a:1", "security": keep}))
    assert plan.component("a").spec.security.runAsUser == 999


def test_network_policy_allows_declared_and_discovered_consumers() -> None:
    plan = plan_chart(
        req(
            {"name": "web", "image": "x/web:1", "ports": [{"port": 8080}], "dependsOn": ["api"]},
            {
                "name": "api",
                "image": "x/api:1",
                "ports": [{"port": 9000}],
                "env": {"CACHE": "app-cache:6379"},
            },
            {"name": "cache", "image": "redis:7.4.2"},
        )
    )
    assert plan.component("api").networkPolicy.allowFrom == [Peer(component="web")]
    assert plan.component("cache").networkPolicy.allowFrom == [Peer(component="api", ports=[6379])]
    assert plan.component("web").networkPolicy.allowFrom == []
    assert not plan.component("web").networkPolicy.allowIngressController
    assert plan.component("web").waitFor == ["api"]


def test_cronjob_and_daemonset() -> None:
    plan = plan_chart(
        req(
            {"name": "nightly", "image": "x/job:1", "job": {"schedule": "0 1 * * *"}},
            {"name": "agent", "image": "x/agent:1", "kind": "DaemonSet", "ports": [{"port": 2020}]},
        )
    )
    assert plan.component("nightly").kind == WorkloadKind.CRONJOB
    assert plan.component("nightly").service is None
    assert (
        plan.component("agent").kind == WorkloadKind.DAEMONSET and not plan.component("agent").pdb
    )


def test_gpu_adds_toleration() -> None:
    plan = plan_chart(req({"name": "gpu", "image": "x/gpu:1", "resources": {"limits": {"gpu": 1}}}))
    tolerations = plan.component("gpu").spec.scheduling.tolerations
    assert [t.key for t in tolerations] == ["nvidia.com/gpu"]


def test_standards_apply_and_refuse() -> None:
    org = Standards(
        requiredLabels={"team": "core"}, allowedRegistries=["ghcr.io/acme/"], minReplicas=3
    )
    plan = plan_chart(
        req({"name": "w", "image": "ghcr.io/acme/w:1", "ports": [{"port": 80}]}), standards=org
    )
    assert plan.standards.requiredLabels == {"team": "core"}
    assert plan.component("w").replicas == 3
    with pytest.raises(PlanningError) as err:
        plan_chart(req({"name": "w", "image": "docker.io/evil/w:1"}), standards=org)
    assert err.value.field == "components[0].image" and "allowed registry" in err.value.message


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ({"name": "c", "image": "x:1", "kind": "CronJob"}, "components[0].job.schedule"),
        (
            {"name": "c", "image": "x:1", "kind": "Deployment", "job": {"schedule": "* * * * *"}},
            "components[0].job.schedule",
        ),
        (
            {"name": "c", "image": "x:1", "ingress": {"host": "a.example.com"}},
            "components[0].ingress",
        ),
        (
            {"name": "c", "image": "x:1", "probes": {"disabled": True}},
            "components[0].probes.disabled",
        ),
    ],
)
def test_planning_errors_name_the_field(component: dict[str, Any], field: str) -> None:
    with pytest.raises(PlanningError) as err:
        plan_chart(req(component))
    assert err.value.field == field


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"name": "Bad_Name", "components": [{"name": "a", "image": "x:1"}]}, "name"),
        ({"name": "ok", "components": []}, "components"),
        (
            {"name": "ok", "components": [{"name": "a", "image": "x:1", "replicas": -1}]},
            "components.0.replicas",
        ),
        (
            {"name": "ok", "components": [{"name": "a", "image": "x:1", "prots": []}]},
            "components.0.prots",
        ),
        (
            {
                "name": "ok",
                "components": [{"name": "a", "image": "x:1", "ports": [{"port": 70000}]}],
            },
            "components.0.ports.0.port",
        ),
        (
            {
                "name": "ok",
                "components": [{"name": "a", "image": "x:1", "env": {"P": {"secret": "nope"}}}],
            },
            "<root>",
        ),
    ],
)
def test_invalid_specs_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        parse_requirements(doc)
    assert str(err.value).startswith(field), str(err.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"\xff\xfe\xfa", "UTF-8"),
        (b"a: [1, 2", "not valid YAML"),
        (b"- just\n- a list\n", "neither"),
        (b"x" * (5 * 1024 * 1024 + 1), "limit"),
    ],
)
def test_bad_input_is_a_clear_error(data: bytes, needle: str) -> None:
    with pytest.raises(InputError) as err:
        intake(data)
    assert needle in str(err.value)


def test_every_example_spec_plans() -> None:
    specs = sorted(EXAMPLES.glob("*.yaml"))
    assert len(specs) >= 3
    for path in specs:
        taken = intake(path.read_bytes())
        plan = plan_chart(taken.requirements)
        assert plan.components and plan.decisions, path


def test_standards_file_parses_and_reports_bad_field(tmp_path: Path) -> None:
    assert parse_standards(b"standards:\n  requiredLabels: {team: a}\n").requiredLabels == {
        "team": "a"
    }
    with pytest.raises(InputError) as err:
        parse_standards(b"minReplicas: zero\n", source="org.yaml")
    assert "org.yaml.minReplicas" in str(err.value)


def test_schema_export_round_trips_examples() -> None:
    schema = ChartRequirements.model_json_schema(by_alias=True)
    assert "components" in schema["required"]
    for path in EXAMPLES.glob("*.yaml"):
        ChartRequirements.model_validate(yaml.safe_load(path.read_text()))


def test_stateful_image_without_volume_is_single_statefulset_with_writable_data() -> None:
    plan = plan_chart(req({"name": "cache", "image": "redis:7.4.2"}))
    cache = plan.component("cache")
    assert cache.kind == WorkloadKind.STATEFULSET and cache.replicas == 1
    assert "/data" in cache.spec.security.writablePaths


def test_profile_probe_uses_the_components_own_port_name() -> None:
    plan = plan_chart(
        req(
            {
                "name": "ls",
                "image": "logstash:7.16.1",
                "ports": [{"name": "tcp-9600", "port": 9600}],
            }
        )
    )
    ready = plan.component("ls").spec.probes.readiness
    assert ready is not None and ready.httpGet is not None and ready.httpGet.port == "tcp-9600"
    plan = plan_chart(
        req({"name": "ls", "image": "logstash:7.16.1", "ports": [{"name": "beats", "port": 5044}]})
    )
    ready = plan.component("ls").spec.probes.readiness
    assert ready is not None and ready.tcpSocket == "beats"


def test_validation_report_round_trips_through_json() -> None:
    from shared.models import SecurityScanReport, ValidationReport

    report = ValidationReport(
        chart="c", passed=True, security=SecurityScanReport(passed=3, failed=1)
    )
    again = ValidationReport.model_validate_json(report.model_dump_json(by_alias=True))
    assert again.security.passRate == 0.75 and again == report


def test_native_spec_yaml_bomb_and_duplicate_keys_are_refused() -> None:
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(8)
        )
        + "components: []\nname: x\n"
    )
    with pytest.raises(InputError) as err:
        intake(bomb.encode())
    assert "too complex" in str(err.value) or "expands" in str(err.value)
    with pytest.raises(InputError) as err:
        intake(b"name: a\nname: b\ncomponents: [{name: c, image: 'x:1'}]\n")
    assert "name" in str(err.value)


def test_findings_the_chart_keeps_carry_the_reason() -> None:
    """No port and no healthcheck: nothing to probe; an unknown image with no tag: nothing to pin."""
    plan = plan_chart(req({"name": "clock", "image": "ghcr.io/acme/clock"}))
    reasons = {e.setting: e.reason for e in plan.component("clock").spec.security.exceptions}
    assert "nothing to probe" in reasons["noProbes"]
    assert "clock.image.tag" in reasons["unpinnedTag"]
    pinned = plan_chart(
        req({"name": "web", "image": "ghcr.io/acme/web:1.2.3", "ports": [{"port": 8080}]})
    )
    assert pinned.component("web").spec.security.exceptions == []
