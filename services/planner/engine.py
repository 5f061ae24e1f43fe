"""The offline planning engine: requirements in, a ChartPlan with a reason for every decision out.

The engine validates what pydantic cannot (policy, cross-component facts), fills every
gap from best practices, the organisation's standards and the image knowledge base, and
records each choice as a Decision so a reviewer sees why the chart looks as it does.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.planner import knowledge, references
from shared.errors import PlanningError
from shared.models.plan import (
    ChartPlan,
    ComponentPlan,
    Decision,
    ImportNote,
    NetworkPolicyPlan,
    Reference,
    ServicePlan,
)
from shared.models.requirements import (
    ChartRequirements,
    Component,
    JobSpec,
    Port,
    Probes,
    ProbeSpec,
    Resources,
    SecretRef,
    SecurityException,
    Standards,
    Toleration,
    UpdateStrategy,
    WorkloadKind,
    split_image,
)

HTTP_PORT_NAMES = {"http", "https", "web", "http-alt", "ui"}
HTTP_PORTS = {80, 443, 3000, 5000, 5601, 8000, 8080, 8081, 8443, 8888, 9000, 9090}
DEFAULT_UID = 10001
LOW_UID_LIMIT = 10000
"""UIDs below this may collide with host users (checkov CKV_K8S_40 wants at least 10000)."""


class _Recorder:
    """Collects decisions and notes while one plan is built."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.notes: list[ImportNote] = []

    def decide(self, component: str | None, topic: str, choice: str, reason: str) -> None:
        self.decisions.append(
            Decision(component=component, topic=topic, choice=choice, reason=reason)
        )

    def note(self, source: str, message: str, severity: str = "warning") -> None:
        self.notes.append(
            ImportNote.model_validate({"source": source, "message": message, "severity": severity})
        )


def merge_standards(spec: Standards, org: Standards | None) -> Standards:
    """Organisation standards override the spec's own; labels and registries are merged."""
    if org is None:
        return spec
    merged = spec.model_copy(deep=True)
    for field in org.model_fields_set:
        setattr(merged, field, getattr(org, field))
    merged.requiredLabels = {**spec.requiredLabels, **org.requiredLabels}
    merged.requiredAnnotations = {**spec.requiredAnnotations, **org.requiredAnnotations}
    return merged


def plan_chart(
    requirements: ChartRequirements,
    *,
    standards: Standards | None = None,
    notes: Iterable[ImportNote] = (),
) -> ChartPlan:
    """Plan a chart for the requirements under the given organisation standards."""
    std = merge_standards(requirements.standards, standards)
    rec = _Recorder()
    rec.notes.extend(notes)
    _check_policy(requirements, std)
    requirements = references.explicit(requirements, rec.decide)
    calls = references.references(requirements)
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


def _plan_shared_claims(comps: list[ComponentPlan], rec: _Recorder) -> None:
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


def _check_policy(req: ChartRequirements, std: Standards) -> None:
    """Refuse what the organisation forbids, naming the field and the fix."""
    for i, comp in enumerate(req.components):
        image = comp.image
        if (
            image
            and std.allowedRegistries
            and not any(
                image.startswith(prefix) or f"docker.io/library/{image}".startswith(prefix)
                for prefix in std.allowedRegistries
            )
        ):
            raise PlanningError(
                f"image {image!r} is not from an allowed registry "
                f"({', '.join(std.allowedRegistries)}); mirror it there or change the standards",
                field=f"components[{i}].image",
            )
        if comp.job and comp.job.schedule and comp.kind not in (None, WorkloadKind.CRONJOB):
            raise PlanningError(
                f"a schedule needs kind CronJob, not {comp.kind.value}; drop kind or the schedule",
                field=f"components[{i}].job.schedule",
            )
        if comp.kind == WorkloadKind.CRONJOB and not (comp.job and comp.job.schedule):
            raise PlanningError(
                "a CronJob needs job.schedule, e.g. '*/15 * * * *'",
                field=f"components[{i}].job.schedule",
            )
        if comp.ingress and not any(p.expose for p in comp.ports):
            raise PlanningError(
                "ingress needs an exposed port; add one under ports",
                field=f"components[{i}].ingress",
            )
        if comp.probes.disabled and not comp.security.has_exception("noProbes"):
            raise PlanningError(
                "probes.disabled needs a security exception 'noProbes' with a reason",
                field=f"components[{i}].probes.disabled",
            )


