"""One Compose service -> a component Draft: image, command, env, ports, probes, security."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from services.planner.compose.common import (
    Draft,
    ImportContext,
    add_annotations,
    expect_list,
    expect_mapping,
    key_values,
    scalar_text,
    str_list,
    wrong_type,
)
from services.planner.compose.credentials import move_credentials
from services.planner.compose.deploy import map_deploy, map_gpus, resources, scheduling
from services.planner.compose.health import map_healthcheck
from services.planner.compose.load import parse_dotenv, read_text_file
from services.planner.compose.proxy import is_docker_provider_proxy, map_traefik_labels
from services.planner.compose.references import service_ref, split_url_password, to_format
from services.planner.compose.secrets import has_url_credentials, is_secret_name, mask_credentials
from services.planner.compose.security import (
    map_api_socket,
    map_cap_add,
    map_namespace,
    map_network_mode,
    map_privileged,
    map_read_only,
    map_security_opt,
    map_user,
)
from services.planner.compose.storage import (
    local_path,
    map_config,
    map_secret,
    map_tmpfs,
    map_volume,
)
from services.planner.compose.units import (
    cpu_quantity,
    memory_quantity,
    name_ports,
    parse_expose,
    parse_port,
)
from shared.errors import InputError
from shared.models.requirements import ENV_NAME, SecretRef, ServiceRef

Handler = Callable[[object, str, Draft, ImportContext], None]
_ENV_NAME = re.compile(ENV_NAME)


def map_service(svc: str, spec: Mapping[str, Any], ctx: ImportContext) -> Draft:
    """Map one service; keys not mapped leave a note, unknown keys a warning."""
    draft = Draft(service=svc, name=ctx.components[svc])
    draft.build_context = _build_context(spec.get("build"))
    if isinstance(spec.get("working_dir"), str):
        draft.workdir = spec["working_dir"]
    _image(spec, draft, ctx)
    _environment(spec, draft, ctx)
    _ports(spec, draft, ctx)
    for key, value in spec.items():
        where = f"{draft.path}.{key}"
        if key in _EXPLICIT or value is None:
            continue
        if key in HANDLERS:
            HANDLERS[key](value, where, draft, ctx)
        elif key in INFO_KEYS:
            ctx.notes.info(where, INFO_KEYS[key])
        elif key in WARNING_KEYS:
            ctx.notes.warning(where, WARNING_KEYS[key])
        elif key.startswith("x-"):
            ctx.notes.info(where, "extension fields are for Compose itself and were not imported")
        else:
            ctx.notes.warning(
                where, f"unknown service key {key!r} was not imported; check its spelling"
            )
    if spec.get("deploy") is not None:
        map_deploy(spec["deploy"], f"{draft.path}.deploy", draft, ctx)
    if is_docker_provider_proxy(spec):
        draft.fields["enabled"] = False
        ctx.notes.warning(
            draft.path,
            "Traefik with the Docker provider finds its routes through the Docker socket, which "
            "a pod does not have: it is imported off; the components' Ingresses and your "
            f"cluster's ingress controller route instead ({draft.name}.enabled=true to deploy it)",
        )
    return draft


def _labels(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`labels` -> annotations; reverse-proxy labels also give a port and an Ingress."""
    add_annotations(value, where, draft, ctx)
    map_traefik_labels(value, where, draft, ctx)


# --- image and command ---------------------------------------------------------------------


