"""The schema of images.yaml: one entry per image family, validated on load.

Every model forbids unknown keys, so a typo in the data file is an error that names the
entry and the field instead of a fact silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.models.requirements import DNS1123_LABEL, ENV_NAME, HttpGet, Protocol, Resources

Category = Literal[
    "database",
    "cache",
    "queue",
    "search",
    "object-store",
    "proxy",
    "web",
    "identity",
    "monitoring",
    "ci",
    "analytics",
    "ml",
    "app",
]
Path = Annotated[str, Field(pattern=r"^/")]
# A repository path without registry and tag ("postgres", "bitnami/postgresql") or a glob.
Pattern = Annotated[str, Field(pattern=r"^[a-z0-9*?][a-z0-9._/*?-]*$")]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KnownPort(_Data):
    """A port the image listens on by default."""

    name: str = Field(max_length=15, pattern=DNS1123_LABEL)
    port: int = Field(ge=1, le=65535)
    protocol: Protocol = Protocol.TCP


class KnownProbe(_Data):
    """A health check the image supports out of the box: exactly one handler."""

    httpGet: HttpGet | None = None
    tcpSocket: int | str | None = None
    exec: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_handler(self) -> KnownProbe:
        if sum(h is not None for h in (self.httpGet, self.tcpSocket, self.exec)) != 1:
            raise ValueError("set exactly one of httpGet, tcpSocket, exec")
        return self


class KnownProbes(_Data):
    """Probes and how long a first start may take (initdb, index recovery, JVM warm-up)."""

    readiness: KnownProbe | None = None
    liveness: KnownProbe | None = None
    startupSeconds: int = Field(default=60, ge=5, le=1800)


class DataDir(_Data):
    """Where the image keeps its state: the mount path for a persistent volume."""

    path: Path
    env: dict[Annotated[str, Field(pattern=ENV_NAME)], str] = Field(
        default_factory=dict,
        description="Set (unless the spec sets them) when a volume is mounted at `path`.",
    )
    why: str = Field(default="", description="Why `env` is needed; shown to the reviewer.")


class User(_Data):
    """The user the image runs as by default; reported, the hardened UID still applies."""

    uid: int | None = Field(default=None, ge=0)
    gid: int | None = Field(default=None, ge=0)


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (cores or bytes)."""
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    units |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * units[suffix]
    return float(value)


def _check_resources(resources: Resources | None) -> None:
    """Requests must not exceed limits, or Kubernetes refuses the pod."""
    if resources is None:
        return
    for kind in ("cpu", "memory"):
        request = getattr(resources.requests, kind)
        limit = getattr(resources.limits, kind)
        if request and limit and quantity(request) > quantity(limit):
            raise ValueError(f"requests.{kind} {request} is above limits.{kind} {limit}")


class Variant(_Data):
    """Another build of the same software with its own file layout (bitnami, unprivileged).

    It shares the family's ports, probes, sizing and statefulness unless it sets its own;
    its data directory, writable paths, user, root needs and pinned tag are its own and are
    never inherited, because they follow the build's file layout, not the software.
    """

    name: str = Field(pattern=DNS1123_LABEL)
    match: list[Pattern] = Field(min_length=1)
    ports: list[KnownPort] | None = None
    probes: KnownProbes | None = None
    resources: Resources | None = None
    stateful: bool | None = None
    writable: list[Path] = Field(default_factory=list)
    data: DataDir | None = None
    user: User | None = None
    needsRoot: str = ""
    pinnedTag: str = ""
    note: str = ""

    @model_validator(mode="after")
    def _sizing(self) -> Variant:
        _check_resources(self.resources)
        return self


class ImageEntry(_Data):
    """What a platform engineer knows about one image family."""

    family: str = Field(pattern=DNS1123_LABEL, description="Name a reviewer sees in decisions.")
    category: Category
    image: Pattern = Field(
        description="The canonical repository ('postgres', 'grafana/grafana'); pinnedTag applies to it."
    )
    match: list[Pattern] = Field(
        default_factory=list,
        description="Builds with the same layout: repository paths, globs, or bare names.",
    )
    exactOnly: bool = Field(
        default=False,
        description="The name is too generic to match under other namespaces (ghcr.io/x/<name>).",
    )
    ports: list[KnownPort] = Field(default_factory=list)
    probes: KnownProbes = Field(default_factory=KnownProbes)
    writable: list[Path] = Field(default_factory=list)
    data: DataDir | None = None
    stateful: bool = False
    user: User | None = None
    needsRoot: str = Field(default="", description="Why the image needs root, when it does.")
    resources: Resources | None = None
    pinnedTag: str = ""
    note: str = ""
    variants: list[Variant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ImageEntry:
        _check_resources(self.resources)
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"port names repeat: {', '.join(names)}")
        for kind in ("readiness", "liveness"):
            probe: KnownProbe | None = getattr(self.probes, kind)
            port = (
                None if probe is None else probe.httpGet.port if probe.httpGet else probe.tcpSocket
            )
            if isinstance(port, str) and port not in names:
                raise ValueError(f"probes.{kind} uses port {port!r}, not one of the entry's ports")
        return self


class Catalogue(_Data):
    """The whole data file."""

    images: list[ImageEntry] = Field(min_length=1)