def _plan_component(
    index: int,
    comp: Component,
    req: ChartRequirements,
    std: Standards,
    calls: list[Reference],
    dependents: list[str],
    rec: _Recorder,
) -> ComponentPlan:
    """Resolve one component."""
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
    _plan_image(spec, profile, std, rec)
    _plan_ports(spec, profile, rec)
    references.expose_called_ports(spec, calls, rec.decide, rec.note)
    kind = _plan_kind(spec, profile, rec, dependents)
    _plan_one_shot(spec, kind, dependents, rec)
    replicas = _plan_replicas(spec, kind, std, rec)
    _plan_security(spec, profile, rec)
    _plan_probes(spec, kind, profile, rec)
    _plan_resources(spec, profile, std, rec)
    _plan_strategy(spec, kind, rec)
    _plan_data_dir(spec, profile, rec)
    if spec.resources and spec.resources.limits.gpu:
        if not any(t.key == "nvidia.com/gpu" for t in spec.scheduling.tolerations):
            spec.scheduling.tolerations = [
                *spec.scheduling.tolerations,
                Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
            ]
        rec.decide(
            name,
            "gpu",
            f"{spec.resources.limits.gpu} x nvidia.com/gpu",
            "GPU nodes are usually tainted; the pod tolerates nvidia.com/gpu.",
        )

    exposed = [p for p in spec.ports if p.expose]
    service = None
    if exposed and kind not in (WorkloadKind.JOB, WorkloadKind.CRONJOB):
        service = ServicePlan(headless=kind == WorkloadKind.STATEFULSET)
        rec.decide(
            name,
            "service",
            "ClusterIP",
            f"Exposes {', '.join(str(p.port) for p in exposed)} inside the cluster; reach it from outside through an Ingress, not a node port.",
        )
    if spec.ingress:
        if std.requireIngressTls and not spec.ingress.tls:
            spec.ingress.tls = True
            rec.decide(
                name, "ingress.tls", "on", "Organisation standard: every Ingress terminates TLS."
            )
        rec.decide(name, "ingress", spec.ingress.host, "Requested in the spec.")
    elif service and _http_port(spec):
        rec.decide(
            name,
            "ingress",
            "off (values)",
            "HTTP port found but no host given; enable it with ingress.enabled and a host.",
        )

    hpa = spec.autoscaling if spec.autoscaling and spec.autoscaling.enabled else None
    autoscale = hpa is not None
    if hpa is not None:
        rec.decide(
            name,
            "autoscaling",
            f"{hpa.minReplicas}-{hpa.maxReplicas}",
            "Requested; an HPA on CPU replaces the fixed replica count.",
        )
    pdb = kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET) and (
        replicas > 1 or autoscale
    )
    if pdb:
        rec.decide(
            name,
            "pdb",
            "maxUnavailable 1",
            "More than one replica: a drain must not take them all at once.",
        )

    # The chart admits the ingress controller exactly while the component's Ingress is enabled.
    netpol = NetworkPolicyPlan(allowFrom=references.peers(spec, calls, dependents))
    if service:
        who = (
            ", ".join(
                p.component + (" on " + "/".join(map(str, p.ports)) if p.ports else "")
                for p in netpol.allowFrom
            )
            or "no sibling"
        )
        extra = (
            " and the ingress controller while its Ingress is on"
            if _http_port(spec) or spec.ingress
            else ""
        )
        rec.decide(
            name,
            "networkPolicy",
            f"from {who}{extra}",
            "Default deny; only components that call it (found in their env, or depends_on) "
            "may connect, on the ports they call.",
        )
    else:
        rec.decide(
            name,
            "networkPolicy",
            "deny all ingress",
            "Nothing listens, so nothing needs to reach it.",
        )

    automount = spec.security.has_exception("serviceAccountToken")
    rec.decide(
        name,
        "serviceAccount",
        "dedicated, token " + ("mounted" if automount else "not mounted"),
        "Least privilege: the app does not call the Kubernetes API unless an exception says so.",
    )
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
            name,
            "startup order",
            "wait for " + ", ".join(wait_for),
            "depends_on: an init container waits until their Services answer.",
        )
    if jobs:
        rec.decide(
            name,
            "startup order",
            "wait for Job " + ", ".join(jobs) + " to complete",
            "A one-shot it depends on must finish first: an init container runs `kubectl wait` "
            "on this release revision's Job, with a token mounted into that container only and "
            "a Role that may read just those Jobs.",
        )
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


