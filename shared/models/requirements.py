"""The native requirements spec: what a person writes (or the compose importer produces).

Field names are camelCase in YAML/JSON, like Kubernetes. Every model forbids unknown
keys so a typo is an error that names the field, never a silently ignored setting.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


class SpecModel(BaseModel):
    """Base for every spec model: camelCase aliases, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
    )

    def dump(self) -> dict[str, Any]:
        """The model as plain JSON data with camelCase keys and no unset noise."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=DNS1123_LABEL,
        description="A DNS-1123 label: lower-case letters, digits and '-'.",
        examples=["web"],
    ),
]
Quantity = Annotated[str, Field(pattern=QUANTITY, examples=["250m", "512Mi"])]


class WorkloadKind(StrEnum):
    """Kubernetes workload kinds a component can run as."""

    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"
    JOB = "Job"
    CRONJOB = "CronJob"


class Protocol(StrEnum):
    """Transport protocol of a port."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class Port(SpecModel):
    """A port the container listens on."""

    name: str | None = Field(
        default=None,
        max_length=15,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Port name (IANA_SVC_NAME, at most 15 chars); derived when omitted.",
        examples=["http"],
    )
    port: int = Field(ge=1, le=65535, description="Container port.", examples=[8080])
    servicePort: int | None = Field(
        default=None, ge=1, le=65535, description="Port the Service exposes; defaults to `port`."
    )
    protocol: Protocol = Field(default=Protocol.TCP, description="TCP, UDP or SCTP.")
    expose: bool = Field(
        default=True, description="Publish through the component's Service (false: container only)."
    )


class HttpGet(SpecModel):
    """An HTTP GET probe."""

    path: str = Field(default="/", description="Request path.", examples=["/healthz"])
    port: int | str = Field(description="Port number or port name.", examples=["http"])


class ProbeSpec(SpecModel):
    """One probe. Exactly one of httpGet, tcpSocket, exec."""

    httpGet: HttpGet | None = None
    tcpSocket: int | str | None = Field(default=None, description="Port number or name to open.")
    exec: list[str] | None = Field(default=None, description="Command; exit 0 means healthy.")
    initialDelaySeconds: int = Field(default=0, ge=0)
    periodSeconds: int = Field(default=10, ge=1)
    timeoutSeconds: int = Field(default=5, ge=1)
    failureThreshold: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _one_handler(self) -> ProbeSpec:
        handlers = [h for h in (self.httpGet, self.tcpSocket, self.exec) if h is not None]
        if len(handlers) != 1:
            raise ValueError("set exactly one of httpGet, tcpSocket, exec")
        return self


class Probes(SpecModel):
    """Health probes; omitted probes are planned from the ports."""

    liveness: ProbeSpec | None = None
    readiness: ProbeSpec | None = None
    startup: ProbeSpec | None = None
    disabled: bool = Field(
        default=False, description="No probes at all (needs a reason in security exceptions)."
    )


