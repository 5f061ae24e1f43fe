"""Compose storage -> chart storage: named volumes, bind mounts, tmpfs, configs and secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from services.planner.compose.common import (
    Draft,
    ImportContext,
    dns_label,
    expect_list,
    expect_mapping,
    scalar_text,
    unique_label,
    wrong_type,
)
from services.planner.compose.load import read_text_file
from services.planner.compose.references import to_format
from shared.errors import InputError
from shared.models.requirements import ConfigFile, SecretFile, Volume

MAX_FILE_BYTES = 1024 * 1024
MAX_SECRET_BYTES = 64 * 1024
_SYSTEM_PREFIXES = ("/var/run", "/run", "/proc", "/sys", "/dev")
_HOST_TIME_FILES = ("/etc/localtime", "/etc/timezone")
_FILE_NAME = re.compile(r"^(\.[^.]+|[^.].*\.[A-Za-z0-9]{1,8})$")
# Where images conventionally keep their application; a bind mount of a folder of the
# build context here replaces the app baked into the image (a development override).
APP_DIRS = (
    "/app",
    "/usr/src/app",
    "/usr/app",
    "/code",
    "/src",
    "/opt/app",
    "/home/node/app",
    "/var/www/html",
    "/var/www",
    "/workspace",
    "/srv/app",
)


# --- files under base_dir ------------------------------------------------------------------


def local_path(ctx: ImportContext, source: str) -> Path | None:
    """The file a relative Compose path names, if it stays inside base_dir; else None."""
    if ctx.base_dir is None or source.startswith(("/", "~")):
        return None
    base = ctx.base_dir.resolve()
    candidate = (base / source).resolve()
    # A path that climbs out of the project folder is never read: the importer may run
    # as a service, and a Compose file must not be a way to read the server's files.
    return candidate if candidate.is_relative_to(base) else None


def read_local(
    ctx: ImportContext, source: str, where: str, limit: int = MAX_FILE_BYTES
) -> str | None:
    """The text of a project file, or None with a note saying why it could not be read."""
    path = local_path(ctx, source)
    if path is None:
        reason = (
            "no base_dir was given, so project files cannot be read"
            if ctx.base_dir is None
            else f"{source} is outside the Compose file's folder, so it was not read"
        )
        ctx.notes.warning(where, reason)
        return None
    if not path.is_file():
        ctx.notes.warning(where, f"{source} does not exist next to the Compose file")
        return None
    text = read_text_file(path, limit)
    if text is None:
        ctx.notes.warning(
            where,
            f"{source} is binary or over {limit // 1024} KiB, too big for a ConfigMap; "
            "bake it into the image or mount it from a volume",
        )
    return text


def config_file(
    target: str, content: str, where: str, ctx: ImportContext, mode: int | None = None
) -> ConfigFile:
    """A config file; sibling hosts in it (`proxy_pass http://api:8000`) become service refs."""
    matches = ctx.hosts.find(content)
    if not matches:
        return ConfigFile(path=target, content=content, mode=mode)
    names = ", ".join(sorted({f"{m.host!r} (component {m.component})" for m in matches}))
    ctx.notes.info(
        where,
        f"the file calls sibling hosts {names}; they are rendered from the Services' names at "
        "install, so the file holds under any release name",
    )
    return ConfigFile(path=target, content=to_format(content, matches), mode=mode, serviceRefs=True)


# --- volumes -------------------------------------------------------------------------------


def _split_short_volume(spec: str, path: str) -> tuple[str | None, str, list[str]]:
    """`[SOURCE:]TARGET[:MODE]` as (source, target, options)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return None, parts[0], []
    if len(parts) == 2:
        if parts[1].startswith("/"):
            return parts[0], parts[1], []
        return None, parts[0], parts[1].split(",")  # "/data:ro" on an anonymous volume
    if len(parts) == 3:
        return parts[0], parts[1], parts[2].split(",")
    raise InputError(
        f"{spec!r} has too many `:`; write it like `name:/path`, `./file:/path:ro`", field=path
    )


def _is_bind_source(source: str) -> bool:
    """Whether a short-syntax source is a host path rather than a volume name."""
    return source.startswith(("/", ".", "~")) or "/" in source


