"""What the organisation allows: standards merged, forbidden inputs refused."""

from __future__ import annotations

from shared.errors import PlanningError
from shared.models.requirements import (
    ChartRequirements,
    SecretRef,
    Standards,
    WorkloadKind,
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


def check_policy(req: ChartRequirements, std: Standards) -> None:
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
        if comp.security.capabilities.add and not comp.security.has_exception("capabilities"):
            raise PlanningError(
                f"adding {', '.join(comp.security.capabilities.add)} needs a security exception "
                "'capabilities' with a reason a reviewer can read (security.exceptions)",
                field=f"components[{i}].security.capabilities.add",
            )


def secret_names_used(req: ChartRequirements) -> set[str]:
    """Names of chart secrets some component uses."""
    used = {f.secret for c in req.components for f in c.secretFiles}
    used |= {v.secret for c in req.components for v in c.env.values() if isinstance(v, SecretRef)}
    return used
