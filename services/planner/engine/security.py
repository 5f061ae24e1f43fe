"""Pod and container security: hardened defaults, kept explicit choices, reasoned exceptions."""

from __future__ import annotations

from services.planner import knowledge
from services.planner.engine.record import Recorder
from shared.models.requirements import (
    Component,
    SecurityException,
)

DEFAULT_UID = 10001

LOW_UID_LIMIT = 10000
"""UIDs below this may collide with host users (checkov CKV_K8S_40 wants at least 10000)."""


def accept(spec: Component, setting: str, reason: str) -> None:
    """Record a finding the chart keeps on purpose, with the reason a reviewer reads."""
    if not spec.security.has_exception(setting):
        spec.security.exceptions = [
            *spec.security.exceptions,
            SecurityException.model_validate({"setting": setting, "reason": reason}),
        ]


def plan_security(spec: Component, profile: knowledge.ImageProfile | None, rec: Recorder) -> None:
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
            hardening_risk(spec, rec)
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


def hardening_risk(spec: Component, rec: Recorder) -> None:
    """A risk note: hardening applied to an image nothing is known about, and how to undo it."""
    key = values_key(spec.name)
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


def values_key(component: str) -> str:
    """The chart values key of a component (`my-db` -> `myDb`), as the generator names it."""
    head, *rest = component.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def plan_account(spec: Component, rec: Recorder) -> bool:
    """A dedicated ServiceAccount; whether its token is mounted (only by exception)."""
    automount = spec.security.has_exception("serviceAccountToken")
    rec.decide(
        spec.name,
        "serviceAccount",
        "dedicated, token " + ("mounted" if automount else "not mounted"),
        "Least privilege: the app does not call the Kubernetes API unless an exception says so.",
    )
    return automount