def map_volume(item: object, path: str, draft: Draft, ctx: ImportContext) -> None:
    """One entry of a service's `volumes:` (short or long syntax)."""
    if isinstance(item, str):
        source, target, options = _split_short_volume(item, path)
        read_only = "ro" in options
        if source is None:
            kind = "volume"
        else:
            kind = "bind" if _is_bind_source(source) else "volume"
        subpath = None
    elif isinstance(item, Mapping):
        spec = expect_mapping(item, path, "{type: volume, source: data, target: /data}")
        kind = scalar_text(spec.get("type", "volume"), f"{path}.type", "volume")
        source = (
            None if spec.get("source") in (None, "") else scalar_text(spec["source"], path, "data")
        )
        if "target" not in spec:
            raise InputError(
                "a long-syntax volume needs `target:` (the container path)", field=path
            )
        target = scalar_text(spec["target"], f"{path}.target", "/data")
        read_only = spec.get("read_only") is True
        options = []
        volume_opts = spec.get("volume")
        subpath = volume_opts.get("subpath") if isinstance(volume_opts, Mapping) else None
        if kind == "tmpfs":
            _tmpfs(target, path, draft, ctx)
            return
        if kind not in ("volume", "bind"):
            ctx.notes.warning(path, f"volume type {kind!r} has no Kubernetes equivalent; dropped")
            return
    else:
        raise wrong_type(path, item, "a volume mapping", "data:/var/lib/data")
    if not target.startswith("/"):
        raise InputError(
            f"the container path {target!r} must be absolute, like `/data`", field=path
        )
    if kind == "bind" and source is not None:
        _bind(source, target, read_only, path, draft, ctx)
    else:
        _named(source, target, read_only, subpath, path, draft, ctx)


def _named(
    source: str | None,
    target: str,
    read_only: bool,
    subpath: object,
    path: str,
    draft: Draft,
    ctx: ImportContext,
) -> None:
    """A named (or anonymous) volume -> a persistent Volume of the component."""
    if source is None:
        base = dns_label(PurePosixPath(target).name or "data", fallback="data")
        draft.anonymous.add(target)
        ctx.notes.info(
            path,
            f"anonymous volume at {target} became persistent volume {base!r} so its data "
            "survives restarts; make it a tmpfs if it is scratch space",
        )
    else:
        base = dns_label(source, fallback="data")
        if source not in ctx.top_volumes:
            ctx.notes.warning(
                path,
                f"volume {source!r} is not declared under the top-level `volumes:`; "
                "it was imported as a persistent volume anyway",
            )
        users = ctx.volume_users.setdefault(source, [])
        if draft.name in users:
            ctx.notes.warning(
                path,
                f"volume {source!r} is mounted twice in this service; Kubernetes mounts one "
                "claim per volume entry here, so the second mount got its own volume and the "
                "two paths no longer share data",
            )
        users.append(draft.name)
    name = unique_label(base, draft.volume_names())
    volume = Volume(name=name, mountPath=target, readOnly=read_only)
    if isinstance(subpath, str) and subpath:
        volume.subPath = subpath
    if source is not None:
        ctx.data_mounts.setdefault(f"volume:{source}", []).append((draft.name, volume))
    draft.mount(target, path, volume, ctx.notes)


def _is_system_path(source: str) -> bool:
    """Whether a host path is part of the host system (sockets, kernel interfaces, devices)."""
    clean = source.rstrip("/") or "/"
    return (
        clean == "/"
        or "docker.sock" in clean
        or any(clean == p or clean.startswith(p + "/") for p in _SYSTEM_PREFIXES)
    )


def _looks_like_file(target: str) -> bool:
    """Whether a bind mount that cannot be inspected is a single file (by its name)."""
    name = PurePosixPath(target).name
    return bool(_FILE_NAME.match(name)) and not name.endswith(".d")


