"""Docker Compose importer: a Compose file -> ChartRequirements plus notes on what changed.

Nothing is dropped silently: every key either maps to a requirement or leaves an ImportNote.
Secret values never reach the result; equal values are matched by keyed hash and forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ValidationError

from services.planner import knowledge
from services.planner.compose.common import (
    Draft,
    ImportContext,
    Notes,
    dns_label,
    expect_mapping,
    unique_label,
)
from services.planner.compose.extends import resolve_extends
from services.planner.compose.load import (
    Interpolator,
    Override,
    Reset,
    check_text,
    parse_yaml,
    project_environment,
)
from services.planner.compose.merge import merge_documents, strip_tags
from services.planner.compose.references import compose_aliases
from services.planner.compose.secrets import SecretRegistry
from services.planner.compose.service import map_service
from shared.errors import InputError
from shared.hosts import HostFinder
from shared.models.plan import ImportNote
from shared.models.requirements import (
    ChartRequirements,
    Component,
    ConfigFile,
    ServiceRef,
    Volume,
    WorkloadKind,
)

__all__ = ["ImportResult", "compose_model", "import_compose", "looks_like_compose"]

TOP_LEVEL_KEYS = {
    "version",
    "name",
    "include",
    "services",
    "models",
    "networks",
    "volumes",
    "secrets",
    "configs",
}


class ImportResult(BaseModel):
    """Requirements imported from a Compose file and the notes on what did not map 1:1."""

    requirements: ChartRequirements
    notes: list[ImportNote]


def looks_like_compose(data: object) -> bool:
    """Whether parsed data is a Compose file: a `services` mapping and no `components` key."""
    return (
        isinstance(data, Mapping)
        and isinstance(data.get("services"), Mapping)
        and "components" not in data
    )


def import_compose(
    text: str,
    *,
    name: str | None = None,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    override_names: Sequence[str] = (),
) -> ImportResult:
    """Import a Compose file; raises InputError naming the field when it cannot be read.

    `overrides` are the texts of later Compose files (`docker-compose.override.yml`) merged
    over this one in order, by Compose's merge rules; `override_names` name them in notes.
    `environ` is the shell environment `${VAR}` reads (with the project's `.env`); the
    process's own environment is never read here: the CLI passes the user's shell, a service
    only what the request carries.
    """
    notes = Notes()
    env = project_environment(base_dir, environ or {}, notes)
    interpolator = Interpolator(env, notes)
    try:
        doc = _model(text, overrides, override_names, base_dir, interpolator)
        return _import_document(doc, notes, env, name=name, base_dir=base_dir)
    except InputError as exc:
        # A field an unset variable emptied: the error names the variable to set.
        raise interpolator.explain(exc) from None


def compose_model(
    text: str,
    *,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The Compose document as `docker compose config` sees it: overrides merged, variables
    interpolated, `extends` resolved. What the importer maps, for callers that check it."""
    notes = Notes()
    env = project_environment(base_dir, environ or {}, notes)
    return _model(text, overrides, (), base_dir, Interpolator(env, notes))


def _model(
    text: str,
    overrides: Sequence[str],
    override_names: Sequence[str],
    base_dir: Path | None,
    interpolator: Interpolator,
) -> dict[str, Any]:
    """The main file with the override files merged over it, interpolated, extends resolved."""
    check_text(text)
    docs = [interpolator.document(_check_root(parse_yaml(text)))]
    for i, over in enumerate(overrides):
        label = override_names[i] if i < len(override_names) else f"override file {i + 1}"
        docs.append(interpolator.document(_override_root(over, label)))
        interpolator.notes.info(
            label, "merged over the Compose file by Compose's merge rules, as docker compose does"
        )
    doc = reduce(merge_documents, docs)
    services = resolve_extends(_services(doc), base_dir, interpolator.env, interpolator.notes)
    return dict(strip_tags({**doc, "services": services}))


def _override_root(text: str, label: str) -> dict[str, Any]:
    """An override file's document: a Compose mapping that need not have `services:`."""
    try:
        check_text(text)
        return _check_root(parse_yaml(text), require_services=False)
    except InputError as exc:
        raise InputError(f"{label}: {exc.message}", field=exc.field, **exc.details) from None


def _import_document(
    doc: dict[str, Any],
    notes: Notes,
    env: Mapping[str, str],
    *,
    name: str | None,
    base_dir: Path | None,
) -> ImportResult:
    """The interpolated Compose document as requirements and notes."""
    _top_level_notes(doc, notes)
    chart = _chart_name(name, doc, base_dir, notes)
    services = _services(doc)
    names = _component_names(services, notes)
    ctx = ImportContext(
        chart=chart,
        notes=notes,
        base_dir=base_dir,
        environ=env,
        registry=SecretRegistry(),
        hosts=HostFinder(compose_aliases(services, names)),
        components=names,
        top_volumes=_table(doc, "volumes"),
        top_secrets=_table(doc, "secrets"),
        top_configs=_table(doc, "configs"),
    )
    drafts = [map_service(svc, spec, ctx) for svc, spec in services.items()]
    _one_shots(drafts, ctx)
    _profiles(drafts, _active_profiles(env), ctx)
    _drop_code_shadows(drafts, ctx)
    _shared_volume_notes(ctx)
    _share_data(drafts, ctx)
    _secret_notes(ctx)
    _built_in_names(drafts, services, ctx)
    components = [_component(draft) for draft in drafts]
    try:
        requirements = ChartRequirements(
            name=chart,
            description=f"Imported from a Docker Compose file with {len(components)} services.",
            components=components,
            secrets=ctx.registry.chart_secrets(),
        )
    except ValidationError as exc:
        raise _input_error(exc, "<file>") from None
    return ImportResult(requirements=requirements, notes=notes.items)


def _check_root(data: object, *, require_services: bool = True) -> dict[str, Any]:
    """The parsed document as a Compose mapping, or an InputError saying what is wrong."""
    if data is None:
        raise InputError(
            "the Compose file is empty; it needs at least a `services:` mapping", field="<file>"
        )
    if not isinstance(data, Mapping):
        raise InputError(
            f"a Compose file is a mapping with a `services:` key, but this document is "
            f"{'a list' if isinstance(data, list) else 'a single value'}; start it with `services:`",
            field="<file>",
        )
    root = dict(expect_mapping(data, "<file>", "services: {web: {image: nginx}}"))
    unknown = [k for k in root if k not in TOP_LEVEL_KEYS and not k.startswith("x-")]
    if unknown:
        raise InputError(
            f"unknown top-level key {unknown[0]!r}; Compose allows "
            f"{', '.join(sorted(TOP_LEVEL_KEYS))} and `x-` extensions. Move it under a "
            "service or rename it `x-...`",
            field=unknown[0],
        )
    if require_services and ("services" not in root or root["services"] is None):
        raise InputError(
            "no `services:` mapping; a Compose file lists its containers under `services:`",
            field="services",
        )
    return root


def _services(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services mapping with every service checked to be a mapping."""
    services = expect_mapping(doc["services"], "services", "services: {web: {image: nginx}}")
    if not services:
        raise InputError("`services:` is empty; add at least one service", field="services")
    result: dict[str, dict[str, Any]] = {}
    for svc, spec in services.items():
        where = f"services.{svc}"
        if isinstance(spec, Reset):
            continue
        spec = spec.value if isinstance(spec, Override) else spec
        result[svc] = dict(expect_mapping({} if spec is None else spec, where, "image: nginx:1.27"))
    return result


def _table(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A top-level definitions table (`volumes`, `secrets`, `configs`), possibly empty."""
    value = doc.get(key)
    return {} if value is None else expect_mapping(value, key, f"{key}: {{data: {{}}}}")


def _top_level_notes(doc: Mapping[str, Any], notes: Notes) -> None:
    """Notes for top-level keys that do not become requirements themselves."""
    if "version" in doc:
        notes.info("version", "the `version` key is obsolete in Compose and was ignored")
    if "include" in doc:
        notes.warning(
            "include",
            "included Compose files were not imported; merge them into this file or import "
            "them separately",
        )
    if "models" in doc:
        notes.warning("models", "AI model definitions have no chart equivalent and were dropped")
    for net, spec in _table(doc, "networks").items():
        if isinstance(spec, Mapping) and spec.get("external"):
            notes.warning(f"networks.{net}", "external networks have no equivalent; dropped")
    if "networks" in doc:
        notes.info(
            "networks",
            "Compose networks were dropped: pods share one cluster network, and the chart's "
            "NetworkPolicies limit who may connect instead",
        )
    for vol, spec in _table(doc, "volumes").items():
        where = f"volumes.{vol}"
        if isinstance(spec, Mapping):
            if spec.get("external"):
                notes.warning(
                    where,
                    "an external volume already holds data; the chart creates a new "
                    "PersistentVolumeClaim, so migrate the data or bind it to the old volume",
                )
            if spec.get("driver") or spec.get("driver_opts"):
                notes.info(where, "volume drivers map to a storageClass; set it in the values")
    for key in doc:
        if key.startswith("x-"):
            notes.info(key, "extension fields are for Compose itself and were not imported")


def _chart_name(
    name: str | None, doc: Mapping[str, Any], base_dir: Path | None, notes: Notes
) -> str:
    """The chart name: the caller's, the Compose project `name:`, the folder name, or 'app'."""
    if name:
        wanted, source = name, "name"
    elif isinstance(doc.get("name"), str) and doc["name"]:
        wanted, source = doc["name"], "name"
    elif base_dir is not None and base_dir.resolve().name:
        wanted, source = base_dir.resolve().name, "<folder>"
    else:
        return "app"
    chart = dns_label(wanted)
    if chart != wanted:
        notes.info(source, f"chart name {wanted!r} became {chart!r} (a DNS-1123 label)")
    return chart


def _component_names(services: Mapping[str, Any], notes: Notes) -> dict[str, str]:
    """Compose service name -> unique DNS-1123 component name, noting every change."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    for svc in services:
        name = unique_label(dns_label(svc, fallback="service"), taken)
        if name != svc:
            notes.info(
                f"services.{svc}",
                f"service {svc!r} became component {name!r} (Kubernetes names are lower-case "
                "DNS-1123 labels)",
            )
        names[svc] = name
    return names


def _shared_volume_notes(ctx: ImportContext) -> None:
    """One note per top-level volume no service mounts (it was not imported)."""
    for volume in ctx.top_volumes:
        if volume not in ctx.volume_users:
            ctx.notes.info(
                f"volumes.{volume}", "no service mounts this volume; it was not imported"
            )


def _one_shots(drafts: list[Draft], ctx: ImportContext) -> None:
    """Services that run to completion become Jobs, judged from Compose facts only.

    A service others wait for with `service_completed_successfully` is one. So is one with
    `restart: "no"` or `on-failure` that serves nothing: no ports, no healthcheck, nobody
    waits for it to be healthy, and not an image known to be a server.
    """
    for draft in drafts:
        waits = ctx.awaits.get(draft.name, {})
        done = sorted(d for d, cond in waits.items() if cond == "service_completed_successfully")
        where = draft.path
        if done:
            why = (
                f"{', '.join(done)} wait{'s' if len(done) == 1 else ''} for it to complete "
                "(service_completed_successfully)"
            )
        elif draft.restart in ("no", "on-failure") or (draft.restart or "").startswith(
            "on-failure:"
        ):
            where = f"{draft.path}.restart"
            blockers = _serves(draft, waits)
            if blockers:
                ctx.notes.info(
                    where,
                    f"restart {draft.restart!r} but it {blockers}, so it stays a long-running "
                    "workload",
                )
                continue
            why = f"restart {draft.restart!r} and it serves nothing (no ports, no healthcheck)"
        else:
            continue
        if draft.fields.get("kind") not in (None, WorkloadKind.JOB):
            continue
        draft.fields["kind"] = WorkloadKind.JOB
        draft.fields.pop("ports", None)
        ctx.notes.info(
            where,
            f"{why}: it runs to completion, so it became a Job (re-run on every install and "
            "upgrade) that its dependents wait for, not a Deployment restarting it forever",
        )


def _serves(draft: Draft, waits: Mapping[str, str]) -> str:
    """Why a service that is not restarted is still a server, or '' when nothing says so."""
    if draft.fields.get("ports"):
        return "publishes ports"
    if draft.fields.get("probes"):
        return "has a healthcheck"
    healthy = sorted(d for d, cond in waits.items() if cond == "service_healthy")
    if healthy:
        return f"must be healthy for {', '.join(healthy)}"
    image = draft.fields.get("image") or ""
    profile = knowledge.profile_for(image) if image else None
    if profile is not None and profile.ports:
        return f"runs {knowledge.image_family(image)}, a server image"
    return ""


def _active_profiles(env: Mapping[str, str]) -> set[str]:
    """Active Compose profiles: COMPOSE_PROFILES (the CLI's --profile sets it too)."""
    return {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}


def _profiles(drafts: list[Draft], active: set[str], ctx: ImportContext) -> None:
    """Services whose profiles are all inactive are imported disabled (`enabled: false`).

    A disabled service an enabled one requires is enabled too: Compose refuses to start a
    service whose dependency is outside the active profiles (`required: false` excepted).
    """
    by_name = {d.name: d for d in drafts}
    off = {
        d.name
        for d in drafts
        if d.profiles and "*" not in active and not active.intersection(d.profiles)
    }
    pending = [d for d in drafts if d.name not in off]
    while pending:
        draft = pending.pop()
        for dep in draft.fields.get("dependsOn", []):
            if dep in off and dep not in draft.optional_deps:
                off.discard(dep)
                pending.append(by_name[dep])
                ctx.notes.info(
                    f"{by_name[dep].path}.profiles",
                    f"profiles {', '.join(by_name[dep].profiles)} are not active, but "
                    f"{draft.name} depends on it, so it is deployed too",
                )
    shown = ", ".join(sorted(active)) if active else "none"
    for name in sorted(off, key=list(by_name).index):
        draft = by_name[name]
        draft.fields["enabled"] = False
        ctx.notes.info(
            f"{draft.path}.profiles",
            f"profiles {', '.join(draft.profiles)} are not active (active: {shown}), so it is "
            f"in the chart but off: set {_values_key(name)}.enabled=true to deploy it "
            "(or generate with --profile / COMPOSE_PROFILES)",
        )


def _values_key(name: str) -> str:
    """The chart values key of a component (camelCase), for notes."""
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def _drop_code_shadows(drafts: list[Draft], ctx: ImportContext) -> None:
    """Anonymous volumes inside a dropped source-code mount only shielded image files: drop."""
    for draft in drafts:
        for code in draft.code_targets:
            for target in sorted(draft.anonymous):
                if target.startswith(code.rstrip("/") + "/") and target in draft.mounts:
                    source, _ = draft.mounts.pop(target)
                    ctx.notes.info(
                        source,
                        f"anonymous volume {target} only kept the image's files visible under "
                        f"the source mount at {code}, which was dropped; dropped too",
                    )


def _share_data(drafts: list[Draft], ctx: ImportContext) -> None:
    """A named volume or host folder mounted by several services becomes one shared claim."""
    live = {
        id(item)
        for draft in drafts
        for _, item in draft.mounts.values()
        if isinstance(item, Volume)
    }
    taken: set[str] = set()
    for key, mounts in ctx.data_mounts.items():
        mounts = [(comp, vol) for comp, vol in mounts if id(vol) in live]
        users = list(dict.fromkeys(comp for comp, _ in mounts))
        if len(users) < 2:
            continue
        kind, _, source = key.partition(":")
        base = source if kind == "volume" else PurePosixPath(source).name
        claim = unique_label(dns_label(base, fallback="data"), taken)
        for _, volume in mounts:
            volume.sharedClaim = claim
            volume.accessModes = ["ReadWriteMany"]
        where = f"volumes.{source}" if kind == "volume" else f"services.{users[0]}.volumes"
        ctx.notes.warning(
            where,
            f"{'volume' if kind == 'volume' else 'folder'} {source!r} is used by "
            f"{', '.join(users)}: they share one ReadWriteMany claim {claim!r}, so the "
            "storage class must support ReadWriteMany (NFS, CephFS, EFS, Azure Files...)",
        )


def _secret_notes(ctx: ImportContext) -> None:
    """A note per chart secret the chart cannot generate: someone must supply it."""
    for secret in ctx.registry.chart_secrets():
        if not secret.generate:
            ctx.notes.warning(
                f"secrets.{secret.name}",
                f"secret {secret.name!r} is not generated; supply its value at install "
                "(or point the chart at an existing Secret)",
            )


_FIELD_SOURCES = {
    "image": "image",
    "command": "entrypoint",
    "args": "command",
    "workingDir": "working_dir",
    "ports": "ports",
    "env": "environment",
    "envFiles": "env_file",
    "configFiles": "volumes",
    "secretFiles": "secrets",
    "volumes": "volumes",
    "tmpfs": "tmpfs",
    "resources": "deploy.resources",
    "replicas": "deploy.replicas",
    "probes": "healthcheck",
    "security": "user",
    "scheduling": "deploy.placement",
    "annotations": "labels",
    "dependsOn": "depends_on",
}


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _built_in_names(
    drafts: list[Draft], services: Mapping[str, Mapping[str, Any]], ctx: ImportContext
) -> None:
    """A dependency that a dependent names nowhere keeps its Compose name as a Service alias.

    `depends_on: [redis]` with no `redis` in the dependent's env, command or config files
    means the host name is in its image (example-voting-app's vote connects to `redis`):
    only a Service with exactly that name lets it find its peer.
    """
    by_name = {d.name: d for d in drafts}
    for draft in drafts:
        called = {
            link[0]
            for value in draft.env.values()
            if isinstance(value, ServiceRef)
            for link in value.links()
        }
        called |= {
            link[0]
            for _, mount in draft.mounts.values()
            if isinstance(mount, ConfigFile)
            for link in mount.links()
        }
        for dep in draft.fields.get("dependsOn", []):
            callee = by_name.get(dep)
            if callee is None or dep in called or dep == draft.name:
                continue
            names = [callee.service, services[callee.service].get("hostname")]
            for alias in names:
                if (
                    isinstance(alias, str)
                    and _DNS_LABEL.match(alias)
                    and alias not in callee.aliases
                ):
                    callee.aliases.append(alias)
                    ctx.notes.info(
                        f"{callee.path}",
                        f"{draft.name} depends on it but names no host for it, so its image "
                        f"likely has {alias!r} built in: a Service named exactly {alias!r} "
                        f"reaches it too ({callee.name}.service.aliases)",
                    )


def _component(draft: Draft) -> Component:
    """Build the Component; a validation failure names the Compose field it came from."""
    fields = dict(draft.fields)
    fields["env"] = draft.env
    fields["envFiles"] = draft.env_files
    fields["secretFiles"] = draft.secret_files
    mounts = [m for _, m in draft.mounts.values()]
    fields["volumes"] = [m for m in mounts if isinstance(m, Volume)]
    fields["configFiles"] = [m for m in mounts if isinstance(m, ConfigFile)]
    fields["tmpfs"] = [m for m in mounts if isinstance(m, str)]
    if draft.aliases:
        fields["serviceAliases"] = draft.aliases
    try:
        return Component(name=draft.name, **fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]["loc"]
        key = _FIELD_SOURCES.get(str(first[0]), str(first[0])) if first else ""
        raise _input_error(exc, f"{draft.path}.{key}" if key else draft.path) from None


def _input_error(exc: ValidationError, field: str) -> InputError:
    """A pydantic error as an InputError naming the Compose field (values are never echoed)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        problems.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return InputError(
        f"the imported value is not valid: {'; '.join(problems)}; fix this field in the Compose file",
        field=field,
    )
