"""Turn a ChartPlan into the values metadata tree (defaults, descriptions, schemas)."""

from __future__ import annotations

from typing import Any

from services.generator.naming import config_key, port_name, values_key
from services.generator.params import (
    Group,
    Node,
    Param,
    s_arr,
    s_bool,
    s_enum,
    s_int,
    s_nullable,
    s_obj,
    s_str,
)
from shared.errors import GenerationError
from shared.models.plan import ChartPlan, ComponentPlan
from shared.models.requirements import (
    Autoscaling,
    ProbeSpec,
    ResourceAmounts,
    Resources,
    SecretRef,
    ServiceRef,
    Volume,
    WorkloadKind,
    split_image,
)

DEFAULT_UID = 10001
UTILITY_IMAGE = ("docker.io", "library/busybox", "1.37.0")
# The official kubectl image (shell-free); waits for one-shot Jobs with `kubectl wait`.
KUBECTL_IMAGE = ("registry.k8s.io", "kubectl", "v1.34.1")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
PROTOCOLS = ("TCP", "UDP", "SCTP")
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
SCALABLE = (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET)
BATCH = (WorkloadKind.JOB, WorkloadKind.CRONJOB)

S_INT_OR_STR: dict[str, Any] = {"type": ["integer", "string"]}
S_STR_MAP: dict[str, Any] = s_obj(additionalProperties={"type": "string"})


def is_batch(cp: ComponentPlan) -> bool:
    """Whether the component runs to completion (Job or CronJob)."""
    return cp.kind in BATCH


def exposed_ports(cp: ComponentPlan) -> list[dict[str, Any]]:
    """Service ports of a component: exposed container ports, targeting them by name."""
    return [
        {
            "name": port_name(p),
            "port": p.servicePort or p.port,
            "targetPort": port_name(p),
            "protocol": p.protocol.value,
        }
        for p in cp.spec.ports
        if p.expose
    ]


def has_service(cp: ComponentPlan) -> bool:
    """Whether the chart creates a (non-headless) Service for the component."""
    return cp.service is not None and bool(exposed_ports(cp))


def exception_reasons(cp: ComponentPlan) -> dict[str, str]:
    """Security exception reasons of a component by setting."""
    return {e.setting: e.reason for e in cp.spec.security.exceptions}


def _why(reasons: dict[str, str], *settings: str) -> str:
    """The trailing values.yaml comment for settings relaxed by an exception."""
    found = [f"security exception ({s}): {reasons[s]}" for s in settings if s in reasons]
    return "; ".join(found)


# --- chart-level groups -----------------------------------------------------------------


def image_group(
    name: str, what: str, registry: str, repository: str, tag: str, digest: str, pull_policy: str
) -> Group:
    """An image group: registry, repository, tag, digest, pullPolicy.

    values.yaml and the README say whose image it is in every line; the schema says it once, on
    the group, so every image shares one definition there.
    """

    def param(key: str, text: str, default: str, schema: dict[str, Any]) -> Param:
        """One key of the group, described with and (in the schema) without `what`."""
        return Param(
            key, f"{what} image {text}", default, schema, schema_description=f"Image {text}"
        )

    return Group(
        name,
        f"{what} image",
        schema_description="Container image",
        children=[
            param("registry", "registry (empty: the repository's default)", registry, s_str()),
            param("repository", "repository", repository, s_str(minLength=1)),
            # Numbers too: `--set image.tag=1.5` arrives as a number.
            param("tag", "tag (ignored when a digest is set)", tag, {"type": ["string", "number"]}),
            param("digest", "digest, e.g. sha256:...; wins over the tag", digest, s_str()),
            param("pullPolicy", "pull policy", pull_policy, s_enum(*PULL_POLICIES)),
        ],
    )


def global_nodes(plan: ChartPlan) -> list[Node]:
    """Chart-wide settings: naming, common labels, global image registry."""
    return [
        Group(
            "global",
            "Settings shared by every component",
            [
                Param(
                    "imageRegistry",
                    "Registry that replaces every image's registry (air-gapped mirrors)",
                    "",
                    s_str(),
                ),
                Param(
                    "imagePullSecrets", "Names of Secrets used to pull images", [], s_arr(s_str())
                ),
            ],
        ),
        Param("nameOverride", "Replaces the chart name in object names", "", s_str()),
        Param(
            "fullnameOverride",
            "Replaces the generated release-chart prefix of object names",
            "",
            s_str(),
        ),
        Param(
            "commonLabels",
            "Labels added to every object (organisation standards)",
            dict(plan.standards.requiredLabels),
            S_STR_MAP,
        ),
        Param(
            "commonAnnotations",
            "Annotations added to every object (organisation standards)",
            dict(plan.standards.requiredAnnotations),
            S_STR_MAP,
        ),
    ]