def _bind(
    source: str, target: str, read_only: bool, path: str, draft: Draft, ctx: ImportContext
) -> None:
    """A bind mount -> a ConfigFile (files), a Volume (directories), or an error note (host)."""
    if _is_system_path(source):
        ctx.notes.error(
            path,
            f"bind mount of host path {source} was dropped: a chart cannot mount the node's "
            "sockets, /proc, /sys or devices (that would hand the app the host); use the "
            "Kubernetes API or a purpose-built operator instead",
        )
        return
    if source in _HOST_TIME_FILES:
        ctx.notes.warning(
            path, f"{source} from the host was dropped; set the TZ environment variable instead"
        )
        return
    local = local_path(ctx, source)
    if local is not None and local.is_dir():
        is_file = False
    elif local is not None and local.is_file():
        is_file = True
    else:
        is_file = _looks_like_file(target)
    if is_file:
        content = read_local(ctx, source, path)
        if content is None:
            if local is not None and local.is_file():
                return  # binary or too big: the note already says what to do
            ctx.notes.warning(
                path,
                f"{target} became an empty config file; paste the content of {source} into "
                "the chart values",
            )
            content = ""
        draft.mount(target, path, config_file(target, content, path, ctx), ctx.notes)
        return
    if is_code_mount(source, target, draft):
        draft.code_targets.append(target)
        ctx.notes.info(
            path,
            f"bind mount of the source folder {source} over {target} is a development override "
            "(the image already holds the app there, and an empty volume would hide it); "
            "dropped: build the code into the image",
        )
        return
    base = dns_label(PurePosixPath(source.rstrip("/")).name or "data", fallback="data")
    name = unique_label(base, draft.volume_names())
    ctx.notes.info(
        path,
        f"bind-mounted directory {source} became persistent volume {name!r} at {target}; "
        "it starts empty, so copy in any files the app needs or bake them into the image",
    )
    volume = Volume(name=name, mountPath=target, readOnly=read_only)
    ctx.data_mounts.setdefault(f"bind:{_folder(source)}", []).append((draft.name, volume))
    draft.mount(target, path, volume, ctx.notes)


def _folder(source: str) -> str:
    """A host folder as written, normalised so `./data/` and `data` compare equal."""
    return str(PurePosixPath(source.rstrip("/") or "/")).removeprefix("./") or "."


def _within(inner: str, outer: str) -> bool:
    """Whether relative folder `inner` is `outer` or lies inside it."""
    if outer == ".":
        return not inner.startswith(("/", "~", ".."))
    return inner == outer or inner.startswith(outer + "/")


def is_code_mount(source: str, target: str, draft: Draft) -> bool:
    """Whether a folder bind mount puts source code over the image's own app directory.

    Facts only: the folder is the service's build context (or holds it), or a folder of
    the build context mounted at a conventional app directory, or the target is the
    service's `working_dir`.
    """
    dest = target.rstrip("/") or "/"
    if draft.workdir and dest == (draft.workdir.rstrip("/") or "/"):
        return True
    if draft.build_context is None or source.startswith(("/", "~")):
        return False
    folder, context = _folder(source), _folder(draft.build_context)
    return _within(context, folder) or (_within(folder, context) and dest in APP_DIRS)


def _tmpfs(spec: str, path: str, draft: Draft, ctx: ImportContext) -> None:
    """A tmpfs path (`/run` or `/run:size=64m`) -> a memory-backed emptyDir."""
    target = spec.split(":", 1)[0].strip()
    if not target.startswith("/"):
        raise InputError(f"tmpfs path {target!r} must be absolute, like `/tmp`", field=path)
    draft.mount(target, path, target, ctx.notes)


def map_tmpfs(value: object, path: str, draft: Draft, ctx: ImportContext) -> None:
    """A service's `tmpfs:` (string or list)."""
    items = [value] if isinstance(value, str) else expect_list(value, path, "[/tmp]")
    for i, item in enumerate(items):
        where = path if isinstance(value, str) else f"{path}[{i}]"
        _tmpfs(scalar_text(item, where, "/tmp"), where, draft, ctx)


# --- configs and secrets -------------------------------------------------------------------


def _reference(item: object, path: str, kind: str) -> tuple[str, Mapping[str, Any]]:
    """A service's `configs:`/`secrets:` entry as (source name, long-form options)."""
    if isinstance(item, str):
        return item, {}
    spec = expect_mapping(item, path, f"{{source: my-{kind}, target: /path}}")
    if "source" not in spec:
        raise InputError(f"a long-syntax {kind} entry needs `source:`", field=path)
    return scalar_text(spec["source"], f"{path}.source", f"my-{kind}"), spec


