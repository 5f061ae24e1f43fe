"""Compose security settings -> the component's security overrides, or notes when refused."""

from __future__ import annotations

from typing import Any

from services.planner.compose.common import (
    Draft,
    ImportContext,
    scalar_text,
    str_list,
    wrong_type,
)

LOW_UID_LIMIT = 10000
"""UIDs below this may collide with host users (checkov CKV_K8S_40 wants at least 10000)."""


def _security(draft: Draft) -> dict[str, Any]:
    """The draft's security settings as a mutable dict."""
    security: dict[str, Any] = draft.fields.setdefault("security", {})
    return security


def map_user(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`user: uid[:gid]` -> runAsUser/runAsGroup; names cannot be resolved without the image."""
    text = scalar_text(value, where, '"1000:1000"')
    uid, _, group = text.partition(":")
    security = _security(draft)
    if uid in ("root", "0"):
        security["runAsUser"] = 0
        security.setdefault("exceptions", []).append(
            {"setting": "runAsRoot", "reason": "compose file runs the container as root"}
        )
        ctx.notes.warning(where, "the container runs as root as the Compose file asks; review it")
    elif uid.isdigit():
        security["runAsUser"] = int(uid)
        if int(uid) < LOW_UID_LIMIT:
            # Kept as written; the finding it causes (a UID that may collide with host users)
            # is a declared exception with this reason, not silently "fixed".
            security.setdefault("exceptions", []).append(
                {"setting": "lowUid", "reason": f"set explicitly in Compose (user: {text})"}
            )
    else:
        ctx.notes.warning(
            where,
            f"user {uid!r} is a name; Kubernetes needs a numeric UID, so runAsUser was left "
            "for the planner (look the UID up in the image's /etc/passwd)",
        )
    if group.isdigit():
        security["runAsGroup"] = int(group)
    elif group:
        ctx.notes.warning(where, f"group {group!r} is a name; runAsGroup needs a number")


def map_read_only(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`read_only: false` keeps a writable root filesystem, as a declared exception."""
    if value is False:
        _security(draft).setdefault("exceptions", []).append(
            {
                "setting": "writableRootFilesystem",
                "reason": "set explicitly in Compose (read_only: false)",
            }
        )
        ctx.notes.info(
            where,
            "read_only: false is kept: the root filesystem stays writable (a declared security "
            "exception); remove it to get the chart's read-only default",
        )
    elif value is not True:
        raise wrong_type(where, value, "true or false", "read_only: true")


def map_cap_add(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`cap_add` -> added capabilities with a security exception a reviewer can read."""
    caps = []
    for cap in str_list(value, where, "[NET_BIND_SERVICE]"):
        name = cap.upper().removeprefix("CAP_")
        if name == "ALL":
            ctx.notes.error(where, "cap_add ALL is as good as privileged and was not granted")
        elif name not in caps:
            caps.append(name)
    if caps:
        security = _security(draft)
        security.setdefault("capabilities", {"add": []})["add"] = caps
        security.setdefault("exceptions", []).append(
            {"setting": "capabilities", "reason": f"compose file adds {', '.join(caps)}"}
        )


def map_privileged(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`privileged: true` is not supported: noted as an error, never granted."""
    if value is True:
        ctx.notes.error(
            where,
            "privileged containers are not supported: the chart runs it unprivileged; grant "
            "only the capabilities it needs with cap_add",
        )


def map_network_mode(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`network_mode`: host networking and shared namespaces are noted, never granted."""
    mode = scalar_text(value, where, "bridge")
    if mode == "host":
        ctx.notes.warning(
            where,
            "host networking was not enabled; the pod gets its own network and the Service "
            "exposes its ports (ask for a hostNetwork exception if it really needs the node's)",
        )
    elif mode.startswith(("service:", "container:")):
        ctx.notes.warning(
            where,
            f"sharing the network of {mode.split(':', 1)[1]} needs both containers in one pod; "
            "they became separate components that talk through Services",
        )
    elif mode == "none":
        ctx.notes.warning(where, "network_mode none has no equivalent; the pod has a network")
    else:
        ctx.notes.info(where, "pods share the cluster network; the network mode is not needed")


def map_security_opt(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`security_opt`: no-new-privileges is the chart's default; others are noted."""
    for opt in str_list(value, where, '["no-new-privileges:true"]'):
        if opt.replace("=", ":") in ("no-new-privileges", "no-new-privileges:true"):
            ctx.notes.info(where, "no-new-privileges is already the chart's default")
        else:
            ctx.notes.warning(
                where, f"security option {opt!r} was not imported; the chart uses RuntimeDefault"
            )


def map_namespace(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`pid`, `ipc`, `uts`, `userns_mode`: host namespaces are refused, others noted."""
    mode = scalar_text(value, where, "private")
    if mode == "host":
        ctx.notes.error(where, "host namespaces are not supported; the pod keeps its own")
    else:
        ctx.notes.warning(where, f"namespace mode {mode!r} has no equivalent; dropped")


def map_api_socket(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`use_api_socket` would hand the app the Docker daemon: refused."""
    if value is True:
        ctx.notes.error(where, "the Docker API socket is not available to pods and was not mounted")