def _component(req: ChartRequirements, name: str) -> Component:
    return next(c for c in req.components if c.name == name)


def _http_port(spec: Component) -> Port | None:
    """The first port that speaks HTTP, by name or by a well-known number."""
    for port in spec.ports:
        if (
            port.expose
            and port.protocol.value == "TCP"
            and ((port.name or "").split("-")[0] in HTTP_PORT_NAMES or port.port in HTTP_PORTS)
        ):
            return port
    return None


def _plan_image(
    spec: Component, profile: knowledge.ImageProfile | None, std: Standards, rec: _Recorder
) -> None:
    """Pin floating tags of known images; warn about the rest."""
    if not spec.image:
        return
    repo, tag, digest = split_image(spec.image)
    if digest or tag not in ("", "latest"):
        return
    if profile and profile.pinned_tag:
        spec.image = f"{repo}:{profile.pinned_tag}"
        rec.decide(
            spec.name,
            "image.tag",
            profile.pinned_tag,
            f"'{tag or 'no tag'}' floats; pinned to a tested release so every install runs the same code. Change it in values.",
        )
        rec.note(
            f"{spec.name}.image",
            f"{spec.name}: image {repo}:{tag or 'latest'} floats; pinned to {profile.pinned_tag}.",
            "info",
        )
    elif std.forbidLatestTag:
        why = (
            f"the input names {spec.image} with no fixed tag and the image is not one we know a "
            f"release of; pin a version (or a digest) in {spec.name}.image.tag"
        )
        _accept(spec, "unpinnedTag", why)
        rec.note(f"{spec.name}.image", f"{spec.name}: {why}.", "warning")


def _accept(spec: Component, setting: str, reason: str) -> None:
    """Record a finding the chart keeps on purpose, with the reason a reviewer reads."""
    if not spec.security.has_exception(setting):
        spec.security.exceptions = [
            *spec.security.exceptions,
            SecurityException.model_validate({"setting": setting, "reason": reason}),
        ]


def _plan_ports(spec: Component, profile: knowledge.ImageProfile | None, rec: _Recorder) -> None:
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


def _plan_kind(
    spec: Component,
    profile: knowledge.ImageProfile | None,
    rec: _Recorder,
    dependents: list[str] | None = None,
) -> WorkloadKind:
    """Choose the workload kind."""
    if spec.kind == WorkloadKind.JOB and dependents:
        rec.decide(
            spec.name,
            "workload",
            "Job",
            f"A one-shot (migrations, init) that {', '.join(dependents)} depend on: a plain Job "
            "named per release revision, so every install and upgrade runs it again once the "
            "release's Services exist (a pre-install hook would run before them); the "
            "dependents wait for it to complete.",
        )
        return spec.kind
    if spec.kind:
        rec.decide(spec.name, "workload", spec.kind.value, "Set in the spec.")
        return spec.kind
    if spec.job and spec.job.schedule:
        rec.decide(spec.name, "workload", "CronJob", "It has a schedule.")
        return WorkloadKind.CRONJOB
    if profile and profile.stateful:
        why = (
            "with persistent data: a volumeClaimTemplate per replica"
            if spec.volumes
            else "without a volume in the input: data lives in an emptyDir until you add persistence"
        )
        rec.decide(
            spec.name,
            "workload",
            "StatefulSet",
            f"A stateful image {why}; stable identity and ordered start.",
        )
        return WorkloadKind.STATEFULSET
    reason = (
        "Stateless service."
        if not spec.volumes
        else "Keeps files on a volume but is not a known database; one replica with Recreate keeps the volume single-writer."
    )
    rec.decide(spec.name, "workload", "Deployment", reason)
    return WorkloadKind.DEPLOYMENT