def _image(spec: Mapping[str, Any], draft: Draft, ctx: ImportContext) -> None:
    """`image` and `build`: a build-only service gets an empty image and a warning."""
    image = spec.get("image")
    build = spec.get("build")
    if image is not None:
        draft.fields["image"] = scalar_text(image, f"{draft.path}.image", "nginx:1.27").strip()
    if build is None:
        if not draft.fields.get("image"):
            raise InputError(
                "the service has neither `image:` nor `build:`; add `image: <name>:<tag>`",
                field=f"{draft.path}.image",
            )
        return
    context = (
        build
        if isinstance(build, str)
        else expect_mapping(build, f"{draft.path}.build", "build: ./app").get("context", ".")
    )
    if draft.fields.get("image"):
        ctx.notes.info(
            f"{draft.path}.build",
            f"the image {draft.fields['image']!r} is built from {context}; push it to a "
            "registry the cluster can pull from",
        )
        return
    draft.fields["image"] = ""
    ctx.notes.warning(
        f"{draft.path}.build",
        f"this service is built from source ({context}) and has no image; the image must be "
        f"built and pushed to a registry, then set as {draft.name}.image in the chart values",
    )


def _build_context(build: object) -> str | None:
    """The build context folder of `build:` (string or mapping), or None without one."""
    if isinstance(build, str):
        return build
    if isinstance(build, Mapping):
        context = build.get("context", ".")
        return context if isinstance(context, str) else "."
    return None


def _argv(value: object, where: str, draft: Draft, ctx: ImportContext) -> list[str]:
    """A command as a list (strings split like a shell), sibling hosts rewritten."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise InputError(
                f"cannot split the command: {exc}; balance the quotes", field=where
            ) from exc
    else:
        argv = str_list(value, where, '["nginx", "-g", "daemon off;"]')
    escaped = [_arg(arg, f"{where}[{i}]", draft, ctx) for i, arg in enumerate(argv)]
    return move_credentials(escaped, where, draft, ctx)


def _arg(arg: str, where: str, draft: Draft, ctx: ImportContext) -> str:
    """One argument: `$(` escaped (Kubernetes expands it), sibling hosts as `$(VAR)` of a ref."""
    text = arg.replace("$(", "$$(")
    matches = ctx.hosts.find(text, "")
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for match in matches:
        var = _host_var(match.component, draft)
        parts += [text[last : match.start], f"$({var})"]
        last = match.end
    parts.append(text[last:])
    ctx.notes.info(
        where,
        "sibling hosts in the command are read from env "
        + ", ".join(_host_var(m.component, draft) for m in matches)
        + " (Service names rendered at install; Kubernetes expands $(VAR) in arguments)",
    )
    return "".join(parts)


def _host_var(component: str, draft: Draft) -> str:
    """The env variable holding a sibling's Service name for command arguments."""
    var = component.upper().replace("-", "_") + "_SERVICE_NAME"
    current = draft.env.get(var)
    if current is None:
        draft.env[var] = ServiceRef(serviceRef=component)
    elif not (isinstance(current, ServiceRef) and current.serviceRef == component):
        var = "AUTOPILOT_" + var
        draft.env[var] = ServiceRef(serviceRef=component)
    return var


