"""Tests of the chart generator: render the generated charts with the real Helm engine."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from services.generator.engine import generate_chart, render_files
from services.generator.naming import config_key, values_key
from services.validator.helm import PLACEHOLDER, with_placeholders
from shared.models.plan import (
    ChartPlan,
    ComponentPlan,
    Decision,
    ImportNote,
    NetworkPolicyPlan,
    Peer,
    ServicePlan,
)
from shared.models.requirements import (
    Autoscaling,
    ChartSecret,
    Component,
    ConfigFile,
    HttpGet,
    Ingress,
    JobSpec,
    Port,
    Probes,
    ProbeSpec,
    ResourceAmounts,
    Resources,
    SecretFile,
    SecretRef,
    Security,
    SecurityException,
    Standards,
    Volume,
    WorkloadKind,
)

NAMESPACE = "apps"
RELEASE = "rel"
INJECTIONS = ['{{ fail "boom" }}', "{{ .Release.Name }}", "{{/* x */}}"]

# --- plans ------------------------------------------------------------------------------


def _resources() -> Resources:
    return Resources(
        requests=ResourceAmounts(cpu="100m", memory="128Mi"),
        limits=ResourceAmounts(cpu="500m", memory="256Mi"),
    )


def _http_probes(port: str = "http") -> Probes:
    return Probes(
        liveness=ProbeSpec(httpGet=HttpGet(path="/healthz", port=port), periodSeconds=10),
        readiness=ProbeSpec(httpGet=HttpGet(path="/ready", port=port), periodSeconds=5),
        startup=ProbeSpec(tcpSocket=port, failureThreshold=30),
    )


def web_plan() -> ComponentPlan:
    """A web Deployment with an ingress, secret env and a config file."""
    spec = Component(
        name="web",
        image="ghcr.io/acme/web:1.4.2",
        ports=[Port(name="http", port=8080, servicePort=80)],
        env={
            "LOG_LEVEL": "info",
            "DB_PASSWORD": SecretRef(secret="db-password"),
            "API_KEY": SecretRef(secret="api-key"),
        },
        envFiles={"FEATURE_X": "on"},
        configFiles=[
            ConfigFile(
                path="/etc/nginx/conf.d/default.conf",
                content="server {\n  listen 8080;\n}\n",
                mode=0o644,
            )
        ],
        secretFiles=[SecretFile(secret="api-key", path="/run/secrets/api-key")],
        resources=_resources(),
        probes=_http_probes(),
        ingress=Ingress(host="shop.example.com", className="nginx"),
        autoscaling=Autoscaling(enabled=True, minReplicas=2, maxReplicas=6),
        security=Security(writablePaths=["/var/cache/nginx"]),
        dependsOn=["db"],
    )
    return ComponentPlan(
        spec=spec,
        kind=WorkloadKind.DEPLOYMENT,
        replicas=2,
        service=ServicePlan(),
        pdb=True,
        networkPolicy=NetworkPolicyPlan(allowIngressController=True),
        waitFor=["db"],
    )


def db_plan() -> ComponentPlan:
    """A postgres StatefulSet with a volume."""
    spec = Component(
        name="db",
        image="docker.io/library/postgres:17.2@sha256:" + "a" * 64,
        ports=[Port(name="postgres", port=5432)],
        env={
            "POSTGRES_PASSWORD": SecretRef(secret="db-password"),
            "PGDATA": "/var/lib/postgresql/data/pgdata",
        },
        volumes=[Volume(name="data", mountPath="/var/lib/postgresql/data", size="10Gi")],
        resources=_resources(),
        probes=Probes(
            liveness=ProbeSpec(exec=["pg_isready", "-U", "postgres"]),
            readiness=ProbeSpec(tcpSocket="postgres"),
        ),
        security=Security(
            runAsUser=10999, runAsGroup=10999, fsGroup=10999, writablePaths=["/var/run/postgresql"]
        ),
    )
    return ComponentPlan(
        spec=spec,
        kind=WorkloadKind.STATEFULSET,
        replicas=1,
        service=ServicePlan(),
        networkPolicy=NetworkPolicyPlan(
            allowFrom=[Peer(component="web", ports=[5432]), Peer(component="report")]
        ),
    )


def report_plan() -> ComponentPlan:
    """A CronJob."""
    spec = Component(
        name="report",
        image="ghcr.io/acme/report:2.0.0",
        command=["/app/report", "--since", "24h"],
        env={"DB_PASSWORD": SecretRef(secret="db-password")},
        resources=_resources(),
        job=JobSpec(schedule="*/15 * * * *", backoffLimit=2),
    )
    return ComponentPlan(spec=spec, kind=WorkloadKind.CRONJOB, replicas=1)


def agent_plan() -> ComponentPlan:
    """A DaemonSet with security exceptions and a privileged port."""
    spec = Component(
        name="node-agent",
        image="quay.io/acme/agent:0.9.1",
        ports=[Port(name="metrics", port=80, expose=False)],
        resources=_resources(),
        probes=Probes(
            liveness=ProbeSpec(tcpSocket="metrics"), readiness=ProbeSpec(tcpSocket="metrics")
        ),
        security=Security(
            capabilities={"add": ["NET_ADMIN"]},
            exceptions=[
                SecurityException(
                    setting="runAsRoot", reason="Reads /proc of every process on the node."
                ),
                SecurityException(
                    setting="writableRootFilesystem",
                    reason="Writes its state to /var/lib/agent.\n# injected",
                ),
                SecurityException(
                    setting="privilegeEscalation", reason="Needs setuid helper for tc."
                ),
                SecurityException(setting="capabilities", reason="NET_ADMIN to shape traffic."),
            ],
        ),
    )
    return ComponentPlan(spec=spec, kind=WorkloadKind.DAEMONSET, replicas=1)


def worker_plan() -> ComponentPlan:
    """A component whose image is missing (compose build:)."""
    spec = Component(
        name="worker",
        image="",
        resources=_resources(),
        probes=Probes(liveness=ProbeSpec(exec=["true"]), readiness=ProbeSpec(exec=["true"])),
    )
    return ComponentPlan(spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1, imageMissing=True)


def migrate_plan() -> ComponentPlan:
    """A one-off Job."""
    spec = Component(
        name="migrate",
        image="ghcr.io/acme/web:1.4.2",
        command=["/app/migrate"],
        env={"DB_PASSWORD": SecretRef(secret="db-password")},
        resources=_resources(),
        job=JobSpec(backoffLimit=1),
    )
    return ComponentPlan(spec=spec, kind=WorkloadKind.JOB, replicas=1, waitFor=["db"])


def shop_plan(**overrides: Any) -> ChartPlan:
    """The richest plan: every kind and most features."""
    data: dict[str, Any] = dict(
        name="shop",
        chartVersion="0.1.0",
        appVersion="1.4.2",
        description="A small shop: web front end, postgres, reports.",
        components=[
            web_plan(),
            db_plan(),
            report_plan(),
            agent_plan(),
            worker_plan(),
            migrate_plan(),
        ],
        secrets=[
            ChartSecret(name="db-password", description="Postgres password", generate=True),
            ChartSecret(name="api-key", description="Payment provider API key"),
        ],
        standards=Standards(
            requiredLabels={"team": "payments"},
            requiredAnnotations={"owner": "payments@example.com"},
        ),
        namespace="shop",
        decisions=[
            Decision(
                component="db",
                topic="workload",
                choice="StatefulSet",
                reason="It has a volume | and needs stable identity.",
            )
        ],
        notes=[
            ImportNote(source="services.worker.build", message="No image; a placeholder is used.")
        ],
    )
    data.update(overrides)
    return ChartPlan(**data)


def minimal_plan() -> ChartPlan:
    """One Deployment with one port."""
    spec = Component(
        name="api",
        image="ghcr.io/acme/api:1.0.0",
        ports=[Port(port=8080)],
        resources=_resources(),
        probes=_http_probes("tcp-8080"),
    )
    return ChartPlan(
        name="tiny",
        chartVersion="1.0.0",
        appVersion="1.0.0",
        description="",
        components=[
            ComponentPlan(
                spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1, service=ServicePlan()
            )
        ],
    )


def injection_plan() -> ChartPlan:
    """Template syntax everywhere a user can write text."""
    evil = " ".join(INJECTIONS)
    spec = Component(
        name="web",
        image="ghcr.io/acme/web:1.0.0",
        command=["/bin/app", evil],
        args=[INJECTIONS[1]],
        ports=[Port(name="http", port=8080)],
        env={"EVIL": evil, "MULTI": f"line one\n{evil}\n  indented: yes\n"},
        envFiles={"FROM_FILE": evil},
        configFiles=[
            ConfigFile(path="/etc/app/app.conf", content=f"a: 1\n{evil}\n"),
            ConfigFile(path="/etc/app/empty.conf", content=""),
        ],
        annotations={"note": evil},
        labels={"tier": "front"},
        ingress=Ingress(host="evil.example.com", annotations={"x": evil}),
        resources=_resources(),
        probes=_http_probes(),
        security=Security(
            exceptions=[
                SecurityException(setting="writableRootFilesystem", reason=f"because\n{evil}\n#: x")
            ]
        ),
    )
    cp = ComponentPlan(spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1, service=ServicePlan())
    return ChartPlan(
        name="evil",
        chartVersion="0.1.0",
        appVersion="1.0.0",
        description=f"desc {evil}\nnext: line",
        components=[cp],
        secrets=[ChartSecret(name="token", description=evil)],
        standards=Standards(requiredLabels={"team": "core"}, requiredAnnotations={"why": evil}),
        decisions=[Decision(topic=evil, choice=evil, reason=evil)],
        notes=[ImportNote(source=evil, message=evil)],
    )


# --- helpers ----------------------------------------------------------------------------


def render(
    chart_dir: Path, values: dict[str, Any] | None = None, *, placeholders: bool = True
) -> dict[str, str]:
    """Render the chart like `helm template rel --namespace apps`.

    Secrets that must be set at install get the validator's placeholders unless told not to.
    """
    if placeholders:
        values = with_placeholders(chart_dir, values)
    with helm_python.Chart.load(str(chart_dir)) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE)


def objects(chart_dir: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object of a render."""
    out: list[dict[str, Any]] = []
    for path, text in sorted(render(chart_dir, values).items()):
        if path.endswith("NOTES.txt"):
            continue
        out += [doc for doc in yaml.safe_load_all(text) if doc]
    return out


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of `kind` named `name`."""
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name}: {[(o['kind'], o['metadata']['name']) for o in objs]}")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload."""
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def ci_values(chart_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ci values file of a chart."""
    return {
        p.name: yaml.safe_load(p.read_text())
        for p in sorted((chart_dir / "ci").glob("*-values.yaml"))
    }


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_chart(shop_plan(), tmp_path_factory.mktemp("shop")).chart_dir


@pytest.fixture(scope="module")
def shop_objs(shop: Path) -> list[dict[str, Any]]:
    return objects(shop)


# --- naming -----------------------------------------------------------------------------


def test_values_key_is_camel_case() -> None:
    assert values_key("web") == "web"
    assert values_key("my-db") == "myDb"
    assert values_key("a-b-c1") == "aBC1"


def test_config_key_sanitises_paths_and_dedupes() -> None:
    taken: set[str] = set()
    assert config_key("/etc/nginx/conf.d/default.conf", taken) == "etc-nginx-conf.d-default.conf"
    assert config_key("/etc/nginx/conf.d/default.conf", taken) == "etc-nginx-conf.d-default.conf-2"
    assert config_key("/a b/c", set()) == "a-b-c"


# --- chart files ------------------------------------------------------------------------


def test_chart_layout(shop: Path) -> None:
    files = {str(p.relative_to(shop)) for p in shop.rglob("*") if p.is_file()}
    for expected in [
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "README.md",
        ".helmignore",
        "argocd/application.yaml",
        ".autopilot/manifest.json",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
        "templates/secret.yaml",
        "templates/tests/test-connection.yaml",
        "templates/web/deployment.yaml",
        "templates/web/service.yaml",
        "templates/web/ingress.yaml",
        "templates/web/hpa.yaml",
        "templates/web/pdb.yaml",
        "templates/web/configmap.yaml",
        "templates/web/networkpolicy.yaml",
        "templates/web/serviceaccount.yaml",
        "templates/db/statefulset.yaml",
        "templates/db/service-headless.yaml",
        "templates/report/cronjob.yaml",
        "templates/node-agent/daemonset.yaml",
        "templates/migrate/job.yaml",
        "ci/autoscaling-values.yaml",
        "ci/existing-secret-values.yaml",
        "ci/no-persistence-values.yaml",
    ]:
        assert expected in files, expected
    assert "ci/ingress-tls-values.yaml" not in files  # the plan already enables an ingress
    ignore = (shop / ".helmignore").read_text()
    for pattern in (".autopilot/", "*.autopilot-new", "argocd/"):
        assert pattern in ignore.splitlines()


def test_chart_yaml(shop: Path) -> None:
    meta = yaml.safe_load((shop / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["name"] == "shop" and meta["type"] == "application"
    assert meta["version"] == "0.1.0" and meta["appVersion"] == "1.4.2"
    assert meta["kubeVersion"] == ">=1.25.0-0" and meta["icon"].startswith("https://")
    assert meta["annotations"]["autopilot.dev/generated-by"] == "k8s-autopilot"
    assert len(meta["annotations"]["autopilot.dev/plan-hash"]) == 64
    assert 'appVersion: "1.4.2"' in (shop / "Chart.yaml").read_text()


def test_argocd_application(shop: Path) -> None:
    app = yaml.safe_load((shop / "argocd/application.yaml").read_text())
    assert app["kind"] == "Application"
    assert app["spec"]["destination"]["namespace"] == "shop"
    assert app["spec"]["source"]["path"] == "shop"
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]


def _undocumented(data: dict[str, Any], params: set[str], prefix: str = "") -> list[str]:
    """Keys of `data` without a `## @param`; a documented key with documented children is a group."""
    missing: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path not in params:
            missing.append(path)
        elif isinstance(value, dict) and any(p.startswith(f"{path}.") for p in params):
            missing += _undocumented(value, params, f"{path}.")
    return missing


def test_every_values_key_is_documented_and_in_the_readme(shop: Path) -> None:
    text = (shop / "values.yaml").read_text()
    params = [ln.split()[2] for ln in text.splitlines() if ln.strip().startswith("## @param ")]
    assert len(params) == len(set(params)) > 100
    assert _undocumented(yaml.safe_load(text), set(params)) == []
    readme = (shop / "README.md").read_text()
    table = [
        row.split("|")[1].strip().strip("`")
        for row in readme.split("## Parameters")[1].splitlines()
        if row.startswith("| `")
    ]
    assert sorted(table) == sorted(params)
    assert (
        "| `web.replicaCount` | Number of replicas (ignored when autoscaling is enabled) | `2` |"
        in readme
    )


def test_readme_sections(shop: Path) -> None:
    readme = (shop / "README.md").read_text()
    for heading in (
        "## What it deploys",
        "## Install",
        "## Plan decisions",
        "## Security exceptions",
        "## Notes",
        "## Parameters",
        "## Images to build",
    ):
        assert heading in readme
    assert "Reads /proc of every process on the node." in readme
    assert "It has a volume \\| and needs stable identity." in readme


def test_security_exception_reasons_are_comments_next_to_values(shop: Path) -> None:
    text = (shop / "values.yaml").read_text()
    assert (
        "readOnlyRootFilesystem: false  # security exception (writableRootFilesystem): "
        "Writes its state to /var/lib/agent. # injected" in text
    )
    assert "runAsUser: 0  # security exception (runAsRoot)" in text


def test_values_yaml_never_holds_secret_values(shop: Path) -> None:
    values = yaml.safe_load((shop / "values.yaml").read_text())
    assert values["secrets"]["values"] == {"db-password": "", "api-key": ""}
    assert values["secrets"]["existingSecret"] == ""
    assert "DB_PASSWORD" not in values["web"]["env"]


# --- rendering --------------------------------------------------------------------------


def test_lint_strict_is_clean_with_defaults_and_every_ci_file(shop: Path) -> None:
    for values in [None, *ci_values(shop).values()]:
        report = helm_python.lint(str(shop), values, strict=True, namespace=NAMESPACE)
        assert not [m for m in report["messages"] if m["severity"] >= 2], report
        assert not report["errors"], report


@pytest.mark.parametrize("version", ["1.25", "1.37"])
def test_every_object_is_valid_kubernetes(shop: Path, version: str) -> None:
    for values in [None, *ci_values(shop).values()]:
        for obj in objects(shop, values):
            kubernetes_validate.validate(obj, version, strict=True)


def test_every_object_is_labelled_and_namespaced(shop_objs: list[dict[str, Any]]) -> None:
    for obj in shop_objs:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/part-of"] == "shop"
        assert labels["helm.sh/chart"] == "shop-0.1.0"
        assert labels["team"] == "payments"
        assert obj["metadata"]["annotations"]["owner"] == "payments@example.com"
        assert obj["metadata"]["namespace"] == NAMESPACE


def test_selectors_match_pod_labels(shop_objs: list[dict[str, Any]]) -> None:
    for obj in shop_objs:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            selector = obj["spec"]["selector"]["matchLabels"]
            assert set(selector) == {
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
            }
            assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
    web_svc = find(shop_objs, "Service", "rel-shop-web")
    web = find(shop_objs, "Deployment", "rel-shop-web")
    assert web_svc["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert web_svc["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_hardened_security_contexts(shop_objs: list[dict[str, Any]]) -> None:
    spec = pod_spec(find(shop_objs, "Deployment", "rel-shop-web"))
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]["securityContext"]
    assert container == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/var/cache/nginx"} <= mounts
    db = pod_spec(find(shop_objs, "StatefulSet", "rel-shop-db"))
    assert db["securityContext"]["runAsUser"] == 10999
    sa = find(shop_objs, "ServiceAccount", "rel-shop-web")
    assert sa["automountServiceAccountToken"] is False


def test_security_exceptions_relax_only_what_they_name(shop_objs: list[dict[str, Any]]) -> None:
    spec = pod_spec(find(shop_objs, "DaemonSet", "rel-shop-node-agent"))
    assert spec["securityContext"]["runAsNonRoot"] is False
    assert spec["securityContext"]["runAsUser"] == 0
    assert "sysctls" not in spec["securityContext"]  # root binds low ports anyway
    ctx = spec["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is False
    assert ctx["allowPrivilegeEscalation"] is True
    assert ctx["privileged"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}


def test_low_port_non_root_gets_unprivileged_port_sysctl(tmp_path: Path) -> None:
    plan = minimal_plan()
    plan.components[0].spec.ports = [Port(name="http", port=80)]
    chart = generate_chart(plan, tmp_path).chart_dir
    spec = pod_spec(find(objects(chart), "Deployment", "rel-tiny-api"))
    assert spec["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
    ]


def test_probes_resources_and_image(shop_objs: list[dict[str, Any]]) -> None:
    container = pod_spec(find(shop_objs, "Deployment", "rel-shop-web"))["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["periodSeconds"] == 5
    assert container["startupProbe"]["tcpSocket"] == {"port": "http"}
    assert "enabled" not in container["livenessProbe"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert container["image"] == "ghcr.io/acme/web:1.4.2"
    assert container["imagePullPolicy"] == "Always"
    db = pod_spec(find(shop_objs, "StatefulSet", "rel-shop-db"))["containers"][0]
    assert db["image"] == "docker.io/library/postgres@sha256:" + "a" * 64
    assert db["imagePullPolicy"] == "IfNotPresent"
    cron = pod_spec(find(shop_objs, "CronJob", "rel-shop-report"))["containers"][0]
    assert "livenessProbe" not in cron and cron["command"] == ["/app/report", "--since", "24h"]


def test_env_is_sorted_quoted_and_secrets_come_from_the_secret(
    shop_objs: list[dict[str, Any]],
) -> None:
    container = pod_spec(find(shop_objs, "Deployment", "rel-shop-web"))["containers"][0]
    env = container["env"]
    assert env[0] == {"name": "LOG_LEVEL", "value": "info"}
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert refs == {
        "API_KEY": {"name": "rel-shop", "key": "api-key"},
        "DB_PASSWORD": {"name": "rel-shop", "key": "db-password"},
    }
    assert container["envFrom"] == [{"configMapRef": {"name": "rel-shop-web-env"}}]
    assert find(shop_objs, "ConfigMap", "rel-shop-web-env")["data"] == {"FEATURE_X": "on"}


def test_config_files_are_mounted_with_subpath_and_mode(shop_objs: list[dict[str, Any]]) -> None:
    cm = find(shop_objs, "ConfigMap", "rel-shop-web-files")
    assert cm["data"] == {"etc-nginx-conf.d-default.conf": "server {\n  listen 8080;\n}\n"}
    spec = pod_spec(find(shop_objs, "Deployment", "rel-shop-web"))
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "config-files")
    assert mount == {
        "name": "config-files",
        "mountPath": "/etc/nginx/conf.d/default.conf",
        "subPath": "etc-nginx-conf.d-default.conf",
        "readOnly": True,
    }
    volume = next(v for v in spec["volumes"] if v["name"] == "config-files")
    assert volume["configMap"]["items"] == [
        {
            "key": "etc-nginx-conf.d-default.conf",
            "path": "etc-nginx-conf.d-default.conf",
            "mode": 0o644,
        }
    ]
    secret_mount = next(
        m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "secret-files"
    )
    assert (
        secret_mount["subPath"] == "api-key" and secret_mount["mountPath"] == "/run/secrets/api-key"
    )


def test_config_change_rolls_pods(shop: Path) -> None:
    def checksum(values: dict[str, Any] | None) -> str:
        dep = find(objects(shop, values), "Deployment", "rel-shop-web")
        return str(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    changed = {
        "web": {
            "configFiles": {
                "etc-nginx-conf.d-default.conf": {
                    "path": "/etc/nginx/conf.d/default.conf",
                    "content": "changed",
                }
            }
        }
    }
    assert checksum(None) != checksum(changed)


def test_statefulset_claims_and_no_persistence(shop: Path, shop_objs: list[dict[str, Any]]) -> None:
    sts = find(shop_objs, "StatefulSet", "rel-shop-db")
    assert sts["spec"]["serviceName"] == "rel-shop-db-headless"
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert find(shop_objs, "Service", "rel-shop-db-headless")["spec"]["clusterIP"] == "None"
    off = find(
        objects(shop, ci_values(shop)["no-persistence-values.yaml"]), "StatefulSet", "rel-shop-db"
    )
    assert "volumeClaimTemplates" not in off["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(off)["volumes"]


def test_pvc_for_deployment_volume_keeps_data(tmp_path: Path) -> None:
    plan = minimal_plan()
    plan.components[0].spec.volumes = [
        Volume(name="uploads", mountPath="/data", size="1Gi", storageClass="fast")
    ]
    chart = generate_chart(plan, tmp_path).chart_dir
    objs = objects(chart)
    pvc = find(objs, "PersistentVolumeClaim", "rel-tiny-api-uploads")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["storageClassName"] == "fast"
    volume = next(
        v
        for v in pod_spec(find(objs, "Deployment", "rel-tiny-api"))["volumes"]
        if v["name"] == "uploads"
    )
    assert volume["persistentVolumeClaim"]["claimName"] == "rel-tiny-api-uploads"


def test_hpa_only_when_enabled(shop: Path, shop_objs: list[dict[str, Any]]) -> None:
    hpas = {o["metadata"]["name"] for o in shop_objs if o["kind"] == "HorizontalPodAutoscaler"}
    assert hpas == {"rel-shop-web"}
    assert "replicas" not in find(shop_objs, "Deployment", "rel-shop-web")["spec"]
    assert find(shop_objs, "Deployment", "rel-shop-worker")["spec"]["replicas"] == 1
    hpa = find(shop_objs, "HorizontalPodAutoscaler", "rel-shop-web")["spec"]
    assert hpa["minReplicas"] == 2 and hpa["maxReplicas"] == 6
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rel-shop-web",
    }
    scaled = objects(shop, ci_values(shop)["autoscaling-values.yaml"])
    assert {o["metadata"]["name"] for o in scaled if o["kind"] == "HorizontalPodAutoscaler"} == {
        "rel-shop-web",
        "rel-shop-worker",
    }


def test_pdb_only_where_planned(shop_objs: list[dict[str, Any]]) -> None:
    pdbs = [o for o in shop_objs if o["kind"] == "PodDisruptionBudget"]
    assert [p["metadata"]["name"] for p in pdbs] == ["rel-shop-web"]
    assert pdbs[0]["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdbs[0]["spec"]


def test_ingress_with_tls(shop_objs: list[dict[str, Any]]) -> None:
    ing = find(shop_objs, "Ingress", "rel-shop-web")["spec"]
    assert ing["ingressClassName"] == "nginx"
    assert ing["tls"] == [{"secretName": "rel-shop-web-tls", "hosts": ["shop.example.com"]}]
    rule = ing["rules"][0]
    assert rule["host"] == "shop.example.com"
    assert rule["http"]["paths"][0]["pathType"] == "Prefix"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "rel-shop-web",
        "port": {"name": "http"},
    }


def test_ingress_ci_file_when_plan_has_none(tmp_path: Path) -> None:
    chart = generate_chart(minimal_plan(), tmp_path).chart_dir
    ci = ci_values(chart)
    assert "ingress-tls-values.yaml" in ci
    assert not [o for o in objects(chart) if o["kind"] == "Ingress"]
    ing = find(objects(chart, ci["ingress-tls-values.yaml"]), "Ingress", "rel-tiny-api")
    assert ing["spec"]["tls"][0]["secretName"] == "rel-tiny-api-tls"


def test_network_policies(shop_objs: list[dict[str, Any]]) -> None:
    db = find(shop_objs, "NetworkPolicy", "rel-shop-db")["spec"]
    assert db["policyTypes"] == ["Ingress"]
    rules = [
        (
            [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in r["from"]],
            r["ports"],
        )
        for r in db["ingress"]
    ]
    # Each caller on the ports it calls (report: every port); the helm test on every port.
    assert rules == [
        (["web"], [{"port": 5432, "protocol": "TCP"}]),
        (["report"], [{"port": 5432, "protocol": "TCP"}]),
        (["test-connection"], [{"port": 5432, "protocol": "TCP"}]),
    ]
    web = find(shop_objs, "NetworkPolicy", "rel-shop-web")["spec"]
    sources = [p for r in web["ingress"] for p in r["from"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    } in sources
    assert {"namespaceSelector": {}, "podSelector": {}} not in sources
    worker = find(shop_objs, "NetworkPolicy", "rel-shop-worker")["spec"]
    assert "ingress" not in worker  # no ports: deny all
    selected = {
        tuple(sorted(o["spec"]["podSelector"]["matchLabels"].items()))
        for o in shop_objs
        if o["kind"] == "NetworkPolicy"
    }
    for obj in shop_objs:
        if obj["kind"] in WORKLOADS:
            template = (
                obj["spec"]["jobTemplate"]["spec"]["template"]
                if obj["kind"] == "CronJob"
                else obj["spec"]["template"]
            )
            labels = template["metadata"]["labels"]
            assert any(set(sel) <= set(labels.items()) for sel in selected), obj["metadata"]["name"]


def test_wait_for_init_container(shop: Path, shop_objs: list[dict[str, Any]]) -> None:
    spec = pod_spec(find(shop_objs, "Deployment", "rel-shop-web"))
    init = spec["initContainers"][0]
    assert init["image"] == "docker.io/library/busybox:1.37.0"
    assert init["args"] == ["300", "rel-shop-db:5432"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert init["resources"]["limits"]["memory"] == "64Mi"
    off = pod_spec(
        find(objects(shop, {"web": {"waitFor": {"enabled": False}}}), "Deployment", "rel-shop-web")
    )
    assert "initContainers" not in off


def test_missing_image_is_a_loud_placeholder(shop: Path, shop_objs: list[dict[str, Any]]) -> None:
    container = pod_spec(find(shop_objs, "Deployment", "rel-shop-worker"))["containers"][0]
    assert container["image"] == "REPLACE-ME/worker:1.4.2"
    notes = render(shop)["shop/templates/NOTES.txt"]
    assert "WARNING: worker has no image yet" in notes
    fixed = render(shop, {"worker": {"image": {"repository": "acme/worker"}}})[
        "shop/templates/NOTES.txt"
    ]
    assert "worker has no image" not in fixed


def test_secret_generation_and_existing_secret(shop: Path, shop_objs: list[dict[str, Any]]) -> None:
    secret = find(shop_objs, "Secret", "rel-shop")
    assert secret["type"] == "Opaque"
    assert base64.b64decode(secret["data"]["api-key"]).decode() == PLACEHOLDER
    generated = base64.b64decode(secret["data"]["db-password"]).decode()
    assert len(generated) == 32 and generated.isalnum()
    given = find(
        objects(shop, {"secrets": {"values": {"api-key": "s3cret"}}}), "Secret", "rel-shop"
    )
    assert base64.b64decode(given["data"]["api-key"]).decode() == "s3cret"
    # A secret the chart cannot generate is required: an install without it fails naming it.
    with pytest.raises(helm_python.HelmError, match=r"secrets\.values\.api-key is required"):
        render(shop, placeholders=False)
    with pytest.raises(helm_python.HelmError, match="or use secrets.existingSecret"):
        render(shop, {"secrets": {"values": {"api-key": ""}}}, placeholders=False)
    existing = objects(shop, ci_values(shop)["existing-secret-values.yaml"])
    assert not [o for o in existing if o["kind"] == "Secret"]
    container = pod_spec(find(existing, "Deployment", "rel-shop-web"))["containers"][0]
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert names == {"shop-credentials"}
    volume = next(
        v
        for v in pod_spec(find(existing, "Deployment", "rel-shop-web"))["volumes"]
        if v["name"] == "secret-files"
    )
    assert volume["secret"]["secretName"] == "shop-credentials"


def test_jobs(shop_objs: list[dict[str, Any]]) -> None:
    cron = find(shop_objs, "CronJob", "rel-shop-report")["spec"]
    assert cron["schedule"] == "*/15 * * * *" and cron["concurrencyPolicy"] == "Forbid"
    assert cron["jobTemplate"]["spec"]["backoffLimit"] == 2
    assert pod_spec(find(shop_objs, "CronJob", "rel-shop-report"))["restartPolicy"] == "OnFailure"
    job = find(shop_objs, "Job", "rel-shop-migrate-1")
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400


def test_helm_test_hook_is_a_hardened_job(shop_objs: list[dict[str, Any]]) -> None:
    job = find(shop_objs, "Job", "rel-shop-test-connection")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod_spec(job)
    assert spec["automountServiceAccountToken"] is False and spec["restartPolicy"] == "Never"
    container = spec["containers"][0]
    assert container["args"] == ["5", "rel-shop-web:80", "rel-shop-db:5432"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"]


def test_release_name_and_overrides(shop: Path) -> None:
    objs = objects(shop, {"fullnameOverride": "store"})
    assert find(objs, "Deployment", "store-web")
    with helm_python.Chart.load(str(shop)) as chart:
        chart.validate_schema({"web": {"image": {"tag": 1.5}}})
    assert (
        pod_spec(
            find(objects(shop, {"web": {"image": {"tag": 1.5}}}), "Deployment", "rel-shop-web")
        )["containers"][0]["image"]
        == "ghcr.io/acme/web:1.5"
    )
    objs = objects(shop, {"global": {"imageRegistry": "mirror.local"}})
    assert (
        pod_spec(find(objs, "Deployment", "rel-shop-web"))["containers"][0]["image"]
        == "mirror.local/acme/web:1.4.2"
    )


# --- schema -----------------------------------------------------------------------------


def test_schema_accepts_defaults_and_ci_files_and_rejects_typos(shop: Path) -> None:
    with helm_python.Chart.load(str(shop)) as chart:
        chart.validate_schema(None)
        for values in ci_values(shop).values():
            chart.validate_schema(values)
        for bad in (
            {"web": {"replicaCount": "two"}},
            {"web": {"replicaCuont": 2}},
            {"web": {"image": {"pullPolicy": "Sometimes"}}},
            {"web": {"service": {"type": "Magic"}}},
            {"wbe": {}},
            {"db": {"containerPorts": [{"name": "x", "containerPort": 0}]}},
        ):
            with pytest.raises(helm_python.HelmValuesError):
                chart.validate_schema(bad)


def _mutations(values: Any, path: tuple[str | int, ...] = ()) -> Any:
    """(path, values) pairs: the defaults with one key set to a wrong (or odd) value, or one
    unknown key added, for every key of the tree."""
    wrong: list[Any] = ["", -1, 70000, 1.5, True, None, ["x"], {"x": 1}]
    if isinstance(values, dict):
        yield (*path, "unknownKey"), {**values, "unknownKey": 1}
        for key, value in values.items():
            for sub_path, sub in _mutations(value, (*path, key)):
                yield sub_path, {**values, key: sub}
    elif isinstance(values, list) and values:
        for sub_path, sub in _mutations(values[0], (*path, 0)):
            yield sub_path, [sub, *values[1:]]
    if path:
        for value in wrong:
            yield path, value


@pytest.mark.slow
def test_shared_schema_checks_exactly_what_the_written_out_schema_checks(tmp_path: Path) -> None:
    """values.schema.json shares repeated parts through definitions: every value the full
    schema accepts it accepts, every one it rejects it rejects, and Helm names the field."""
    import itertools

    import jsonschema

    from services.generator.params import emit_schema
    from services.generator.values import build_tree

    plan = shop_plan()
    chart = generate_chart(plan, tmp_path / "shared").chart_dir
    shared = json.loads((chart / "values.schema.json").read_text())
    assert shared["definitions"]
    full = json.loads(emit_schema(build_tree(plan), "t", share=False))
    assert "definitions" not in full and len(json.dumps(shared)) < len(json.dumps(full)) * 0.7
    jsonschema.Draft7Validator.check_schema(shared)
    check_shared, check_full = jsonschema.Draft7Validator(shared), jsonschema.Draft7Validator(full)
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    rejected: list[tuple[tuple[str | int, ...], dict[str, Any]]] = []
    cases = 0
    # One top-level key at a time (the root requires none): the same checks, less to walk.
    mutated = (
        (path, {key: sub})
        for key, value in defaults.items()
        for path, sub in _mutations(value, (key,))
    )
    for path, values in itertools.islice(mutated, 0, None, 3):  # a third: seconds, not minutes
        cases += 1
        ok = check_full.is_valid(values)
        assert check_shared.is_valid(values) == ok, path
        if not ok:
            rejected.append((path, values))
    assert cases > 1500 and len(rejected) > 500
    # Helm (its own JSON schema library) agrees on a sample, naming the field it refuses.
    written_out = tmp_path / "full"
    written_out.mkdir()
    chart_full = generate_chart(plan, written_out).chart_dir
    (chart_full / "values.schema.json").write_text(json.dumps(full))
    with (
        helm_python.Chart.load(str(chart)) as helm_shared,
        helm_python.Chart.load(str(chart_full)) as helm_full,
    ):
        refused = 0
        for path, values in rejected[:: len(rejected) // 60]:
            # Helm merges over the defaults first (a table set to a scalar keeps the table).
            errors = []
            for loaded in (helm_shared, helm_full):
                try:
                    loaded.validate_schema(loaded.merge_values(values))
                    errors.append("")
                except helm_python.HelmValuesError as exc:
                    errors.append(str(exc))
            assert bool(errors[0]) == bool(errors[1]), (path, errors)
            if errors[0]:
                refused += 1
                where = "/".join(str(p) for p in path[:-1] if p != "unknownKey")
                assert f"/{where}" in errors[0] and str(path[-1]) in errors[0], (path, errors)
        assert refused > 20
        for values in ci_values(chart).values():
            helm_shared.validate_schema(values)
            helm_full.validate_schema(values)


# --- user text is data ------------------------------------------------------------------


def test_template_syntax_in_user_text_renders_literally(tmp_path: Path) -> None:
    chart = generate_chart(injection_plan(), tmp_path).chart_dir
    evil = " ".join(INJECTIONS)
    for path in (chart / "templates").rglob("*"):
        if path.is_file():
            assert 'fail "boom"' not in path.read_text() and "x */" not in path.read_text(), path
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["web"]["env"]["EVIL"] == evil
    assert values["web"]["env"]["MULTI"] == f"line one\n{evil}\n  indented: yes\n"
    assert helm_python.lint(str(chart), strict=True, namespace=NAMESPACE)["messages"] == []
    objs = objects(chart)
    dep = find(objs, "Deployment", "rel-evil-web")
    container = pod_spec(dep)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["EVIL"] == evil and env["MULTI"] == f"line one\n{evil}\n  indented: yes\n"
    assert container["command"] == ["/bin/app", evil] and container["args"] == [INJECTIONS[1]]
    assert dep["spec"]["template"]["metadata"]["annotations"]["note"] == evil
    assert dep["metadata"]["annotations"]["why"] == evil
    files = find(objs, "ConfigMap", "rel-evil-web-files")["data"]
    assert files == {"etc-app-app.conf": f"a: 1\n{evil}\n", "etc-app-empty.conf": ""}
    assert find(objs, "ConfigMap", "rel-evil-web-env")["data"] == {"FROM_FILE": evil}
    assert find(objs, "Ingress", "rel-evil-web")["metadata"]["annotations"]["x"] == evil
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["description"] == f"desc {evil} next: line"
    for obj in objs:
        kubernetes_validate.validate(obj, "1.37", strict=True)
    # Comments stay single-line: the reason's second line must not become YAML.
    text = (chart / "values.yaml").read_text()
    assert yaml.safe_load(text) == values
    assert all(
        "#: x" not in line or line.lstrip().startswith("#") or "  # " in line
        for line in text.splitlines()
    )


# --- security scan ----------------------------------------------------------------------


@pytest.mark.slow
def test_checkov_pass_rate(shop_objs: list[dict[str, Any]], tmp_path: Path) -> None:
    os.environ["BC_SKIP_MAPPING"] = "TRUE"
    from checkov.kubernetes.runner import Runner
    from checkov.runner_filter import RunnerFilter

    manifest = tmp_path / "all.yaml"
    manifest.write_text(yaml.safe_dump_all(shop_objs))
    report = Runner().run(
        root_folder=None,
        files=[str(manifest)],
        runner_filter=RunnerFilter(framework=["kubernetes"]),
    )
    ignored = {"CKV_K8S_43", "CKV_K8S_35"}
    passed = [c for c in report.passed_checks if c.check_id not in ignored]
    failed = [c for c in report.failed_checks if c.check_id not in ignored]
    rate = len(passed) / (len(passed) + len(failed))
    assert rate >= 0.978, [(c.check_id, c.resource) for c in failed]
    # Every failure comes from a documented exception of node-agent.
    assert {c.resource for c in failed} <= {"DaemonSet.apps.rel-shop-node-agent"}


# --- regeneration -----------------------------------------------------------------------


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = render_files(shop_plan())
    assert first == render_files(shop_plan())
    a = generate_chart(shop_plan(), tmp_path / "a").chart_dir
    b = generate_chart(shop_plan(), tmp_path / "b").chart_dir
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert files_a == files_b


def test_regeneration_keeps_user_edits(tmp_path: Path) -> None:
    first = generate_chart(shop_plan(), tmp_path)
    chart = first.chart_dir
    assert first.preserved == [] and "values.yaml" in first.written
    manifest = json.loads((chart / ".autopilot/manifest.json").read_text())
    assert set(manifest["files"]) == set(first.written)

    values = chart / "values.yaml"
    edited = values.read_text().replace("replicaCount: 2", "replicaCount: 5")
    values.write_text(edited)
    deployment = chart / "templates/web/deployment.yaml"
    deployment.write_text(deployment.read_text() + "# my change\n")

    plan = shop_plan(appVersion="1.5.0")
    second = generate_chart(plan, tmp_path)
    assert second.preserved == ["templates/web/deployment.yaml", "values.yaml"]
    assert values.read_text() == edited
    assert (chart / "values.yaml.autopilot-new").exists()
    assert (chart / ".autopilot/pending/templates/web/deployment.yaml").exists()
    assert not (chart / "templates/web/deployment.yaml.autopilot-new").exists()
    assert 'appVersion: "1.5.0"' in (chart / "Chart.yaml").read_text()
    # Pending copies never reach Helm.
    assert helm_python.lint(str(chart), strict=True, namespace=NAMESPACE)["messages"] == []

    third = generate_chart(plan, tmp_path, force=True)
    assert third.preserved == []
    assert "replicaCount: 2" in values.read_text()
    assert not (chart / "values.yaml.autopilot-new").exists()
    assert not (chart / ".autopilot/pending").exists()


def test_regeneration_removes_files_the_plan_no_longer_makes(tmp_path: Path) -> None:
    chart = generate_chart(shop_plan(), tmp_path).chart_dir
    edited = chart / "templates/migrate/configmap.yaml"
    edited.write_text(edited.read_text() + "# keep me\n")
    smaller = shop_plan(
        components=[c for c in shop_plan().components if c.spec.name not in ("report", "migrate")]
    )
    result = generate_chart(smaller, tmp_path)
    assert not (chart / "templates/report").exists()
    assert not (chart / "templates/migrate/job.yaml").exists()
    assert edited.exists() and "templates/migrate/configmap.yaml" in result.preserved


def test_tmpfs_gpu_and_daemonset_budget(tmp_path: Path) -> None:
    plan = minimal_plan()
    spec = plan.components[0].spec
    spec.tmpfs = ["/run/cache"]
    spec.resources = Resources(
        requests=ResourceAmounts(cpu="1", memory="1Gi", gpu=1),
        limits=ResourceAmounts(cpu="2", memory="2Gi"),
    )
    plan.components[0].kind = WorkloadKind.DAEMONSET
    plan.components[0].pdb = True
    chart = generate_chart(plan, tmp_path).chart_dir
    objs = objects(chart)
    spec_out = pod_spec(find(objs, "DaemonSet", "rel-tiny-api"))
    volume = next(v for v in spec_out["volumes"] if v["name"] == "tmpfs-0")
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert {"name": "tmpfs-0", "mountPath": "/run/cache"} in spec_out["containers"][0][
        "volumeMounts"
    ]
    assert spec_out["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    pdb = find(objs, "PodDisruptionBudget", "rel-tiny-api")["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    for obj in objs:
        kubernetes_validate.validate(obj, "1.25", strict=True)


def test_reserved_names_are_refused(tmp_path: Path) -> None:
    from shared.errors import GenerationError

    plan = minimal_plan()
    plan.components[0].spec.volumes = [Volume(name="config-files", mountPath="/data")]
    with pytest.raises(GenerationError):
        generate_chart(plan, tmp_path)


def test_long_chart_and_component_names_stay_within_dns_label_limits(tmp_path: Path) -> None:
    db = db_plan()
    db.spec.name = "a-very-long-database-component-name-xyz"
    plan = shop_plan(
        name="a-rather-long-chart-name-for-a-product-x", components=[db], decisions=[], notes=[]
    )
    chart = generate_chart(plan, tmp_path).chart_dir
    report = helm_python.lint(str(chart), None, strict=True, namespace=NAMESPACE)
    assert not [m for m in report["messages"] if m["severity"] >= 2], report
    names = {(o["kind"], o["metadata"]["name"]) for o in objects(chart)}
    assert any(kind == "StatefulSet" for kind, _ in names)
    for kind, name in names:
        if kind in ("Service", "StatefulSet"):
            # a StatefulSet's controller-revision-hash label adds 11 characters to its name
            assert len(name) <= (52 if kind == "StatefulSet" else 63), (kind, name)


def test_ingress_controller_is_admitted_exactly_while_ingress_is_on(shop: Path) -> None:
    controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    }

    def db_sources(values: dict[str, Any] | None) -> list[Any]:
        policy = find(objects(shop, values), "NetworkPolicy", "rel-shop-db")["spec"]
        return [p for r in policy["ingress"] for p in r["from"]]

    assert controller not in db_sources(None)
    assert controller in db_sources(
        {"db": {"ingress": {"enabled": True, "hostname": "db.example.com"}}}
    )


def test_go_yaml_booleans_stay_strings(tmp_path: Path) -> None:
    """`SKIP_CLAMD=n` (mailcow) must reach the pod as "n": Helm's YAML reads a bare n as false."""
    spec = Component(
        name="app", image="ghcr.io/acme/app:1.0.0", env={"SKIP": "n", "DEV": "Y", "ON": "on"}
    )
    plan = ChartPlan(
        name="yn",
        chartVersion="0.1.0",
        appVersion="1.0.0",
        description="y/n",
        components=[ComponentPlan(spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1)],
    )
    chart = generate_chart(plan, tmp_path).chart_dir
    env = {
        e["name"]: e["value"]
        for e in pod_spec(find(objects(chart), "Deployment", "rel-yn-app"))["containers"][0]["env"]
    }
    assert env == {"SKIP": "n", "DEV": "Y", "ON": "on"}


# --- values.yaml writer ---------------------------------------------------------------------

_TRICKY = [
    "",
    "y",
    "N",
    "n",
    "on",
    "off",
    "yes",
    "true",
    "null",
    "~",
    "-",
    "- a",
    "a - b",
    "1.37.0",
    "1.5",
    "1e3",
    "0x1F",
    "0o17",
    "012",
    "1_000",
    "12:30",
    "2001-12-14",
    "=",
    "<<",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#x",
    "x #",
    " lead",
    "trail ",
    "it's",
    "'q'",
    '"d"',
    "{x}",
    "[1]",
    "*a",
    "&a",
    "!t",
    "%p",
    "@at",
    "`b`",
    "|",
    ">",
    "?",
    "? x",
    ":",
    "a\tb",
    "tab\t",
    "é",
    "日本",
    "\u00a0sp",
    "ctrl\x07",
    "\ufeffbom",
    "line\nbreak",
    "end\n",
    "\n",
    "two\n\nbreaks\n",
    " indented\nx",
    "---",
    "...",
    "--- x",
    "x,y",
    "a, b",
    "http://{host:api}:9000",
    "/healthz",
    "*/15 * * * *",
    "ghcr.io/acme/web",
    "LOG_LEVEL",
    "app.kubernetes.io/name",
    "cc-1042",
    "25%",
    "100m",
    "x" * 130,
]


def _random_key(rng: Any) -> str:
    """A mapping key: mostly plain names, sometimes a tricky one."""
    return rng.choice(_TRICKY) if rng.random() < 0.3 else rng.choice(["a", "b", "image", "x-y"])


def _random_value(rng: Any, depth: int) -> Any:
    """A random values-like structure of the types values.yaml holds (and a few it does not)."""
    pick = rng.random()
    if depth > 0 and pick < 0.25:
        return {_random_key(rng): _random_value(rng, depth - 1) for _ in range(rng.randint(0, 4))}
    if depth > 0 and pick < 0.45:
        return [_random_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    if pick > 0.99:
        return rng.choice([1.5, float("inf")])  # PyYAML's job: the whole document goes to it
    return rng.choice(
        [rng.choice(_TRICKY), rng.choice(_TRICKY), rng.randint(-5, 70000), True, None]
    )


def test_values_writer_writes_what_pyyaml_writes() -> None:
    """The fast values.yaml writer is byte for byte PyYAML's output, or hands over to PyYAML."""
    import random

    from services.generator.params import _pyyaml_dump, dump_yaml

    rng = random.Random(12)
    for _ in range(3000):
        data = {_random_key(rng): _random_value(rng, 4)}
        assert dump_yaml(data) == _pyyaml_dump(data), data
    for text in _TRICKY:
        for data in ({"k": text}, {text: 1}, {"k": [text, {text: text}]}, [text]):
            assert dump_yaml(data) == _pyyaml_dump(data), data


def test_schema_writer_writes_what_json_dumps_writes(shop: Path) -> None:
    """values.schema.json's writer is json.dumps(indent=2, ensure_ascii=False), only faster."""
    from services.generator.params import _indented_json

    schema = json.loads((shop / "values.schema.json").read_text())
    samples = [schema, {}, [], {"a": [], "b": {}}, [1.5, float("inf"), {"x": [True, None, -3]}]]
    samples.append({"s": 'é\u2028"\\\n\x07', "n": [[], [{}], {"k": 10**30}]})
    for value in samples:
        out: list[str] = []
        _indented_json(value, "\n", out)
        assert "".join(out) == json.dumps(value, indent=2, ensure_ascii=False)