def _plan_one_shot(
    spec: Component, kind: WorkloadKind, dependents: list[str], rec: _Recorder
) -> None:
    """Keep a Job others wait for until the next upgrade replaces it (no TTL)."""
    if kind != WorkloadKind.JOB or not dependents:
        return
    job = spec.job or JobSpec()
    if "ttlSecondsAfterFinished" in job.model_fields_set or job.ttlSecondsAfterFinished is None:
        return
    spec.job = job.model_copy(update={"ttlSecondsAfterFinished": None})
    rec.decide(
        spec.name,
        "job.ttlSecondsAfterFinished",
        "none",
        f"Pods of {', '.join(dependents)} that restart later must still find it complete; the "
        "next upgrade's Job replaces it.",
    )


def _plan_replicas(spec: Component, kind: WorkloadKind, std: Standards, rec: _Recorder) -> int:
    """Replicas: what the spec says, else two for stateless services, one for stateful ones."""
    if kind in (WorkloadKind.JOB, WorkloadKind.CRONJOB, WorkloadKind.DAEMONSET):
        return 1
    if spec.replicas is not None:
        if spec.replicas < std.minReplicas and kind == WorkloadKind.DEPLOYMENT:
            rec.decide(
                spec.name,
                "replicas",
                str(std.minReplicas),
                f"Organisation standard raises {spec.replicas} to the minimum of {std.minReplicas}.",
            )
            return std.minReplicas
        return spec.replicas
    if kind == WorkloadKind.STATEFULSET or spec.volumes:
        rec.decide(
            spec.name,
            "replicas",
            "1",
            "State on a volume: more replicas need the app's own replication.",
        )
        return 1
    replicas = max(2, std.minReplicas) if spec.ports else max(1, std.minReplicas)
    rec.decide(
        spec.name,
        "replicas",
        str(replicas),
        "Two replicas and a PDB keep a service up through node drains."
        if replicas > 1
        else "Worker without ports: one replica until load says otherwise.",
    )
    return replicas


