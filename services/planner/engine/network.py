"""Ports and HTTP detection for a component (calls between components are in calls.py)."""

from __future__ import annotations

from services.planner import knowledge
from services.planner.engine.record import Recorder
from shared.models.plan import ServicePlan
from shared.models.requirements import (
    Component,
    Port,
    Standards,
    WorkloadKind,
)

HTTP_PORT_NAMES = {"http", "https", "web", "http-alt", "ui"}

HTTP_PORTS = {80, 443, 3000, 5000, 5601, 8000, 8080, 8081, 8443, 8888, 9000, 9090}


def plan_ports(spec: Component, profile: knowledge.ImageProfile | None, rec: Recorder) -> None:
    """Give well-known images their ports when the input named none; name every port."""
    if (
        not spec.ports
        and profile
        and profile.ports
        and spec.kind not in (WorkloadKind.JOB, WorkloadKind.CRONJOB)
    ):
        spec.ports = [Port(name=p.name, port=p.port, protocol=p.protocol) for p in profile.ports]
        rec.decide(
            spec.name,
            "ports",
            ", ".join(
                f"{p.name}/{p.port}" + ("" if p.protocol.value == "TCP" else f"/{p.protocol.value}")
                for p in profile.ports
            ),
            f"The input named none; these are the {profile.label} image's documented ports "
            "(image knowledge), so siblings can reach it.",
        )
    used: set[str] = set()
    for port in spec.ports:
        if not port.name:
            base = (
                "http"
                if port.port in HTTP_PORTS and port.protocol.value == "TCP"
                else f"{port.protocol.value.lower()}-{port.port}"
            )
            port.name = base if base not in used else f"{base[:9]}-{port.port}"[:15]
        used.add(port.name)


def http_port(spec: Component) -> Port | None:
    """The first port that speaks HTTP, by name or by a well-known number."""
    for port in spec.ports:
        if (
            port.expose
            and port.protocol.value == "TCP"
            and ((port.name or "").split("-")[0] in HTTP_PORT_NAMES or port.port in HTTP_PORTS)
        ):
            return port
    return None


def plan_service(spec: Component, kind: WorkloadKind, rec: Recorder) -> ServicePlan | None:
    """A ClusterIP Service for the exposed ports of a long-running component."""
    exposed = [p for p in spec.ports if p.expose]
    if not exposed or kind in (WorkloadKind.JOB, WorkloadKind.CRONJOB):
        return None
    rec.decide(
        spec.name,
        "service",
        "ClusterIP",
        f"Exposes {', '.join(str(p.port) for p in exposed)} inside the cluster; reach it from "
        "outside through an Ingress, not a node port.",
    )
    if spec.serviceAliases:
        rec.decide(
            spec.name,
            "service aliases",
            ", ".join(spec.serviceAliases),
            "A dependent names no host for it, so its image likely has this name built in: "
            "Services with exactly these names reach it too (two releases in one namespace "
            f"would collide on them; set {spec.name}.service.aliases to [] to drop them).",
        )
    return ServicePlan(headless=kind == WorkloadKind.STATEFULSET, aliases=list(spec.serviceAliases))


def plan_ingress(
    spec: Component, service: ServicePlan | None, std: Standards, rec: Recorder
) -> None:
    """The requested Ingress (TLS per the standards), or an HTTP port's Ingress left off."""
    if spec.ingress:
        if std.requireIngressTls and not spec.ingress.tls:
            spec.ingress.tls = True
            rec.decide(
                spec.name,
                "ingress.tls",
                "on",
                "Organisation standard: every Ingress terminates TLS.",
            )
        rec.decide(spec.name, "ingress", spec.ingress.host, "Requested in the spec.")
    elif service and http_port(spec):
        rec.decide(
            spec.name,
            "ingress",
            "off (values)",
            "HTTP port found but no host given; enable it with ingress.enabled and a host.",
        )
