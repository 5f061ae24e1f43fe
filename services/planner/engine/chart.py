"""The plan of a chart: each component resolved in order, then chart-wide decisions."""

from __future__ import annotations

from collections.abc import Iterable

from services.planner import knowledge
from services.planner.engine.calls import (
    explicit,
    expose_called_ports,
    note_calls_to_disabled,
    plan_network_policy,
    references,
)
from services.planner.engine.network import plan_ingress, plan_ports, plan_service
from services.planner.engine.policy import check_policy, merge_standards
from services.planner.engine.probes import plan_probes
from services.planner.engine.record import Recorder
from services.planner.engine.security import plan_account, plan_security
from services.planner.engine.workload import (
    plan_data_dir,
    plan_disruption_budget,
    plan_gpu,
    plan_image,
    plan_kind,
    plan_one_shot,
    plan_replicas,
    plan_resources,
    plan_strategy,
)
from shared.models.plan import (
    ChartPlan,
    ComponentPlan,
    ImportNote,
    Reference,
)
from shared.models.requirements import (
    ChartRequirements,
    Component,
    Standards,
    WorkloadKind,
)


def plan_chart(
    requirements: ChartRequirements,
    *,
    standards: Standards | None = None,
    notes: Iterable[ImportNote] = (),
) -> ChartPlan:
    """Plan a chart for the requirements under the given organisation standards."""
    std = merge_standards(requirements.standards, standards)
    rec = Recorder()
    rec.notes.extend(notes)
    check_policy(requirements, std)
    requirements = explicit(requirements, rec.decide)
    calls = references(requirements)
    note_calls_to_disabled(requirements, calls, rec.note)
    comps = [
        _plan_component(
            i,
            comp,
            requirements,
            std,
            [c for c in calls if c.callee == comp.name],
            [d.name for d in requirements.components if comp.name in d.dependsOn],
            rec,
        )
        for i, comp in enumerate(requirements.components)
    ]
    _plan_shared_claims(comps, rec)
    rec.decide(
        None,
        "kubeVersion",
        std.kubeVersion,
        "Oldest Kubernetes the chart's APIs (apps/v1, policy/v1, autoscaling/v2) all serve.",
    )
    if std.requiredLabels:
        rec.decide(
            None,
            "labels",
            ", ".join(f"{k}={v}" for k, v in sorted(std.requiredLabels.items())),
            "Organisation standard: required on every object.",
        )
    return ChartPlan(
        name=requirements.name,
        chartVersion=requirements.chartVersion,
        appVersion=requirements.version,
        description=requirements.description
        or f"{requirements.name}: {', '.join(c.name for c in requirements.components)}",
        kubeVersion=std.kubeVersion,
        components=comps,
        references=calls,
        secrets=requirements.secrets,
        standards=std,
        namespace=requirements.namespace,
        repoURL=requirements.repoURL,
        decisions=rec.decisions,
        notes=rec.notes,
    )


def _plan_shared_claims(comps: list[ComponentPlan], rec: Recorder) -> None:
    """One ReadWriteMany claim per shared volume; a StatefulSet keeps its per-replica claim."""
    users: dict[str, list[str]] = {}
    for cp in comps:
        for volume in cp.spec.volumes:
            if volume.sharedClaim is None:
                continue
            if cp.kind == WorkloadKind.STATEFULSET:
                rec.note(
                    f"{cp.spec.name}.volumes.{volume.name}",
                    f"{cp.spec.name}: volume {volume.name} is not shared ({volume.sharedClaim}): "
                    "a StatefulSet gives each replica a claim of its own, so the others do not "
                    "see its files; share data through the app (its API or an object store)",
                    "warning",
                )
                volume.sharedClaim = None
                volume.accessModes = ["ReadWriteOnce"]
            else:
                users.setdefault(volume.sharedClaim, []).append(cp.spec.name)
    for claim, names in users.items():
        rec.decide(
            None,
            f"shared claim {claim}",
            f"one ReadWriteMany claim for {', '.join(dict.fromkeys(names))}",
            "They mount the same data in Compose; one claim keeps them seeing the same files. "
            "The storage class must support ReadWriteMany (set sharedVolumes."
            f"{claim}.storageClass).",
        )


def _plan_component(
    index: int,
    comp: Component,
    req: ChartRequirements,
    std: Standards,
    calls: list[Reference],
    dependents: list[str],
    rec: Recorder,
) -> ComponentPlan:
    """Resolve one component: each concern in turn, every choice recorded."""
    name = comp.name
    spec = comp.model_copy(deep=True)
    profile = knowledge.profile_for(spec.image)
    if profile:
        rec.decide(
            name,
            "knowledge",
            knowledge.image_family(spec.image),
            "Well-known image: its ports, writable paths and probes are known.",
        )
    plan_image(spec, profile, std, rec)
    plan_ports(spec, profile, rec)
    expose_called_ports(spec, calls, rec.decide, rec.note)
    kind = plan_kind(spec, profile, rec, dependents)
    plan_one_shot(spec, kind, dependents, rec)
    replicas = plan_replicas(spec, kind, std, rec)
    plan_security(spec, profile, rec)
    plan_probes(spec, kind, profile, rec)
    plan_resources(spec, profile, std, rec)
    plan_strategy(spec, kind, rec)
    plan_data_dir(spec, profile, rec)
    plan_gpu(spec, rec)
    service = plan_service(spec, kind, rec)
    plan_ingress(spec, service, std, rec)
    pdb = plan_disruption_budget(spec, kind, replicas, rec)
    netpol = plan_network_policy(spec, service, calls, dependents, rec)
    automount = plan_account(spec, rec)
    wait_for, jobs = _plan_start_order(spec, req, rec)
    if not spec.enabled:
        rec.decide(
            name,
            "enabled",
            "off (values)",
            "Its Compose profiles are not active: every object of it is in the chart but off; "
            "enabled=true deploys them all.",
        )
    missing = not spec.image
    if missing:
        rec.note(
            f"components[{index}].image",
            f"{name}: no image given (compose build:); build and push it, then set {name}.image in values. A placeholder is rendered.",
            "warning",
        )
    return ComponentPlan(
        spec=spec,
        kind=kind,
        replicas=replicas,
        service=service,
        pdb=pdb,
        networkPolicy=netpol,
        serviceAccount=True,
        automountToken=automount,
        imageMissing=missing,
        waitFor=wait_for,
        waitForJobs=jobs,
    )


def _plan_start_order(
    spec: Component, req: ChartRequirements, rec: Recorder
) -> tuple[list[str], list[str]]:
    """(Services to wait for, one-shot Jobs to wait for) before the component starts."""
    jobs = [d for d in spec.dependsOn if _component(req, d).kind == WorkloadKind.JOB]
    wait_for = [
        d
        for d in spec.dependsOn
        if d not in jobs
        and (
            any(p.expose for p in _component(req, d).ports)
            or knowledge.profile_for(_component(req, d).image)
        )
    ]
    if wait_for:
        rec.decide(
            spec.name,
            "startup order",
            "wait for " + ", ".join(wait_for),
            "depends_on: an init container waits until their Services answer.",
        )
    if jobs:
        rec.decide(
            spec.name,
            "startup order",
            "wait for Job " + ", ".join(jobs) + " to complete",
            "A one-shot it depends on must finish first: an init container runs `kubectl wait` "
            "on this release revision's Job, with a token mounted into that container only and "
            "a Role that may read just those Jobs.",
        )
    return wait_for, jobs


def _component(req: ChartRequirements, name: str) -> Component:
    return next(c for c in req.components if c.name == name)