def _definition(name: str, table: Mapping[str, Any], kind: str, path: str) -> Mapping[str, Any]:
    """The top-level definition a service refers to, or an InputError saying how to add it."""
    if name not in table:
        raise InputError(
            f"{kind} {name!r} is not defined; add it under the top-level `{kind}s:` "
            f"(for example `{kind}s: {{{name}: {{file: ./{name}.txt}}}}`)",
            field=path,
        )
    definition = table[name]
    return {} if definition is None else expect_mapping(definition, f"{kind}s.{name}", "file: ./x")


def map_config(item: object, path: str, draft: Draft, ctx: ImportContext) -> None:
    """One entry of a service's `configs:` -> a ConfigFile with the config's content."""
    source, spec = _reference(item, path, "config")
    definition = _definition(source, ctx.top_configs, "config", path)
    target = scalar_text(spec.get("target", f"/{source}"), f"{path}.target", "/etc/app.conf")
    if not target.startswith("/"):
        target = f"/{target}"
    mode = spec.get("mode")
    content: str | None = None
    where = f"configs.{source}"
    if "content" in definition:
        content = scalar_text(definition["content"], f"{where}.content", "key: value")
    elif "file" in definition:
        content = read_local(
            ctx, scalar_text(definition["file"], f"{where}.file", "./app.conf"), where
        )
    elif "environment" in definition:
        var = scalar_text(definition["environment"], f"{where}.environment", "APP_CONFIG")
        content = ctx.environ.get(var)
    if content is None:
        ctx.notes.warning(
            where, f"the content of config {source!r} is unknown; paste it into the chart values"
        )
    for key in ("uid", "gid"):
        if key in spec:
            ctx.notes.info(
                f"{path}.{key}", "file ownership follows the pod's fsGroup in Kubernetes"
            )
    config = config_file(
        target, content or "", path, ctx, mode=mode if isinstance(mode, int) else None
    )
    draft.mount(target, path, config, ctx.notes)


def compose_secret(name: str, path: str, ctx: ImportContext) -> str:
    """The chart secret for a top-level Compose secret, registered on first use."""
    if name in ctx.compose_secrets:
        return ctx.compose_secrets[name]
    definition = _definition(name, ctx.top_secrets, "secret", path)
    where = f"secrets.{name}"
    value: str | None = None
    if "file" in definition:
        source = scalar_text(definition["file"], f"{where}.file", "./secret.txt")
        origin = f"secret {name!r} (file {source})"
        local = local_path(ctx, source)
        if local is not None and local.is_file():
            text = read_text_file(local, MAX_SECRET_BYTES)
            value = text.rstrip("\r\n") if text is not None else None
        else:
            ctx.notes.info(
                where,
                f"{source} was not found next to the Compose file; the chart Secret starts "
                "empty (generated at install for passwords, otherwise supplied by you)",
            )
    elif "environment" in definition:
        var = scalar_text(definition["environment"], f"{where}.environment", "DB_PASSWORD")
        origin = f"secret {name!r} (variable {var})"
        value = ctx.environ.get(var)
    elif definition.get("external") is True:
        origin = f"external secret {name!r}"
        ctx.notes.warning(
            where,
            "an external secret lives outside the Compose file; set the chart's existingSecret "
            "or supply its value at install",
        )
    else:
        origin = f"secret {name!r}"
    # The value only serves to match equal env values by hash; the chart never carries it.
    chart_name = ctx.registry.for_compose_secret(name, value, origin)
    ctx.compose_secrets[name] = chart_name
    return chart_name


def map_secret(item: object, path: str, draft: Draft, ctx: ImportContext) -> None:
    """One entry of a service's `secrets:` -> a SecretFile at /run/secrets/<name> or the target."""
    source, spec = _reference(item, path, "secret")
    chart_name = compose_secret(source, path, ctx)
    ctx.registry.use(chart_name, draft.path)
    target = scalar_text(spec.get("target", source), f"{path}.target", "/run/secrets/x")
    if not target.startswith("/"):
        target = f"/run/secrets/{target}"
    for key in ("uid", "gid", "mode"):
        if key in spec:
            ctx.notes.info(
                f"{path}.{key}", "secret file ownership and mode follow the chart's defaults (0400)"
            )
    draft.secret_files.append(SecretFile(secret=chart_name, path=target))
