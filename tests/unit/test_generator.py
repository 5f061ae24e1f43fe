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
from shared.models.plan import (
    ChartPlan,
    ComponentPlan,
    Decision,
    ImportNote,
    NetworkPolicyPlan,
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
        env={"LOG_LEVEL": "info", "DB_PASSWORD": SecretRef(secret="db-password"),
             "API_KEY": SecretRef(secret="api-key")},
        envFiles={"FEATURE_X": "on"},
        configFiles=[ConfigFile(path="/etc/nginx/conf.d/default.conf",
                                content="server {\n  listen 8080;\n}\n", mode=0o644)],
        secretFiles=[SecretFile(secret="api-key", path="/run/secrets/api-key")],
        resources=_resources(),
        probes=_http_probes(),
        ingress=Ingress(host="shop.example.com", className="nginx"),
        autoscaling=Autoscaling(enabled=True, minReplicas=2, maxReplicas=6),
        security=Security(writablePaths=["/var/cache/nginx"]),
        dependsOn=["db"],
    )
    return ComponentPlan(
        spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=2, service=ServicePlan(), pdb=True,
        networkPolicy=NetworkPolicyPlan(allowIngressController=True), waitFor=["db"],
    )


def db_plan() -> ComponentPlan:
    """A postgres StatefulSet with a volume."""
    spec = Component(
        name="db",
        image="docker.io/library/postgres:17.2@sha256:" + "a" * 64,
        ports=[Port(name="postgres", port=5432)],
        env={"POSTGRES_PASSWORD": SecretRef(secret="db-password"), "PGDATA": "/var/lib/postgresql/data/pgdata"},
        volumes=[Volume(name="data", mountPath="/var/lib/postgresql/data", size="10Gi")],
        resources=_resources(),
        probes=Probes(
            liveness=ProbeSpec(exec=["pg_isready", "-U", "postgres"]),
            readiness=ProbeSpec(tcpSocket="postgres"),
        ),
        security=Security(runAsUser=10999, runAsGroup=10999, fsGroup=10999, writablePaths=["/var/run/postgresql"]),
    )
    return ComponentPlan(
        spec=spec, kind=WorkloadKind.STATEFULSET, replicas=1, service=ServicePlan(),
        networkPolicy=NetworkPolicyPlan(allowFrom=["web", "report"]),
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
        probes=Probes(liveness=ProbeSpec(tcpSocket="metrics"), readiness=ProbeSpec(tcpSocket="metrics")),
        security=Security(
            capabilities={"add": ["NET_ADMIN"]},
            exceptions=[
                SecurityException(setting="runAsRoot", reason="Reads /proc of every process on the node."),
                SecurityException(setting="writableRootFilesystem", reason="Writes its state to /var/lib/agent.\n# injected"),
                SecurityException(setting="privilegeEscalation", reason="Needs setuid helper for tc."),
                SecurityException(setting="capabilities", reason="NET_ADMIN to shape traffic."),
            ],
        ),
    )
    return ComponentPlan(spec=spec, kind=WorkloadKind.DAEMONSET, replicas=1)


def worker_plan() -> ComponentPlan:
    """A component whose image is missing (compose build:)."""
    spec = Component(name="worker", image="", resources=_resources(),
                     probes=Probes(liveness=ProbeSpec(exec=["true"]), readiness=ProbeSpec(exec=["true"])))
    return ComponentPlan(spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1, imageMissing=True)


def migrate_plan() -> ComponentPlan:
    """A one-off Job."""
    spec = Component(name="migrate", image="ghcr.io/acme/web:1.4.2", command=["/app/migrate"],
                     env={"DB_PASSWORD": SecretRef(secret="db-password")}, resources=_resources(),
                     job=JobSpec(backoffLimit=1))
    return ComponentPlan(spec=spec, kind=WorkloadKind.JOB, replicas=1, waitFor=["db"])


def shop_plan(**overrides: Any) -> ChartPlan:
    """The richest plan: every kind and most features."""
    data: dict[str, Any] = dict(
        name="shop",
        chartVersion="0.1.0",
        appVersion="1.4.2",
        description="A small shop: web front end, postgres, reports.",
        components=[web_plan(), db_plan(), report_plan(), agent_plan(), worker_plan(), migrate_plan()],
        secrets=[
            ChartSecret(name="db-password", description="Postgres password", generate=True),
            ChartSecret(name="api-key", description="Payment provider API key"),
        ],
        standards=Standards(requiredLabels={"team": "payments"}, requiredAnnotations={"owner": "payments@example.com"}),
        namespace="shop",
        decisions=[Decision(component="db", topic="workload", choice="StatefulSet",
                            reason="It has a volume | and needs stable identity.")],
        notes=[ImportNote(source="services.worker.build", message="No image; a placeholder is used.")],
    )
    data.update(overrides)
    return ChartPlan(**data)


def minimal_plan() -> ChartPlan:
    """One Deployment with one port."""
    spec = Component(name="api", image="ghcr.io/acme/api:1.0.0", ports=[Port(port=8080)],
                     resources=_resources(), probes=_http_probes("tcp-8080"))
    return ChartPlan(name="tiny", chartVersion="1.0.0", appVersion="1.0.0", description="",
                     components=[ComponentPlan(spec=spec, kind=WorkloadKind.DEPLOYMENT, replicas=1,
                                               service=ServicePlan())])