def _command(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`command` replaces the image's CMD: Kubernetes `args`."""
    draft.fields["args"] = _argv(value, where, draft, ctx)


def _entrypoint(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`entrypoint` replaces the image's ENTRYPOINT: Kubernetes `command`."""
    argv = _argv(value, where, draft, ctx)
    if not argv:
        ctx.notes.warning(
            where,
            "an empty entrypoint clears the image's ENTRYPOINT in Compose; Kubernetes cannot "
            "clear it, so set the full command in the chart values",
        )
    draft.fields["command"] = argv


def _working_dir(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`working_dir` -> workingDir."""
    draft.fields["workingDir"] = scalar_text(value, where, "/app")


# --- environment ---------------------------------------------------------------------------


def _env_file_entries(value: object, where: str) -> list[tuple[str, bool, bool, str]]:
    """`env_file` (string, list, long form) as (path, required, raw format, field path)."""
    items = [value] if isinstance(value, str | Mapping) else expect_list(value, where, "[.env]")
    entries = []
    for i, item in enumerate(items):
        at = where if isinstance(value, str | Mapping) else f"{where}[{i}]"
        if isinstance(item, Mapping):
            spec = expect_mapping(item, at, "{path: ./app.env, required: false}")
            if "path" not in spec:
                raise InputError("a long-form env_file needs `path:`", field=at)
            path = scalar_text(spec["path"], f"{at}.path", "./app.env")
            entries.append(
                (path, spec.get("required", True) is not False, spec.get("format") == "raw", at)
            )
        else:
            entries.append((scalar_text(item, at, "./app.env"), True, False, at))
    return entries


def _read_env_files(value: object, where: str, ctx: ImportContext) -> dict[str, tuple[str, str]]:
    """Variables of all env files, later files winning, as var -> (value, field path)."""
    result: dict[str, tuple[str, str]] = {}
    for path, required, raw, at in _env_file_entries(value, where):
        local = local_path(ctx, path)
        text = read_text_file(local, 1024 * 1024) if local is not None and local.is_file() else None
        if text is None:
            if local is None or not local.is_file():
                why = "no base_dir was given" if ctx.base_dir is None else "it was not found"
                message = f"env file {path} was not read: {why}; its variables are missing"
            else:
                message = f"env file {path} is binary or over 1 MiB and was not read"
            if required or (local is not None and local.is_file()):
                ctx.notes.warning(at, message)
            else:
                ctx.notes.info(at, f"optional env file {path} was not found and was skipped")
            continue
        parsed = parse_dotenv(text, at, ctx.notes, None if raw else ctx.environ)
        for var, val in parsed.items():
            val = ctx.environ.get(var) if val is None else val
            if val is None:
                ctx.notes.info(f"{at}.{var}", f"{var} has no value in the environment; left out")
            elif not _ENV_NAME.match(var):
                ctx.notes.warning(f"{at}.{var}", f"{var!r} is not a valid variable name; left out")
            else:
                result[var] = (val, f"{where}.{var}")
    return result


def _environment(spec: Mapping[str, Any], draft: Draft, ctx: ImportContext) -> None:
    """`env_file` and `environment` (which wins); secrets become references to chart secrets."""
    from_files: dict[str, tuple[str, str]] = {}
    if spec.get("env_file") is not None:
        from_files = _read_env_files(spec["env_file"], f"{draft.path}.env_file", ctx)
    declared: dict[str, tuple[str, str]] = {}
    where = f"{draft.path}.environment"
    if spec.get("environment") is not None:
        for var, value in key_values(spec["environment"], where, "[KEY=value]").items():
            at = f"{where}.{var}"
            if not _ENV_NAME.match(var):
                raise InputError(
                    f"{var!r} is not a valid variable name; use letters, digits, `_`, `.` "
                    "and `-`, not starting with a digit",
                    field=at,
                )
            value = ctx.environ.get(var) if value is None else value
            if value is None:
                ctx.notes.info(at, f"{var} is not set in the environment, so it was left out")
                continue
            declared[var] = (value, at)
    for var, (value, at) in from_files.items():
        if var not in declared:
            _env_var(var, value, at, draft, ctx, from_file=True)
    for var, (value, at) in declared.items():
        _env_var(var, value, at, draft, ctx, from_file=False)


def _env_var(
    var: str, value: str, at: str, draft: Draft, ctx: ImportContext, *, from_file: bool
) -> None:
    """One variable: a secret reference, a service reference, or plain text."""
    url = has_url_credentials(value)
    if url and ctx.hosts.find(value, var):
        _url_to_sibling(var, value, at, draft, ctx)
        return
    if url or is_secret_name(var, value):
        secret = ctx.registry.for_env(var, value, draft.name, draft.path, url=url)
        draft.env[var] = SecretRef(secret=secret)
        if url:
            ctx.notes.warning(
                at,
                f"{var} holds a URL with credentials, so it moved to chart secret {secret!r}, "
                f"which is not generated: supply it at install, like {mask_credentials(value)}",
            )
        else:
            shared = " (shared with an equal value elsewhere, so the apps keep agreeing)"
            ctx.notes.info(
                at,
                f"{var} looks secret, so it moved to chart secret {secret!r}"
                + (shared if ctx.registry.use_count(secret) > 1 else ""),
            )
        return
    matches = ctx.hosts.find(value, var)
    if matches:
        ref = service_ref(value, matches)
        draft.env[var] = ref
        ctx.notes.info(at, _calls(var, ref))
    elif from_file:
        draft.env_files[var] = value
    else:
        draft.env[var] = value


def _url_to_sibling(var: str, value: str, at: str, draft: Draft, ctx: ImportContext) -> None:
    """A URL with credentials that calls a sibling: the password to the Secret, the host a ref."""
    split = split_url_password(value)
    assert split is not None  # has_url_credentials said so
    masked, password = split
    secret = ctx.registry.for_env(f"{var}_PASSWORD", password, draft.name, draft.path, url=False)
    matches = ctx.hosts.find(masked, var)
    fmt = to_format(masked, matches).replace("{password}", "{secret:" + secret + "}")
    first = matches[0]
    ref = ServiceRef(serviceRef=first.component, port=first.port, format=fmt)
    draft.env[var] = ref
    ctx.notes.info(
        at,
        f"{_calls(var, ref)}; its password moved to chart secret {secret!r} and is put in the "
        "URL at run time",
    )


def _calls(var: str, ref: ServiceRef) -> str:
    """A note's words for a reference."""
    targets = ", ".join(f"{c}:{p}" if p else c for c, p in ref.links())
    return (
        f"{var} calls {targets}; the host is rendered from the Service name at install, "
        "so the link holds under any release name"
    )


# --- ports ---------------------------------------------------------------------------------


def _ports(spec: Mapping[str, Any], draft: Draft, ctx: ImportContext) -> None:
    """`ports` and `expose` -> container ports; host-side publishing is noted once."""
    raw = []
    for key, parse in (("ports", parse_port), ("expose", parse_expose)):
        if spec.get(key) is None:
            continue
        where = f"{draft.path}.{key}"
        for i, item in enumerate(expect_list(spec[key], where, '["8080:80"]')):
            raw.extend(parse(item, f"{where}[{i}]", ctx.notes))
    if spec.get("ports"):
        ctx.notes.info(
            f"{draft.path}.ports",
            "host ports are not published; the component's Service exposes the container "
            "ports inside the cluster (add an ingress or change the Service type to reach it "
            "from outside)",
        )
    if raw:
        draft.fields["ports"] = name_ports(raw)


# --- metadata, scheduling, resources -------------------------------------------------------


def _depends_on(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`depends_on` (list or map) -> dependsOn on the component names."""
    if isinstance(value, Mapping):
        names = list(expect_mapping(value, where, "{db: {condition: service_healthy}}"))
        for dep, cond in value.items():
            condition = cond.get("condition") if isinstance(cond, Mapping) else None
            callee = ctx.components.get(dep)
            if callee is not None and isinstance(cond, Mapping) and cond.get("required") is False:
                draft.optional_deps.add(callee)
            if callee is not None:
                # The importer judges one-shots once every service is read (importer.py).
                ctx.awaits.setdefault(callee, {})[draft.name] = str(condition or "service_started")
            if condition not in (None, "service_started", "service_completed_successfully"):
                ctx.notes.info(
                    f"{where}.{dep}",
                    f"condition {cond['condition']!r} is not enforced by Kubernetes: pods start "
                    "together and the app must retry until its dependency is ready",
                )
    else:
        names = str_list(value, where, "[db]")
    deps = draft.fields.setdefault("dependsOn", [])
    # Compose matches service names exactly, but samples in the wild mix case (`Backend`).
    folded = {svc.lower(): comp for svc, comp in ctx.components.items()}
    for dep in names:
        component = ctx.components.get(dep) or folded.get(dep.lower())
        if component is None:
            ctx.notes.warning(f"{where}.{dep}", f"{dep!r} is not a service in this file; ignored")
        elif component not in deps:
            deps.append(component)


def _restart(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`restart`: kept as a fact; whether the service is a one-shot Job is judged at the end."""
    text = scalar_text(value, where, "unless-stopped")
    draft.restart = text
    if text in ("always", "unless-stopped"):
        ctx.notes.info(where, "Kubernetes restarts long-running containers itself")


def _profiles(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`profiles`: kept; services outside the active profiles are imported disabled."""
    draft.profiles = str_list(value, where, "[debug]")


def _scale(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`scale` -> replicas."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise wrong_type(where, value, "a whole number", "scale: 2")
    draft.fields["replicas"] = value


def _cpus(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Legacy `cpus` -> cpu limit."""
    resources(draft)["limits"]["cpu"] = cpu_quantity(value, where)


def _mem_limit(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Legacy `mem_limit` -> memory limit."""
    resources(draft)["limits"]["memory"] = memory_quantity(value, where)


def _mem_reservation(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Legacy `mem_reservation` -> memory request."""
    resources(draft)["requests"]["memory"] = memory_quantity(value, where)


_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "arm": "arm"}


def _platform(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`platform: linux/amd64` -> node selector on kubernetes.io/os and arch."""
    parts = scalar_text(value, where, "linux/amd64").lower().split("/")
    selector = scheduling(draft).setdefault("nodeSelector", {})
    selector["kubernetes.io/os"] = parts[0]
    if len(parts) > 1:
        selector["kubernetes.io/arch"] = _ARCH.get(parts[1], parts[1])
    ctx.notes.info(where, "the platform became a node selector on kubernetes.io/os and arch")


def _shm_size(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`shm_size` -> a memory-backed emptyDir of that size at /dev/shm."""
    size = draft.fields["shmSize"] = memory_quantity(value, where)
    draft.mount("/dev/shm", where, "/dev/shm", ctx.notes)
    ctx.notes.info(where, f"shared memory became a memory-backed emptyDir of {size} at /dev/shm")


def _list_handler(
    each: Callable[[object, str, Draft, ImportContext], None], example: str
) -> Handler:
    """A handler that applies `each` to every item of a list value."""

    def handler(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
        for i, item in enumerate(expect_list(value, where, example)):
            each(item, f"{where}[{i}]", draft, ctx)

    return handler


_EXPLICIT = {"image", "build", "environment", "env_file", "ports", "expose", "deploy", "extends"}

HANDLERS: dict[str, Handler] = {
    "command": _command,
    "entrypoint": _entrypoint,
    "working_dir": _working_dir,
    "healthcheck": map_healthcheck,
    "user": map_user,
    "cap_add": map_cap_add,
    "privileged": map_privileged,
    "network_mode": map_network_mode,
    "security_opt": map_security_opt,
    "pid": map_namespace,
    "ipc": map_namespace,
    "uts": map_namespace,
    "userns_mode": map_namespace,
    "labels": _labels,
    "annotations": add_annotations,
    "depends_on": _depends_on,
    "restart": _restart,
    "profiles": _profiles,
    "scale": _scale,
    "cpus": _cpus,
    "mem_limit": _mem_limit,
    "mem_reservation": _mem_reservation,
    "gpus": map_gpus,
    "platform": _platform,
    "shm_size": _shm_size,
    "read_only": map_read_only,
    "use_api_socket": map_api_socket,
    "tmpfs": map_tmpfs,
    "volumes": _list_handler(map_volume, '["data:/var/lib/data"]'),
    "configs": _list_handler(map_config, "[my-config]"),
    "secrets": _list_handler(map_secret, "[db-password]"),
}

INFO_KEYS = {
    "container_name": "pods get generated names; siblings reach this one by its Service name",
    "hostname": "the pod's hostname is its pod name; siblings reach it by its Service name",
    "domainname": "the cluster DNS domain applies; the domain name was not imported",
    "networks": "pods share one cluster network; the chart's NetworkPolicies limit access",
    "links": "links are not needed: siblings reach each other by Service name",
    "external_links": "external links are not needed: reach other apps by their Service name",
    "logging": "container logs go to the cluster's log collection; the driver was not imported",
    "pull_policy": "the chart sets imagePullPolicy itself (IfNotPresent)",
    "pull_refresh_after": "the chart sets imagePullPolicy itself (IfNotPresent)",
    "stdin_open": "pods run without an attached stdin; it was not imported",
    "tty": "pods run without a TTY; it was not imported (logs may be buffered differently)",
    "cap_drop": "the chart already drops ALL capabilities",
    "develop": "the development watch settings do not apply to a cluster",
    "attach": "log attachment is a Compose CLI setting",
}

WARNING_KEYS = {
    "stop_grace_period": "the grace period was not imported; Kubernetes waits 30s by default",
    "stop_signal": "Kubernetes stops containers with SIGTERM; a custom stop signal is not supported",
    "extra_hosts": "extra host entries were not imported; use Service names or the cluster DNS",
    "dns": "custom DNS servers were not imported; pods use the cluster DNS",
    "dns_opt": "DNS options were not imported; pods use the cluster DNS",
    "dns_search": "DNS search domains were not imported; pods use the cluster DNS",
    "ulimits": "ulimits have no Kubernetes equivalent; they come from the node's runtime",
    "sysctls": "sysctls were not imported; set safe ones in the pod securityContext by hand",
    "init": "there is no init process option; use an image with tini if it reaps children",
    "devices": "host devices cannot be mounted by the chart; use a device plugin",
    "device_cgroup_rules": "device cgroup rules have no equivalent; dropped",
    "blkio_config": "block IO limits have no equivalent; dropped",
    "cpu_count": "use deploy.resources for CPU; this setting has no equivalent",
    "cpu_percent": "use deploy.resources for CPU; this setting has no equivalent",
    "cpu_shares": "CPU shares follow from the CPU request; this setting was dropped",
    "cpu_period": "CFS tuning has no equivalent; use deploy.resources",
    "cpu_quota": "CFS tuning has no equivalent; use deploy.resources",
    "cpu_rt_period": "realtime CPU settings have no equivalent; dropped",
    "cpu_rt_runtime": "realtime CPU settings have no equivalent; dropped",
    "cpuset": "CPU pinning needs the CPU manager on the node; dropped",
    "mem_swappiness": "swap settings have no equivalent; dropped",
    "memswap_limit": "swap settings have no equivalent; dropped",
    "oom_kill_disable": "the OOM killer cannot be disabled per pod; dropped",
    "oom_score_adj": "the OOM score follows the pod's QoS class; dropped",
    "pids_limit": "PID limits are set per node by the kubelet; dropped",
    "storage_opt": "storage driver options have no equivalent; dropped",
    "mac_address": "pods cannot choose a MAC address; dropped",
    "credential_spec": "Windows credential specs are not supported; dropped",
    "group_add": "supplementary groups were not imported; set fsGroup in the values if needed",
    "volumes_from": "volumes of other containers cannot be shared across pods; dropped",
    "post_start": "lifecycle hooks were not imported; add them to the chart by hand",
    "pre_stop": "lifecycle hooks were not imported; add them to the chart by hand",
    "runtime": "the runtime maps to a RuntimeClass; it was not imported",
    "isolation": "isolation technology is a Windows setting; dropped",
    "cgroup": "cgroup namespace settings have no equivalent; dropped",
    "cgroup_parent": "cgroup parents are managed by the kubelet; dropped",
    "label_file": "label files were not read; copy the labels under `labels:`",
    "provider": "provider services are not containers; nothing was imported for it",
    "models": "AI model bindings have no chart equivalent; dropped",
}