def hardened_container_context() -> dict[str, Any]:
    """The hardened container securityContext used for helper containers."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": DEFAULT_UID,
        "runAsNonRoot": True,
        "runAsUser": DEFAULT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def utility_group(plan: ChartPlan) -> Group:
    """The small helper container used by wait-for init containers and the helm test."""
    registry, repository, tag = UTILITY_IMAGE
    children: list[Node] = [
        image_group("image", "Helper", registry, repository, tag, "", "Always"),
        Param(
            "resources",
            "Helper container resources",
            {
                "limits": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
                "requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "8Mi"},
            },
            s_obj(),
        ),
        Param(
            "containerSecurityContext",
            "Helper container securityContext",
            hardened_container_context(),
            s_obj(),
        ),
    ]
    if any(cp.waitForJobs for cp in plan.components):
        registry, repository, tag = KUBECTL_IMAGE
        children.append(
            Group(
                "kubectl",
                "kubectl container that waits for one-shot Jobs to complete",
                [
                    image_group("image", "kubectl", registry, repository, tag, "", "Always"),
                    Param(
                        "resources",
                        "kubectl container resources",
                        {
                            "limits": {
                                "cpu": "200m",
                                "memory": "128Mi",
                                "ephemeral-storage": "32Mi",
                            },
                            "requests": {
                                "cpu": "10m",
                                "memory": "32Mi",
                                "ephemeral-storage": "8Mi",
                            },
                        },
                        s_obj(),
                    ),
                ],
            )
        )
    return Group(
        "utility", "Helper containers for wait-for init containers and helm test", children
    )


def shared_claims(plan: ChartPlan) -> dict[str, tuple[list[str], list[Volume]]]:
    """Claims several components share: name -> (values keys of the users, their volumes)."""
    claims: dict[str, tuple[list[str], list[Volume]]] = {}
    for cp in plan.components:
        if cp.kind == WorkloadKind.STATEFULSET:
            continue  # its claims are per replica (the planner said so)
        for v in cp.spec.volumes:
            if v.sharedClaim:
                users, volumes = claims.setdefault(v.sharedClaim, ([], []))
                if values_key(cp.spec.name) not in users:
                    users.append(values_key(cp.spec.name))
                volumes.append(v)
    return claims


def shared_volumes_group(plan: ChartPlan) -> Group:
    """Claims mounted by several components (Compose volumes or folders they share)."""
    groups: list[Node] = []
    for name, (users, volumes) in shared_claims(plan).items():
        size = max((v.size for v in volumes), key=_bytes)
        storage_class = next((v.storageClass for v in volumes if v.storageClass), "")
        groups.append(
            Group(
                name,
                f"Claim {name}, mounted by {', '.join(users)}",
                [
                    Param(
                        "users",
                        "Components that mount it; the claim exists while one of them is enabled",
                        users,
                        s_arr(s_str()),
                    ),
                    Param("size", "Requested size", size, s_str(minLength=1)),
                    Param(
                        "storageClass",
                        "StorageClass; it must support ReadWriteMany "
                        "(empty: the cluster default; '-': none)",
                        storage_class,
                        s_str(),
                    ),
                    Param(
                        "accessModes",
                        "Access modes (several pods mount it at once)",
                        ["ReadWriteMany"],
                        s_arr(s_enum(*ACCESS_MODES)),
                    ),
                    Param(
                        "resourcePolicy",
                        "helm.sh/resource-policy of the claim "
                        "(keep: survives uninstall; empty: deleted with the release)",
                        "keep",
                        s_enum("keep", ""),
                    ),
                ],
            )
        )
    return Group("sharedVolumes", "Persistent volumes shared by several components", groups)


_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 1,
}


def _bytes(quantity: str) -> float:
    """A storage quantity in bytes, for comparing sizes."""
    number = quantity.rstrip("kMGTPEim")
    return float(number) * _UNITS.get(quantity[len(number) :], 1)


def tests_group() -> Group:
    """Settings of the `helm test` Job."""
    return Group(
        "tests",
        "The helm test Job that checks every Service port answers",
        [
            Param("enabled", "Render the helm test Job", True, s_bool()),
            Param("timeoutSeconds", "Seconds each port check waits for an answer", 5, s_int(1)),
            Param(
                "podSecurityContext",
                "Pod securityContext of the test Job",
                pod_context_defaults(DEFAULT_UID, DEFAULT_UID, DEFAULT_UID, root=False),
                s_obj(),
            ),
        ],
    )


def secrets_group(plan: ChartPlan) -> Group:
    """The chart Secret: values left empty, generated ones, or an existing Secret."""
    values: list[Node] = [
        Param(
            s.name,
            (s.description or f"Value of the {s.name} secret key")
            + (" (random 32 characters when empty)" if s.generate else " (must be set)"),
            "",
            s_str(),
        )
        for s in plan.secrets
    ]
    return Group(
        "secrets",
        "The chart Secret; values are never defaulted",
        [
            Param(
                "existingSecret",
                "Use this existing Secret (with the same keys) instead of creating one",
                "",
                s_str(),
            ),
            Group(
                "values",
                "Secret values by key; leave empty to generate (where allowed) or set at install",
                values,
            ),
            Param(
                "generate",
                "Keys that get a random value when left empty (kept across upgrades)",
                sorted(s.name for s in plan.secrets if s.generate),
                s_arr(s_str()),
            ),
        ],
    )


# --- component groups -------------------------------------------------------------------


def component_image(plan: ChartPlan, cp: ComponentPlan) -> Group:
    """The component's image group, split from the spec's reference."""
    name = cp.spec.name
    if cp.imageMissing or not cp.spec.image:
        return image_group("image", name, "", f"REPLACE-ME/{name}", plan.appVersion, "", "Always")
    repository, tag, digest = split_image(cp.spec.image)
    registry = ""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    return image_group(
        "image", name, registry, repository, tag, digest, "IfNotPresent" if digest else "Always"
    )


def resources_dict(res: Resources | None) -> dict[str, Any]:
    """Kubernetes resources from the spec (gpu -> nvidia.com/gpu limit)."""
    if res is None:
        return {}

    def amounts(a: ResourceAmounts, limits: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if a.cpu:
            out["cpu"] = a.cpu
        if a.memory:
            out["memory"] = a.memory
        if a.ephemeralStorage:
            out["ephemeral-storage"] = a.ephemeralStorage
        if a.gpu and limits:
            out["nvidia.com/gpu"] = a.gpu
        return out

    result = {"requests": amounts(res.requests, False), "limits": amounts(res.limits, True)}
    if res.requests.gpu and not res.limits.gpu:
        result["limits"]["nvidia.com/gpu"] = res.requests.gpu
    return {k: v for k, v in result.items() if v}


def probe_dict(probe: ProbeSpec | None) -> dict[str, Any]:
    """A full Kubernetes probe object plus an `enabled` switch."""
    if probe is None:
        return {"enabled": False}
    out: dict[str, Any] = {
        "enabled": True,
        "failureThreshold": probe.failureThreshold,
        "initialDelaySeconds": probe.initialDelaySeconds,
        "periodSeconds": probe.periodSeconds,
        "timeoutSeconds": probe.timeoutSeconds,
    }
    if probe.httpGet is not None:
        out["httpGet"] = {"path": probe.httpGet.path, "port": probe.httpGet.port}
    elif probe.tcpSocket is not None:
        out["tcpSocket"] = {"port": probe.tcpSocket}
    elif probe.exec is not None:
        out["exec"] = {"command": list(probe.exec)}
    return out


def pod_context_defaults(uid: int, gid: int, fs_group: int, root: bool) -> dict[str, Any]:
    """A pod securityContext as plain data."""
    return {
        "fsGroup": fs_group,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsGroup": gid,
        "runAsNonRoot": not root,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def security_groups(cp: ComponentPlan) -> list[Node]:
    """Pod and container securityContexts, hardened unless an exception says otherwise."""
    sec = cp.spec.security
    why = exception_reasons(cp)
    root = "runAsRoot" in why
    uid = 0 if root else (sec.runAsUser if sec.runAsUser is not None else DEFAULT_UID)
    gid = sec.runAsGroup if sec.runAsGroup is not None else (0 if root else DEFAULT_UID)
    fs_group = sec.fsGroup if sec.fsGroup is not None else (0 if root else DEFAULT_UID)
    uid_why = _why(why, "runAsRoot", "lowUid")
    pod: list[Node] = [
        Param(
            "runAsNonRoot",
            "Refuse to start containers that would run as root",
            not root,
            s_bool(),
            _why(why, "runAsRoot"),
        ),
        Param("runAsUser", "User ID the containers run as", uid, s_int(0), uid_why),
        Param("runAsGroup", "Primary group ID of the containers", gid, s_int(0)),
        Param("fsGroup", "Group that owns mounted volumes", fs_group, s_int(0)),
        Param(
            "fsGroupChangePolicy",
            "When to change volume ownership",
            "OnRootMismatch",
            s_enum("OnRootMismatch", "Always"),
        ),
        Param("seccompProfile", "Seccomp profile of the pod", {"type": "RuntimeDefault"}, s_obj()),
    ]
    low_ports = [p.port for p in cp.spec.ports if p.port < 1024]
    if low_ports and not root and "hostNetwork" not in why:
        pod.append(
            Param(
                "sysctls",
                f"Namespaced sysctls; lets the non-root process bind port {min(low_ports)} "
                "without NET_BIND_SERVICE",
                [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                s_arr(s_obj()),
            )
        )
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if sec.capabilities.add:
        caps["add"] = list(sec.capabilities.add)
    container: list[Node] = [
        Param(
            "allowPrivilegeEscalation",
            "Allow setuid binaries to gain privileges",
            "privilegeEscalation" in why,
            s_bool(),
            _why(why, "privilegeEscalation"),
        ),
        Param(
            "readOnlyRootFilesystem",
            "Mount the root filesystem read-only",
            "writableRootFilesystem" not in why,
            s_bool(),
            _why(why, "writableRootFilesystem"),
        ),
        Param("privileged", "Run the container privileged", False, s_bool()),
        Param(
            "runAsNonRoot",
            "Refuse to start the container as root",
            not root,
            s_bool(),
            _why(why, "runAsRoot"),
        ),
        Param(
            "capabilities",
            "Linux capabilities: all dropped, only the listed ones added",
            caps,
            s_obj(),
            _why(why, "capabilities"),
        ),
        Param(
            "seccompProfile",
            "Seccomp profile of the container",
            {"type": "RuntimeDefault"},
            s_obj(),
        ),
    ]
    return [
        Group(
            "podSecurityContext",
            f"Pod securityContext of {cp.spec.name}",
            pod,
            strict=False,
            schema_description="Pod securityContext of the component",
        ),
        Group(
            "containerSecurityContext",
            f"Container securityContext of {cp.spec.name}",
            container,
            strict=False,
            schema_description="Container securityContext of the component",
        ),
        Param(
            "acceptedChecks",
            "Security scanner checks this component fails on purpose (check id: "
            "reason of its security exception), rendered as checkov.io/skip annotations on the "
            "workload",
            accepted_checks(cp),
            S_STR_MAP,
        ),
    ]


# Scanner checks each security exception fails on purpose. The other critical checks
# (privileged, host PID/IPC, the Docker socket, SYS_ADMIN) are never listed: a reason cannot
# make those safe. hostNetwork is, because the spec can ask for it only as an exception with a
# reason, and the container stays unprivileged with its capabilities dropped.
EXCEPTION_CHECKS: dict[str, tuple[str, ...]] = {
    "runAsRoot": ("CKV_K8S_23", "CKV_K8S_40"),
    "hostNetwork": ("CKV_K8S_19",),
    "lowUid": ("CKV_K8S_40",),
    "writableRootFilesystem": ("CKV_K8S_22",),
    "privilegeEscalation": ("CKV_K8S_20",),
    "capabilities": ("CKV_K8S_25",),
    "serviceAccountToken": ("CKV_K8S_38",),
    "noProbes": ("CKV_K8S_8", "CKV_K8S_9"),
    "unpinnedTag": ("CKV_K8S_14",),
}


def accepted_checks(cp: ComponentPlan) -> dict[str, str]:
    """checkov check id -> the reason of the security exception that makes it fail."""
    accepted: dict[str, str] = {}
    for e in cp.spec.security.exceptions:
        for check in EXCEPTION_CHECKS.get(e.setting, ()):
            reason = f"{e.setting}: {e.reason}"
            accepted[check] = f"{accepted[check]}; {reason}" if check in accepted else reason
    return dict(sorted(accepted.items()))


def env_nodes(plan: ChartPlan, cp: ComponentPlan) -> list[Node]:
    """Plain env, secret env, env-file variables and extra env."""
    spec = cp.spec
    plain = {k: v for k, v in sorted(spec.env.items()) if isinstance(v, str)}
    secret = {k: v.secret for k, v in sorted(spec.env.items()) if isinstance(v, SecretRef)}
    refs = {k: v.template() for k, v in sorted(spec.env.items()) if isinstance(v, ServiceRef)}
    for key in spec.envFiles:
        if not key or any(not (c.isalnum() or c in "-._") for c in key):
            raise GenerationError(
                f"env file variable {key!r} of {spec.name} is not a valid ConfigMap key",
                field=f"components.{spec.name}.envFiles",
            )
    nodes: list[Node] = [
        Param(
            "env",
            "Environment variables (name: value); values are always strings",
            plain,
            S_STR_MAP,
        ),
        Param(
            "refEnv",
            "Variables that call other components: {host:<component>} renders that "
            "component's Service name at install, {secret:<key>} a chart Secret value",
            refs,
            S_STR_MAP,
        ),
    ]
    if plan.secrets:
        nodes.append(
            Param(
                "secretEnv",
                "Environment variables read from the chart Secret (name: secret key)",
                secret,
                S_STR_MAP,
            )
        )
    nodes += [
        Param(
            "envConfig",
            "Variables (from env files) stored in a ConfigMap and loaded with envFrom",
            dict(sorted(spec.envFiles.items())),
            S_STR_MAP,
        ),
        Param("extraEnv", "Extra env entries (full Kubernetes EnvVar objects)", [], s_arr(s_obj())),
    ]
    return nodes


def files_nodes(plan: ChartPlan, cp: ComponentPlan) -> list[Node]:
    """Config files (ConfigMap, content editable here) and chart Secret keys mounted as files."""
    taken: set[str] = set()
    files: dict[str, Any] = {}
    for f in cp.spec.configFiles:
        entry: dict[str, Any] = {"path": f.path, "content": f.content}
        if f.mode is not None:
            entry["mode"] = f.mode
        if f.serviceRefs:
            entry["serviceRefs"] = True
        files[config_key(f.path, taken)] = entry
    file_schema = s_obj(
        required=["path", "content"],
        additionalProperties=False,
        properties={
            "path": s_str(pattern="^/"),
            "content": s_str(),
            "mode": s_int(0, 0o777),
            "serviceRefs": s_bool(),
        },
    )
    nodes: list[Node] = [
        Param(
            "configFiles",
            "Files stored in a ConfigMap and mounted read-only at `path` "
            "(key: ConfigMap key; mode in decimal, 420 = 0644; serviceRefs: {host:<component>} in "
            "content renders that component's Service name)",
            files,
            s_obj(additionalProperties=file_schema),
        )
    ]
    if plan.secrets:
        nodes.append(
            Param(
                "secretFiles",
                "Chart Secret keys mounted read-only as files",
                [{"path": f.path, "secret": f.secret} for f in cp.spec.secretFiles],
                s_arr(
                    s_obj(
                        required=["path", "secret"],
                        additionalProperties=False,
                        properties={"path": s_str(pattern="^/"), "secret": s_str()},
                    )
                ),
            )
        )
    return nodes


def persistence_group(cp: ComponentPlan) -> Group:
    """One group per volume; disabled volumes fall back to an emptyDir."""
    sts = cp.kind == WorkloadKind.STATEFULSET
    groups: list[Node] = []
    for v in cp.spec.volumes:
        if v.sharedClaim and not sts:
            groups.append(
                Group(
                    v.name,
                    f"Volume {v.name} (shared claim {v.sharedClaim})",
                    [
                        Param(
                            "enabled",
                            "Mount the shared claim (false: an emptyDir that dies with the pod)",
                            True,
                            s_bool(),
                        ),
                        Param(
                            "mountPath",
                            "Where the volume is mounted",
                            v.mountPath,
                            s_str(pattern="^/"),
                        ),
                        Param(
                            "subPath",
                            "Sub-path of the volume to mount (empty: its root)",
                            v.subPath or "",
                            s_str(),
                        ),
                        Param("readOnly", "Mount read-only", v.readOnly, s_bool()),
                        Param(
                            "sharedClaim",
                            "The sharedVolumes claim mounted here",
                            v.sharedClaim,
                            s_str(minLength=1),
                        ),
                    ],
                )
            )
            continue
        children: list[Node] = [
            Param(
                "enabled",
                "Use a PersistentVolumeClaim (false: an emptyDir that dies with the pod)",
                True,
                s_bool(),
            ),
            Param("mountPath", "Where the volume is mounted", v.mountPath, s_str(pattern="^/")),
            Param(
                "subPath",
                "Sub-path of the volume to mount (empty: its root)",
                v.subPath or "",
                s_str(),
            ),
            Param("readOnly", "Mount read-only", v.readOnly, s_bool()),
            Param("size", "Requested size", v.size, s_str(minLength=1)),
            Param(
                "storageClass",
                "StorageClass (empty: the cluster default; '-': none)",
                v.storageClass or "",
                s_str(),
            ),
            Param("accessModes", "Access modes", list(v.accessModes), s_arr(s_enum(*ACCESS_MODES))),
        ]
        if not sts:
            children.append(
                Param(
                    "resourcePolicy",
                    "helm.sh/resource-policy of the claim "
                    "(keep: survives uninstall; empty: deleted with the release)",
                    "keep",
                    s_enum("keep", ""),
                )
            )
        groups.append(Group(v.name, f"Volume {v.name}", children))
    return Group("persistence", f"Persistent volumes of {cp.spec.name}", groups)


def scratch_nodes(cp: ComponentPlan) -> list[Node]:
    """Memory-backed tmpfs mounts and writable emptyDirs under the read-only root."""
    taken = {v.mountPath for v in cp.spec.volumes} | set(cp.spec.tmpfs)
    writable: list[str] = []
    for path in [*cp.spec.security.writablePaths, "/tmp"]:
        if path not in taken:
            taken.add(path)
            writable.append(path)
    shm = cp.spec.shmSize
    paths = [*cp.spec.tmpfs, *(["/dev/shm"] if shm and "/dev/shm" not in cp.spec.tmpfs else [])]
    return [
        Param(
            "tmpfs",
            "Memory-backed emptyDir mounts (/dev/shm sized like Compose shm_size)",
            [
                {"path": p, "sizeLimit": (shm or "64Mi") if p == "/dev/shm" else "64Mi"}
                for p in paths
            ],
            s_arr(
                s_obj(
                    required=["path"],
                    properties={"path": s_str(pattern="^/"), "sizeLimit": s_str()},
                )
            ),
        ),
        Param(
            "writablePaths",
            "Writable emptyDir mounts (the root filesystem is read-only)",
            writable,
            s_arr(s_str(pattern="^/")),
        ),
    ]


def probe_nodes(cp: ComponentPlan) -> list[Node]:
    """Liveness, readiness and startup probes as full Kubernetes probe objects."""
    probes = cp.spec.probes
    why = _why(exception_reasons(cp), "noProbes")
    off = probes.disabled
    probe_schema = s_obj(properties={"enabled": s_bool()}, required=["enabled"])
    return [
        Param(
            f"{kind}Probe",
            f"{kind.capitalize()} probe (`enabled` plus a Kubernetes probe)",
            probe_dict(None if off else getattr(probes, kind)),
            probe_schema,
            why,
        )
        for kind in ("liveness", "readiness", "startup")
    ]


def strategy_dict(cp: ComponentPlan) -> dict[str, Any]:
    """The rollout strategy, mapped onto the types the workload kind accepts."""
    strat = cp.spec.strategy
    allowed = {WorkloadKind.DEPLOYMENT: ("RollingUpdate", "Recreate")}.get(
        cp.kind, ("RollingUpdate", "OnDelete")
    )
    kind = strat.type if strat is not None and strat.type in allowed else "RollingUpdate"
    out: dict[str, Any] = {"type": kind}
    if strat is not None and kind == "RollingUpdate" and cp.kind != WorkloadKind.STATEFULSET:
        rolling = {
            k: v
            for k, v in (("maxSurge", strat.maxSurge), ("maxUnavailable", strat.maxUnavailable))
            if v is not None
        }
        if rolling:
            out["rollingUpdate"] = rolling
    return out


def scheduling_nodes(cp: ComponentPlan) -> list[Node]:
    """Pod placement, metadata and lifecycle knobs."""
    sch = cp.spec.scheduling
    return [
        Param("podAnnotations", "Extra pod annotations", dict(cp.spec.annotations), S_STR_MAP),
        Param("podLabels", "Extra pod labels", dict(cp.spec.labels), S_STR_MAP),
        Param("nodeSelector", "Node labels the pods must match", dict(sch.nodeSelector), S_STR_MAP),
        Param(
            "tolerations",
            "Pod tolerations",
            [t.model_dump(mode="json", exclude_none=True) for t in sch.tolerations],
            s_arr(s_obj()),
        ),
        Param(
            "affinity", "Pod affinity (a Kubernetes affinity object)", dict(sch.affinity), s_obj()
        ),
        Param(
            "topologySpreadConstraints",
            "Topology spread constraints",
            list(sch.topologySpreadConstraints),
            s_arr(s_obj()),
        ),
        Param(
            "priorityClassName", "PriorityClass of the pods", sch.priorityClassName or "", s_str()
        ),
        Param(
            "terminationGracePeriodSeconds", "Seconds the pod gets to stop gracefully", 30, s_int(0)
        ),
    ]


def workload_nodes(cp: ComponentPlan) -> list[Node]:
    """Kind-specific settings: replicas, strategy, Job and CronJob options."""
    nodes: list[Node] = []
    if cp.kind in SCALABLE:
        nodes.append(
            Param(
                "replicaCount",
                "Number of replicas (ignored when autoscaling is enabled)",
                cp.replicas,
                s_int(0),
            )
        )
    if cp.kind == WorkloadKind.DEPLOYMENT:
        nodes.append(
            Param(
                "strategy",
                "Deployment strategy",
                strategy_dict(cp),
                s_obj(required=["type"], properties={"type": s_enum("RollingUpdate", "Recreate")}),
            )
        )
    elif cp.kind in (WorkloadKind.STATEFULSET, WorkloadKind.DAEMONSET):
        nodes.append(
            Param(
                "updateStrategy",
                "Update strategy",
                strategy_dict(cp),
                s_obj(required=["type"], properties={"type": s_enum("RollingUpdate", "OnDelete")}),
            )
        )
    if is_batch(cp):
        job = cp.spec.job
        children: list[Node] = []
        if cp.kind == WorkloadKind.CRONJOB:
            schedule = job.schedule if job is not None and job.schedule else "0 * * * *"
            children += [
                Param("schedule", "Cron schedule", schedule, s_str(minLength=1)),
                Param(
                    "concurrencyPolicy",
                    "What to do when a run is still going",
                    job.concurrencyPolicy if job else "Forbid",
                    s_enum("Allow", "Forbid", "Replace"),
                ),
                Param("suspend", "Suspend future runs", False, s_bool()),
                Param("successfulJobsHistoryLimit", "Finished runs kept", 3, s_int(0)),
                Param("failedJobsHistoryLimit", "Failed runs kept", 1, s_int(0)),
            ]
        children += [
            Param(
                "backoffLimit",
                "Retries before the Job is marked failed",
                job.backoffLimit if job else 3,
                s_int(0),
            ),
            Param(
                "activeDeadlineSeconds",
                "Seconds a run may take (0: unlimited)",
                (job.activeDeadlineSeconds or 0) if job else 0,
                s_int(0),
            ),
            Param(
                "ttlSecondsAfterFinished",
                "Seconds a finished Job is kept (null: forever)",
                job.ttlSecondsAfterFinished if job else 86400,
                s_nullable(s_int(0)),
            ),
            Param("restartPolicy", "Pod restart policy", "OnFailure", s_enum("OnFailure", "Never")),
        ]
        nodes.append(Group("job", "Job settings", children))
    return nodes


def service_nodes(cp: ComponentPlan) -> list[Node]:
    """The Service and the optional Ingress in front of it."""
    if not has_service(cp):
        return []
    assert cp.service is not None
    ports = exposed_ports(cp)
    port_schema = s_obj(
        required=["name", "port", "targetPort"],
        additionalProperties=False,
        properties={
            "name": s_str(),
            "port": s_int(1, 65535),
            "targetPort": S_INT_OR_STR,
            "protocol": s_enum(*PROTOCOLS),
            "nodePort": s_int(1, 65535),
        },
    )
    nodes: list[Node] = [
        Group(
            "service",
            f"Service of {cp.spec.name}",
            schema_description="Service of the component",
            children=[
                Param("type", "Service type", cp.service.type, s_enum(*SERVICE_TYPES)),
                Param(
                    "ports",
                    "Service ports (targetPort names a container port)",
                    ports,
                    s_arr(port_schema),
                ),
                Param("annotations", "Service annotations", {}, S_STR_MAP),
                Param(
                    "aliases",
                    "Extra Services with exactly these names (host names a sibling's image "
                    "has built in); two releases in one namespace collide on them",
                    list(cp.service.aliases),
                    s_arr(s_str(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")),
                ),
            ],
        )
    ]
    ing = cp.spec.ingress
    names = {p["name"] for p in ports}
    target = ports[0]["name"]
    if ing is not None and ing.port is not None:
        for p in cp.spec.ports:
            if ing.port in (port_name(p), p.port, p.servicePort) and port_name(p) in names:
                target = port_name(p)
                break
    nodes.append(
        Group(
            "ingress",
            f"Ingress of {cp.spec.name}",
            schema_description="Ingress of the component",
            children=[
                Param("enabled", "Create an Ingress", ing is not None, s_bool()),
                Param(
                    "className",
                    "IngressClass name (empty: the cluster default)",
                    (ing.className or "") if ing else "",
                    s_str(),
                ),
                Param(
                    "hostname", "Host name routed to the Service", ing.host if ing else "", s_str()
                ),
                Param(
                    "path",
                    "Path routed to the Service",
                    ing.path if ing else "/",
                    s_str(pattern="^/"),
                ),
                Param(
                    "pathType",
                    "Path matching",
                    "Prefix",
                    s_enum("Prefix", "Exact", "ImplementationSpecific"),
                ),
                Param(
                    "servicePort",
                    "Service port name (or number) the Ingress targets",
                    target,
                    S_INT_OR_STR,
                ),
                Param(
                    "annotations",
                    "Ingress annotations",
                    dict(ing.annotations) if ing else {},
                    S_STR_MAP,
                ),
                Param("tls", "Terminate TLS at the Ingress", ing.tls if ing else True, s_bool()),
                Param(
                    "tlsSecretName",
                    "TLS Secret name (empty: <fullname>-<component>-tls)",
                    (ing.tlsSecretName or "") if ing else "",
                    s_str(),
                ),
            ],
        )
    )
    return nodes


def availability_nodes(cp: ComponentPlan) -> list[Node]:
    """HorizontalPodAutoscaler and PodDisruptionBudget."""
    nodes: list[Node] = []
    if cp.kind in SCALABLE:
        hpa = cp.spec.autoscaling
        enabled = hpa is not None and hpa.enabled
        hpa = hpa or Autoscaling(enabled=False)
        nodes.append(
            Group(
                "autoscaling",
                "Horizontal pod autoscaling (autoscaling/v2)",
                [
                    Param(
                        "enabled",
                        "Create a HorizontalPodAutoscaler (replicaCount is then ignored)",
                        enabled,
                        s_bool(),
                    ),
                    Param("minReplicas", "Fewest replicas", hpa.minReplicas, s_int(1)),
                    Param("maxReplicas", "Most replicas", hpa.maxReplicas, s_int(1)),
                    Param(
                        "targetCPUUtilizationPercentage",
                        "Target average CPU utilisation (null: not used)",
                        hpa.targetCPUUtilizationPercentage,
                        s_nullable(s_int(1, 100)),
                    ),
                    Param(
                        "targetMemoryUtilizationPercentage",
                        "Target average memory utilisation (null: not used)",
                        hpa.targetMemoryUtilizationPercentage,
                        s_nullable(s_int(1, 100)),
                    ),
                ],
            )
        )
    if not is_batch(cp):
        daemon = cp.kind == WorkloadKind.DAEMONSET
        nodes.append(
            Group(
                "pdb",
                "PodDisruptionBudget",
                [
                    Param("create", "Create a PodDisruptionBudget", cp.pdb, s_bool()),
                    Param(
                        "minAvailable",
                        "Pods that must stay up (number or percentage; empty: unset)",
                        "" if daemon else 1,
                        S_INT_OR_STR,
                    ),
                    Param(
                        "maxUnavailable",
                        "Pods that may be down (used when minAvailable is empty; default 1)",
                        1 if daemon else "",
                        S_INT_OR_STR,
                    ),
                ],
            )
        )
    return nodes


S_PEER = s_obj(
    properties={"component": s_str(), "ports": s_arr(s_int(1, 65535))},
    required=["component"],
    additionalProperties=False,
)


def network_policy_group(cp: ComponentPlan) -> Group:
    """Who may connect to the component."""
    np = cp.networkPolicy
    return Group(
        "networkPolicy",
        "NetworkPolicy (ingress); without rules it denies all ingress",
        [
            Param("enabled", "Create the NetworkPolicy", True, s_bool()),
            Param(
                "allowExternal", "Allow any source to reach the ports", np.allowExternal, s_bool()
            ),
            Param(
                "allowFrom",
                "Components of this chart allowed to connect, on the ports they call "
                "(no ports: every port)",
                [p.dump() for p in np.allowFrom],
                s_arr(S_PEER),
            ),
            Param(
                "allowIngressController",
                "Always allow the ingress controller's pods (they are allowed anyway while this component's ingress is enabled)",
                np.allowIngressController,
                s_bool(),
            ),
            Param(
                "ingressControllerNamespaceSelector",
                "Namespace selector of the ingress controller (ingress-nginx by default; set yours)",
                {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                s_obj(),
            ),
            Param(
                "ingressControllerPodSelector",
                "Pod selector of the ingress controller (ingress-nginx by default; set yours)",
                {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                s_obj(),
            ),
            Param(
                "extraIngress",
                "Extra ingress rules (Kubernetes NetworkPolicyIngressRule objects)",
                [],
                s_arr(s_obj()),
            ),
        ],
    )


def account_nodes(cp: ComponentPlan) -> list[Node]:
    """The ServiceAccount and whether pods mount its token."""
    why = _why(exception_reasons(cp), "serviceAccountToken")
    return [
        Group(
            "serviceAccount",
            "ServiceAccount",
            [
                Param("create", "Create a dedicated ServiceAccount", cp.serviceAccount, s_bool()),
                Param(
                    "name",
                    "Name of the ServiceAccount (empty: generated, or `default` when not created)",
                    "",
                    s_str(),
                ),
                Param(
                    "annotations",
                    "ServiceAccount annotations (e.g. cloud IAM roles)",
                    {},
                    S_STR_MAP,
                ),
                Param(
                    "automountServiceAccountToken",
                    "Whether the ServiceAccount mounts its token",
                    cp.automountToken,
                    s_bool(),
                    why,
                ),
            ],
        ),
        Param(
            "automountServiceAccountToken",
            "Mount the API token into the pods",
            cp.automountToken,
            s_bool(),
            why,
        ),
    ]


def wait_group(cp: ComponentPlan) -> Group:
    """The init containers that wait for the Services and one-shot Jobs this component needs."""
    what = [f"{', '.join(cp.waitFor)} answer"] if cp.waitFor else []
    what += [f"Job {', '.join(cp.waitForJobs)} completes"] if cp.waitForJobs else []
    return Group(
        "waitFor",
        f"Wait until {' and '.join(what)} before starting",
        schema_description="Wait until the Services and Jobs the component needs are ready",
        children=[
            Param("enabled", "Add the wait-for init containers", True, s_bool()),
            Param(
                "timeoutSeconds",
                "Give up (and let the pod restart) after this many seconds",
                300,
                s_int(1),
            ),
        ],
    )


def component_group(plan: ChartPlan, cp: ComponentPlan) -> Group:
    """All values of one component."""
    spec = cp.spec
    why = exception_reasons(cp)
    port_schema = s_obj(
        required=["name", "containerPort"],
        additionalProperties=False,
        properties={
            "name": s_str(),
            "containerPort": s_int(1, 65535),
            "protocol": s_enum(*PROTOCOLS),
        },
    )
    children: list[Node] = [
        Param(
            "enabled",
            "Deploy this component (false removes every object of it)",
            spec.enabled,
            s_bool(),
        ),
        component_image(plan, cp),
        *workload_nodes(cp),
    ]
    children += [
        Param(
            "command",
            "Container entrypoint (empty: the image's)",
            list(spec.command or []),
            s_arr(s_str()),
        ),
        Param(
            "args",
            "Container arguments (empty: the image's)",
            list(spec.args or []),
            s_arr(s_str()),
        ),
        Param(
            "workingDir", "Working directory (empty: the image's)", spec.workingDir or "", s_str()
        ),
        Param(
            "containerPorts",
            "Ports the container listens on",
            [
                {"name": port_name(p), "containerPort": p.port, "protocol": p.protocol.value}
                for p in spec.ports
            ],
            s_arr(port_schema),
        ),
        *env_nodes(plan, cp),
        *files_nodes(plan, cp),
    ]
    if spec.volumes:
        children.append(persistence_group(cp))
    children += [
        *scratch_nodes(cp),
        Param(
            "resources",
            "Container resources (requests and limits)",
            resources_dict(spec.resources or plan.standards.defaultResources),
            s_obj(),
        ),
    ]
    if not is_batch(cp):
        children += probe_nodes(cp)
    children += security_groups(cp)
    if "hostNetwork" in why:
        children.append(
            Param(
                "hostNetwork",
                "Use the node's network namespace",
                True,
                s_bool(),
                _why(why, "hostNetwork"),
            )
        )
    children += [
        *account_nodes(cp),
        *scheduling_nodes(cp),
        *service_nodes(cp),
        *availability_nodes(cp),
        network_policy_group(cp),
    ]
    if cp.waitFor or cp.waitForJobs:
        children.append(wait_group(cp))
    children += [
        Param("extraVolumes", "Extra pod volumes", [], s_arr(s_obj())),
        Param("extraVolumeMounts", "Extra container volume mounts", [], s_arr(s_obj())),
    ]
    kind = cp.kind.value
    return Group(values_key(spec.name), f"Component {spec.name} ({kind})", children)


def build_tree(plan: ChartPlan) -> list[Node]:
    """The whole values tree of the chart."""
    nodes = [*global_nodes(plan), utility_group(plan), tests_group()]
    if plan.secrets:
        nodes.append(secrets_group(plan))
    if shared_claims(plan):
        nodes.append(shared_volumes_group(plan))
    nodes += [component_group(plan, cp) for cp in plan.components]
    return nodes