class ResourceAmounts(SpecModel):
    """CPU, memory and extended resources."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeralStorage: Quantity | None = None
    gpu: int | None = Field(default=None, ge=0, description="NVIDIA GPUs (nvidia.com/gpu).")


class Resources(SpecModel):
    """Requests and limits."""

    requests: ResourceAmounts = Field(default_factory=ResourceAmounts)
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)


class Autoscaling(SpecModel):
    """Horizontal pod autoscaling."""

    enabled: bool = True
    minReplicas: int = Field(default=2, ge=1)
    maxReplicas: int = Field(default=5, ge=1)
    targetCPUUtilizationPercentage: int | None = Field(default=80, ge=1, le=100)
    targetMemoryUtilizationPercentage: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.maxReplicas < self.minReplicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        return self


class Ingress(SpecModel):
    """Expose an HTTP port through an Ingress."""

    host: str = Field(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        examples=["shop.example.com"],
    )
    path: str = Field(default="/", pattern=r"^/")
    port: int | str | None = Field(
        default=None, description="Port number or name to route to; the first HTTP-ish port."
    )
    tls: bool = Field(default=True, description="Terminate TLS with a certificate Secret.")
    tlsSecretName: str | None = Field(default=None, description="Existing TLS Secret name.")
    className: str | None = Field(default=None, examples=["nginx"])
    annotations: dict[str, str] = Field(default_factory=dict)


AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"]


def _rwo() -> list[AccessMode]:
    return ["ReadWriteOnce"]


class Volume(SpecModel):
    """Persistent storage mounted into the component."""

    name: Name
    mountPath: str = Field(pattern=r"^/", examples=["/var/lib/postgresql/data"])
    size: Quantity = Field(default="8Gi")
    accessModes: list[AccessMode] = Field(default_factory=_rwo)
    storageClass: str | None = None
    subPath: str | None = None
    readOnly: bool = False
    sharedClaim: Name | None = Field(
        default=None,
        description=(
            "Share one claim of this name with every component whose volume names it "
            "(ReadWriteMany: the storage class must support it); empty: a claim of its own."
        ),
        examples=["uploads"],
    )


class ConfigFile(SpecModel):
    """A file rendered into a ConfigMap and mounted at its path."""

    path: str = Field(pattern=r"^/.*[^/]$", examples=["/etc/nginx/conf.d/default.conf"])
    content: str = Field(default="", description="File content; empty means supply via values.")
    mode: int | None = Field(default=None, ge=0, le=0o777)
    serviceRefs: bool = Field(
        default=False,
        description=(
            "The content holds {host:<component>} (and {secret:<key>}) placeholders rendered "
            "from the components' Service names at install."
        ),
    )

    def links(self) -> list[tuple[str, int | None]]:
        """Every (component, port) the file calls, when it holds placeholders."""
        return format_links(self.content) if self.serviceRefs else []


class SecretFile(SpecModel):
    """A chart Secret key mounted as a file."""

    secret: Name = Field(description="Name of an entry in the top-level `secrets` list.")
    path: str = Field(pattern=r"^/.*[^/]$", examples=["/run/secrets/db-password"])


class SecretRef(SpecModel):
    """An env value taken from a chart Secret."""

    secret: Name = Field(description="Name of an entry in the top-level `secrets` list.")


REF_PLACEHOLDER = re.compile(r"\{(host|port|secret)(?::([a-z0-9]([-a-z0-9]*[a-z0-9])?))?\}")
"""`{host}`, `{port}`, `{host:<component>}`, `{secret:<key>}` in a service reference's format."""


def format_links(text: str) -> list[tuple[str, int | None]]:
    """(component, port) of every `{host:<component>}` in a text, with the `:port` after it."""
    result: list[tuple[str, int | None]] = []
    for match in REF_PLACEHOLDER.finditer(text):
        if match.group(1) != "host" or not match.group(2):
            continue
        port_text = re.match(r":(\d{1,5})(?!\d)", text[match.end() :])
        port = int(port_text.group(1)) if port_text else None
        if (match.group(2), port) not in result:
            result.append((match.group(2), port if port and port <= 65535 else None))
    return result


class ServiceRef(SpecModel):
    """An env value that names another component; its host renders from that component's
    Service name at install, so the link holds under any release name."""

    serviceRef: Name = Field(description="The component called.", examples=["db"])
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Port called; the Service must expose it."
    )
    format: str | None = Field(
        default=None,
        max_length=4096,
        description=(
            "The value with placeholders: {host} (the called component's Service name), "
            "{port}, {host:<component>} (another component, for lists), {secret:<key>} (a "
            "chart Secret value). Default: {host}:{port}, or {host} without a port."
        ),
        examples=["postgres://app:{secret:db-password}@{host}:{port}/app"],
    )

    def template(self) -> str:
        """The format with `{host}` and `{port}` resolved to `{host:<callee>}` and the number."""
        text = self.format or ("{host}:{port}" if self.port else "{host}")

        def resolve(match: re.Match[str]) -> str:
            kind, arg = match.group(1), match.group(2)
            if kind == "host" and not arg:
                return "{host:" + self.serviceRef + "}"
            if kind == "port" and not arg:
                return str(self.port) if self.port else match.group(0)
            return match.group(0)

        return REF_PLACEHOLDER.sub(resolve, text)

    def links(self) -> list[tuple[str, int | None]]:
        """Every (component, port) the value calls: the callee first, then other hosts."""
        result: list[tuple[str, int | None]] = [(self.serviceRef, self.port)]
        for link in format_links(self.template()):
            if link[0] == self.serviceRef and (self.port is None or link[1] == self.port):
                result[0] = (self.serviceRef, self.port or link[1])
            elif link not in result:
                result.append(link)
        return result

    def secrets(self) -> list[str]:
        """Chart secret keys the value reads."""
        return [
            m.group(2) for m in REF_PLACEHOLDER.finditer(self.template()) if m.group(1) == "secret"
        ]

    @model_validator(mode="after")
    def _placeholders(self) -> ServiceRef:
        for match in REF_PLACEHOLDER.finditer(self.format or ""):
            kind, arg = match.group(1), match.group(2)
            if kind == "port" and (arg or self.port is None):
                raise ValueError("{port} needs `port:` (write other ports as numbers)")
            if kind == "secret" and not arg:
                raise ValueError("{secret} needs a key: {secret:<key>}")
        return self


