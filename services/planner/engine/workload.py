"""The workload: image tag, kind, one-shots, replicas, resources, rollout, data dir."""

from __future__ import annotations

from services.planner import knowledge
from services.planner.engine.record import Recorder
from services.planner.engine.security import accept
from shared.models.requirements import (
    Component,
    JobSpec,
    Resources,
    Standards,
    Toleration,
    UpdateStrategy,
    WorkloadKind,
    split_image,
)


def plan_image(
    spec: Component, profile: knowledge.ImageProfile | None, std: Standards, rec: Recorder
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
        accept(spec, "unpinnedTag", why)
        rec.note(f"{spec.name}.image", f"{spec.name}: {why}.", "warning")


def plan_kind(
    spec: Component,
    profile: knowledge.ImageProfile | None,
    rec: Recorder,
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


def plan_one_shot(
    spec: Component, kind: WorkloadKind, dependents: list[str], rec: Recorder
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


def plan_replicas(spec: Component, kind: WorkloadKind, std: Standards, rec: Recorder) -> int:
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


def plan_resources(
    spec: Component, profile: knowledge.ImageProfile | None, std: Standards, rec: Recorder
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


def plan_strategy(spec: Component, kind: WorkloadKind, rec: Recorder) -> None:
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


def plan_data_dir(spec: Component, profile: knowledge.ImageProfile | None, rec: Recorder) -> None:
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


def plan_gpu(spec: Component, rec: Recorder) -> None:
    """A GPU component tolerates the taint GPU nodes usually carry."""
    if not (spec.resources and spec.resources.limits.gpu):
        return
    if not any(t.key == "nvidia.com/gpu" for t in spec.scheduling.tolerations):
        spec.scheduling.tolerations = [
            *spec.scheduling.tolerations,
            Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
        ]
    rec.decide(
        spec.name,
        "gpu",
        f"{spec.resources.limits.gpu} x nvidia.com/gpu",
        "GPU nodes are usually tainted; the pod tolerates nvidia.com/gpu.",
    )


def plan_disruption_budget(
    spec: Component, kind: WorkloadKind, replicas: int, rec: Recorder
) -> bool:
    """Autoscaling as requested; a PodDisruptionBudget when more than one replica runs."""
    hpa = spec.autoscaling if spec.autoscaling and spec.autoscaling.enabled else None
    if hpa is not None:
        rec.decide(
            spec.name,
            "autoscaling",
            f"{hpa.minReplicas}-{hpa.maxReplicas}",
            "Requested; an HPA on CPU replaces the fixed replica count.",
        )
    pdb = kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET) and (
        replicas > 1 or hpa is not None
    )
    if pdb:
        rec.decide(
            spec.name,
            "pdb",
            "maxUnavailable 1",
            "More than one replica: a drain must not take them all at once.",
        )
    return pdb