def _plan_security(spec: Component, profile: knowledge.ImageProfile | None, rec: _Recorder) -> None:
    """Harden: non-root high UID, read-only root with writable emptyDirs where the app writes.

    What the knowledge says about the image's own user and its need for root is reported,
    never "fixed": the hardened UID applies unless the spec grants an exception.
    """
    sec = spec.security
    if sec.has_exception("runAsRoot"):
        rec.decide(
            spec.name,
            "securityContext",
            "runs as root",
            next(e.reason for e in sec.exceptions if e.setting == "runAsRoot"),
        )
    else:
        if (
            sec.runAsUser is not None
            and sec.runAsUser < LOW_UID_LIMIT
            and not sec.has_exception("lowUid")
        ):
            # An explicit UID is the user's choice: kept, with its finding declared, never raised.
            reason = f"set explicitly in the spec (runAsUser: {sec.runAsUser})"
            sec.exceptions = [*sec.exceptions, SecurityException(setting="lowUid", reason=reason)]
        if sec.runAsUser is None:
            sec.runAsUser = DEFAULT_UID
            sec.runAsGroup = (
                sec.runAsGroup if sec.runAsGroup and sec.runAsGroup > 10000 else DEFAULT_UID
            )
        sec.runAsGroup = sec.runAsGroup or sec.runAsUser
        sec.fsGroup = sec.fsGroup or sec.runAsGroup
        own = ""
        if profile and profile.uid is not None and profile.uid != sec.runAsUser:
            own = (
                f" The {profile.label} image runs as uid {profile.uid} by default (image "
                f"knowledge); here its volumes and writable paths belong to fsGroup {sec.fsGroup}."
            )
        kept = [e for e in sec.exceptions if e.setting in ("lowUid", "writableRootFilesystem")]
        root_fs = (
            "writable root" if sec.has_exception("writableRootFilesystem") else "read-only root"
        )
        rec.decide(
            spec.name,
            "securityContext",
            f"uid {sec.runAsUser}, {root_fs}, no capabilities",
            (
                "Kept as stated: "
                + "; ".join(f"{_KEPT[e.setting]} {e.reason}" for e in kept)
                + ". Each finding this causes is a declared exception with that reason, not "
                "fixed behind your back; all capabilities dropped, seccomp RuntimeDefault."
                if kept
                else "Hardened default: non-root high UID, all capabilities dropped, seccomp "
                "RuntimeDefault."
            )
            + own,
        )
        if profile is None and spec.image:
            _hardening_risk(spec, rec)
        if profile and profile.needs_root:
            rec.note(
                f"{spec.name}.security",
                f"{spec.name}: the {profile.label} image needs root ({profile.needs_root}); it "
                f"runs as uid {sec.runAsUser} here. If it fails to start, grant a 'runAsRoot' "
                "security exception with a reason or use a non-root build.",
                "warning",
            )
        if profile and profile.note:
            rec.note(f"{spec.name}.image", f"{spec.name}: {profile.note}", "info")
    writable = list(sec.writablePaths)
    known = [p for p in (*profile.writable, profile.data_path) if p] if profile else []
    writable += [p for p in known if p not in writable]
    mounted = {v.mountPath for v in spec.volumes} | set(spec.tmpfs)
    sec.writablePaths = sorted({p for p in writable if p not in mounted and p != "/tmp"})
    if sec.writablePaths:
        from_knowledge = [p for p in sec.writablePaths if p in known]
        rec.decide(
            spec.name,
            "writable paths",
            ", ".join(sec.writablePaths),
            (
                f"The {profile.label} image writes to {', '.join(from_knowledge)} (image knowledge); "
                if profile and from_knowledge
                else "The image writes there; "
            )
            + "emptyDirs keep the root filesystem read-only.",
        )
    if sec.capabilities.add:
        rec.decide(
            spec.name,
            "capabilities",
            ", ".join(sec.capabilities.add),
            "Added on request; everything else stays dropped.",
        )
    if any(p.port < 1024 for p in spec.ports) and not sec.has_exception("runAsRoot"):
        rec.decide(
            spec.name,
            "low ports",
            "net.ipv4.ip_unprivileged_port_start=0",
            "Lets the non-root process bind ports below 1024 without NET_BIND_SERVICE (a safe, namespaced sysctl).",
        )


_KEPT = {"lowUid": "the low UID was", "writableRootFilesystem": "the writable root filesystem was"}


def _hardening_risk(spec: Component, rec: _Recorder) -> None:
    """A risk note: hardening applied to an image nothing is known about, and how to undo it."""
    key = _values_key(spec.name)
    undo = []
    if not spec.security.has_exception("writableRootFilesystem"):
        undo.append(
            f"a read-only root filesystem (only /tmp and the listed writable paths are "
            f"writable; add paths in {key}.writablePaths or set "
            f"{key}.containerSecurityContext.readOnlyRootFilesystem=false)"
        )
    if not spec.security.has_exception("lowUid") and spec.security.runAsUser == DEFAULT_UID:
        undo.append(
            f"UID {DEFAULT_UID} instead of the image's own user (set "
            f"{key}.podSecurityContext.runAsUser and runAsGroup to the image's)"
        )
    if undo:
        rec.note(
            f"{spec.name}.security",
            f"{spec.name}: nothing is known about image {spec.image}, yet it runs hardened: "
            + "; ".join(undo)
            + ". If it fails to start, undo what it needs with those values.",
            "warning",
        )