EnvValue = str | SecretRef | ServiceRef


class Capabilities(SpecModel):
    """Linux capabilities; everything is dropped by default."""

    add: list[str] = Field(default_factory=list, examples=[["NET_BIND_SERVICE"]])


class SecurityException(SpecModel):
    """A deliberate departure from the hardened default, with a reason a reviewer can read."""

    setting: Literal[
        "runAsRoot",
        "writableRootFilesystem",
        "privilegeEscalation",
        "capabilities",
        "serviceAccountToken",
        "hostNetwork",
        "noProbes",
        "lowUid",
        "unpinnedTag",
    ]
    reason: str = Field(min_length=10, description="Why the exception is needed.")


class Security(SpecModel):
    """Security overrides. The hardened default applies to anything not set here."""

    runAsUser: int | None = Field(default=None, ge=0)
    runAsGroup: int | None = Field(default=None, ge=0)
    fsGroup: int | None = Field(default=None, ge=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    writablePaths: list[str] = Field(
        default_factory=list,
        description="Paths that need a writable emptyDir under a read-only root filesystem.",
        examples=[["/tmp", "/var/cache/nginx"]],
    )
    exceptions: list[SecurityException] = Field(default_factory=list)

    def has_exception(self, setting: str) -> bool:
        """Whether an exception for `setting` was granted."""
        return any(e.setting == setting for e in self.exceptions)


class Toleration(SpecModel):
    """A pod toleration."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


class Scheduling(SpecModel):
    """Where pods may run."""

    nodeSelector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: dict[str, Any] = Field(
        default_factory=dict, description="A Kubernetes affinity object, passed through."
    )
    topologySpreadConstraints: list[dict[str, Any]] = Field(default_factory=list)
    priorityClassName: str | None = None


class UpdateStrategy(SpecModel):
    """Rollout strategy for Deployments, StatefulSets and DaemonSets."""

    type: Literal["RollingUpdate", "Recreate", "OnDelete"] = "RollingUpdate"
    maxSurge: int | str | None = None
    maxUnavailable: int | str | None = None


class JobSpec(SpecModel):
    """Settings for Job and CronJob components."""

    schedule: str | None = Field(default=None, examples=["*/15 * * * *"])
    backoffLimit: int = Field(default=3, ge=0)
    activeDeadlineSeconds: int | None = Field(default=None, ge=1)
    concurrencyPolicy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    ttlSecondsAfterFinished: int | None = Field(default=86400, ge=0)


class Component(SpecModel):
    """One container workload of the application."""

    name: Name
    image: str = Field(
        default="",
        max_length=512,
        description="Image reference. Empty only for compose `build:` services (reported).",
        examples=["ghcr.io/acme/web:1.4.2"],
    )
    kind: WorkloadKind | None = Field(
        default=None, description="Workload kind; the planner decides when omitted."
    )
    command: list[str] | None = None
    args: list[str] | None = None
    workingDir: str | None = None
    ports: list[Port] = Field(default_factory=list)
    env: dict[Annotated[str, Field(pattern=ENV_NAME)], EnvValue] = Field(
        default_factory=dict,
        description=(
            "Environment; a value is text, {secret: key}, or {serviceRef: component, port, "
            "format} for a value naming another component."
        ),
    )
    envFiles: dict[str, str] = Field(
        default_factory=dict,
        description="Plain variables loaded into a ConfigMap and used with envFrom.",
    )
    configFiles: list[ConfigFile] = Field(default_factory=list)
    secretFiles: list[SecretFile] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    tmpfs: list[str] = Field(
        default_factory=list, description="Paths mounted as memory-backed emptyDirs."
    )
    shmSize: Quantity | None = Field(
        default=None,
        description="Size of a memory-backed /dev/shm (Compose shm_size); unset: 64Mi when "
        "/dev/shm is in tmpfs, else the runtime's default.",
        examples=["1Gi"],
    )
    resources: Resources | None = None
    replicas: int | None = Field(default=None, ge=0)
    autoscaling: Autoscaling | None = None
    probes: Probes = Field(default_factory=Probes)
    ingress: Ingress | None = None
    security: Security = Field(default_factory=Security)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    strategy: UpdateStrategy | None = None
    job: JobSpec | None = None
    dependsOn: list[Name] = Field(default_factory=list)
    serviceAliases: list[Name] = Field(
        default_factory=list,
        description=(
            "Extra Service names, exactly as written (not release-qualified): host names a "
            "sibling's image has built in, such as a Compose service name. Two releases in "
            "one namespace collide on them."
        ),
    )
    enabled: bool = Field(
        default=True,
        description="Deploy it; false keeps it in the chart, off (a Compose profile not active).",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("command", "args")
    @classmethod
    def _no_empty_list(cls, value: list[str] | None) -> list[str] | None:
        return value or None

    @model_validator(mode="after")
    def _port_names_unique(self) -> Component:
        names = [p.name for p in self.ports if p.name]
        if len(names) != len(set(names)):
            raise ValueError("port names must be unique within a component")
        return self


class ChartSecret(SpecModel):
    """A key in the Secret the chart creates (or an existing Secret the user names)."""

    name: Name
    description: str = ""
    generate: bool = Field(
        default=False,
        description="Generate a random value at install when left empty (passwords).",
    )


class Standards(SpecModel):
    """Organisation standards applied on top of best practices."""

    requiredLabels: dict[str, str] = Field(default_factory=dict, examples=[{"team": "payments"}])
    requiredAnnotations: dict[str, str] = Field(default_factory=dict)
    allowedRegistries: list[str] = Field(
        default_factory=list,
        description="Image prefixes allowed; an image outside them is an error.",
        examples=[["ghcr.io/acme/", "docker.io/library/"]],
    )
    defaultResources: Resources | None = None
    minReplicas: int = Field(default=1, ge=1, description="Replica floor for Deployments.")
    requireIngressTls: bool = True
    kubeVersion: str = Field(default=">=1.25.0-0", description="Supported Kubernetes versions.")
    forbidLatestTag: bool = True


class ChartRequirements(SpecModel):
    """The native spec: an application and its components."""

    name: Name = Field(description="Chart and application name.", examples=["shop"])
    version: str = Field(
        default="0.1.0", max_length=64, description="Application version.", examples=["1.4.2"]
    )
    chartVersion: str = Field(
        default="0.1.0", pattern=r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", description="SemVer."
    )
    description: str = Field(default="", max_length=1024)
    components: list[Component] = Field(min_length=1)
    secrets: list[ChartSecret] = Field(default_factory=list)
    standards: Standards = Field(default_factory=Standards)
    namespace: str | None = Field(
        default=None, pattern=DNS1123_LABEL, description="Target namespace for Argo CD."
    )
    repoURL: str | None = Field(
        default=None, description="Git repository Argo CD pulls the chart from."
    )

    @model_validator(mode="after")
    def _references(self) -> ChartRequirements:
        names = [c.name for c in self.components]
        if len(names) != len(set(names)):
            raise ValueError("component names must be unique")
        secrets = {s.name for s in self.secrets}
        for comp in self.components:
            refs = [v.secret for v in comp.env.values() if isinstance(v, SecretRef)]
            refs += [f.secret for f in comp.secretFiles]
            calls = [(f"file {f.path}", f.links()) for f in comp.configFiles]
            for var, value in comp.env.items():
                if isinstance(value, ServiceRef):
                    refs += value.secrets()
                    calls.append((f"env {var}", value.links()))
            for var, links in calls:
                for callee, _ in links:
                    if callee not in names:
                        raise ValueError(
                            f"component {comp.name!r} {var}: names unknown component {callee!r}"
                        )
            for ref in refs:
                if ref not in secrets:
                    raise ValueError(
                        f"component {comp.name!r} refers to secret {ref!r}, "
                        "which is not in the top-level secrets list"
                    )
            for dep in comp.dependsOn:
                if dep not in names:
                    raise ValueError(f"component {comp.name!r} depends on unknown {dep!r}")
        return self


def split_image(image: str) -> tuple[str, str, str]:
    """Split an image reference into (repository, tag, digest); tag and digest may be ''."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


IMAGE_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$")
