"""Health probes: the spec's, the image knowledge's, or a TCP check."""

from __future__ import annotations

from services.planner import knowledge
from services.planner.engine.record import Recorder
from services.planner.engine.security import accept
from shared.models.requirements import (
    Component,
    Probes,
    ProbeSpec,
    WorkloadKind,
)


def plan_probes(
    spec: Component, kind: WorkloadKind, profile: knowledge.ImageProfile | None, rec: Recorder
) -> None:
    """Fill missing probes from the image knowledge, else a TCP check on the first port."""
    probes = spec.probes
    if probes.disabled or kind in (WorkloadKind.JOB, WorkloadKind.CRONJOB):
        spec.probes = Probes(disabled=probes.disabled)
        return
    first = next((p for p in spec.ports if p.protocol.value == "TCP"), None)
    ready: ProbeSpec | None = probes.readiness
    source = "spec"
    if ready is None and profile and profile.readiness:
        ready = bind_port(
            knowledge.probe(profile.readiness, periodSeconds=10, timeoutSeconds=5), spec, profile
        )
        source = f"{profile.label} image knowledge"
    if ready is None and probes.liveness is not None:
        ready = probes.liveness
    if ready is None and first is not None:
        ready = ProbeSpec(tcpSocket=first.name, periodSeconds=10, timeoutSeconds=5)
        source = "TCP check on the first port"
    if ready is None:
        why = (
            "no TCP port and no healthcheck in the input, so there is nothing to probe; add a "
            f"healthcheck (or {spec.name}.livenessProbe/readinessProbe in values) to enable probes"
        )
        accept(spec, "noProbes", why)
        rec.note(f"{spec.name}.probes", f"{spec.name}: {why}.", "warning")
        return
    live = probes.liveness
    if live is None and profile and profile.liveness:
        live = bind_port(
            knowledge.probe(profile.liveness, periodSeconds=20, timeoutSeconds=5), spec, profile
        )
    if live is None:
        live = ready.model_copy(
            update={"periodSeconds": max(ready.periodSeconds, 20), "failureThreshold": 6}
        )
    start = probes.startup
    budget = ""
    if start is None:
        seconds = profile.startup_seconds if profile else 60
        start = ready.model_copy(
            update={
                "periodSeconds": 5,
                "failureThreshold": max(1, seconds // 5),
                "initialDelaySeconds": 0,
            }
        )
        if profile:
            budget = (
                f" The {profile.label} image gets {seconds}s for a first start (image knowledge)."
            )
    spec.probes = Probes(liveness=live, readiness=ready, startup=start)
    rec.decide(
        spec.name,
        "probes",
        source,
        "Readiness gates traffic, liveness restarts a hung process, the startup probe covers slow first starts."
        + budget,
    )


def bind_port(
    probe: ProbeSpec | None, spec: Component, profile: knowledge.ImageProfile
) -> ProbeSpec | None:
    """Point a known probe's named port at the component's own port with that number.

    The knowledge names ports its own way ('http'); the input may have named the same
    container port differently ('tcp-9600'). A probe whose port the component does not
    have at all is dropped, so the caller falls back to a TCP check.
    """
    if probe is None or (probe.httpGet is None and probe.tcpSocket is None):
        return probe
    wanted = probe.httpGet.port if probe.httpGet else probe.tcpSocket
    if wanted in {p.name for p in spec.ports}:
        return probe
    number = profile.port_number(wanted) if isinstance(wanted, str) else wanted
    port = next((p for p in spec.ports if p.port == number), None)
    if port is None or port.name is None:
        return None
    if probe.httpGet:
        return probe.model_copy(
            update={"httpGet": probe.httpGet.model_copy(update={"port": port.name})}
        )
    return probe.model_copy(update={"tcpSocket": port.name})