def _values_key(component: str) -> str:
    """The chart values key of a component (`my-db` -> `myDb`), as the generator names it."""
    head, *rest = component.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def _plan_probes(
    spec: Component, kind: WorkloadKind, profile: knowledge.ImageProfile | None, rec: _Recorder
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
        ready = _bind_port(
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
        _accept(spec, "noProbes", why)
        rec.note(f"{spec.name}.probes", f"{spec.name}: {why}.", "warning")
        return
    live = probes.liveness
    if live is None and profile and profile.liveness:
        live = _bind_port(
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


def _bind_port(
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


def _plan_resources(
    spec: Component, profile: knowledge.ImageProfile | None, std: Standards, rec: _Recorder
) -> None:
    """Fill the requests and limits the spec left out.

    The spec wins; then what the image knowledge says the image needs (a JVM or a model
    server cannot start on a generic default); then the organisation's default; then a
    small default for images nobody knows.
    """
    given = spec.resources or Resources()
    if given.requests.memory and given.limits.memory and given.requests.cpu and given.limits.cpu:
        return
    if profile and profile.resources:
        base, origin = profile.resources, f"the {profile.label} image knowledge"
    elif std.defaultResources:
        base, origin = std.defaultResources, "the organisation default"
    else:
        base, origin = knowledge.DEFAULT_RESOURCES, "the default for an image nobody knows"
    requests = {**base.requests.dump(), **given.requests.dump()}
    limits = {**base.limits.dump(), **given.limits.dump()}
    filled = [f"requests.{k}" for k in requests if k not in given.requests.dump()]
    filled += [f"limits.{k}" for k in limits if k not in given.limits.dump()]
    adjusted = []
    for key in ("cpu", "memory"):
        request, limit = requests.get(key), limits.get(key)
        if not (request and limit) or knowledge.quantity(request) <= knowledge.quantity(limit):
            continue
        # An explicit value wins over the filled one it conflicts with.
        if f"limits.{key}" in filled:
            limits[key] = request
            adjusted.append(f"limits.{key} raised to the requested {request}")
        else:
            requests[key] = limit
            adjusted.append(f"requests.{key} lowered to the {limit} limit")
    merged = Resources.model_validate({"requests": requests, "limits": limits})
    spec.resources = merged
    what = "None given" if len(filled) >= 4 else "Filled " + ", ".join(filled)
    rec.decide(
        spec.name,
        "resources",
        f"requests {merged.requests.cpu}/{merged.requests.memory}, limits {merged.limits.cpu}/{merged.limits.memory}",
        f"{what} from {origin}"
        + (f"; {', '.join(adjusted)}" if adjusted else "")
        + ". Tune after watching real usage.",
    )


def _plan_strategy(spec: Component, kind: WorkloadKind, rec: _Recorder) -> None:
    """Recreate for single-writer volumes; rolling updates otherwise."""
    if spec.strategy or kind != WorkloadKind.DEPLOYMENT:
        return
    if any("ReadWriteOnce" in v.accessModes for v in spec.volumes):
        spec.strategy = UpdateStrategy(type="Recreate")
        rec.decide(
            spec.name,
            "strategy",
            "Recreate",
            "A ReadWriteOnce volume cannot attach to the old and the new pod at once.",
        )
    else:
        spec.strategy = UpdateStrategy(type="RollingUpdate", maxSurge="25%", maxUnavailable=0)


def _plan_data_dir(spec: Component, profile: knowledge.ImageProfile | None, rec: _Recorder) -> None:
    """Set what an image needs to keep its data on a volume mounted at its data directory."""
    if not profile or not profile.data_env:
        return
    if not any(v.mountPath.rstrip("/") == profile.data_path for v in spec.volumes):
        return
    for key, value in profile.data_env.items():
        if key in spec.env:
            continue
        spec.env[key] = value
        rec.decide(
            spec.name,
            key,
            value,
            f"The {profile.label} image keeps its data at {profile.data_path} (image knowledge): "
            + (profile.data_why or f"it writes where {key} points."),
        )


def secret_names_used(req: ChartRequirements) -> set[str]:
    """Names of chart secrets some component uses."""
    used = {f.secret for c in req.components for f in c.secretFiles}
    used |= {v.secret for c in req.components for v in c.env.values() if isinstance(v, SecretRef)}
    return used
