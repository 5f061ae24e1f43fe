"""Compose `deploy:` and `gpus:` -> workload kind, replicas, resources, scheduling, strategy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.planner.compose.common import (
    Draft,
    ImportContext,
    add_annotations,
    expect_list,
    expect_mapping,
    scalar_text,
    str_list,
    wrong_type,
)
from services.planner.compose.units import cpu_quantity, memory_quantity
from shared.models.requirements import WorkloadKind

_CONSTRAINT = re.compile(r"^\s*([\w.\-/]+)\s*(==|!=)\s*(.+?)\s*$")
_NODE_KEYS = {
    "node.hostname": "kubernetes.io/hostname",
    "node.platform.os": "kubernetes.io/os",
    "node.platform.arch": "kubernetes.io/arch",
}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def resources(draft: Draft) -> dict[str, dict[str, Any]]:
    """The draft's resources as mutable `requests`/`limits` dicts."""
    found: dict[str, dict[str, Any]] = draft.fields.setdefault(
        "resources", {"requests": {}, "limits": {}}
    )
    return found


def scheduling(draft: Draft) -> dict[str, Any]:
    """The draft's scheduling settings as a mutable dict."""
    found: dict[str, Any] = draft.fields.setdefault("scheduling", {})
    return found


def map_deploy(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Every `deploy:` key, each mapped or noted."""
    spec = expect_mapping(value, where, "{replicas: 2, resources: {limits: {memory: 512M}}}")
    for key, item in spec.items():
        at = f"{where}.{key}"
        if item is None:
            continue
        if key == "mode":
            _mode(scalar_text(item, at, "replicated"), at, draft, ctx)
        elif key == "replicas":
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise wrong_type(at, item, "a whole number", "replicas: 2")
            draft.fields["replicas"] = item
        elif key == "resources":
            _resources(item, at, draft, ctx)
        elif key == "restart_policy":
            _restart_policy(item, at, draft, ctx)
        elif key == "placement":
            _placement(item, at, draft, ctx)
        elif key == "update_config":
            _update_config(item, at, draft, ctx)
        elif key == "labels":
            add_annotations(item, at, draft, ctx)
        elif key == "endpoint_mode":
            ctx.notes.info(
                at, "the chart's Service load-balances (a headless Service is for dnsrr)"
            )
        elif key == "rollback_config":
            ctx.notes.warning(
                at, "rollbacks are done with `helm rollback`; the settings were dropped"
            )
        else:
            ctx.notes.warning(at, f"unknown deploy key {key!r} was not imported")


def _mode(mode: str, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`deploy.mode`: global -> DaemonSet, *-job -> Job."""
    if mode == "global":
        draft.fields["kind"] = WorkloadKind.DAEMONSET
    elif mode in ("replicated-job", "global-job"):
        draft.fields["kind"] = WorkloadKind.JOB
        if mode == "global-job":
            ctx.notes.warning(where, "a job on every node has no direct equivalent; it is one Job")
    elif mode != "replicated":
        ctx.notes.warning(where, f"unknown deploy mode {mode!r}; the planner chooses the kind")


def _amounts(value: object, where: str, draft: Draft, ctx: ImportContext) -> dict[str, Any]:
    """`limits` or `reservations` as ResourceAmounts fields."""
    spec = expect_mapping(value, where, "{cpus: '0.5', memory: 512M}")
    amounts: dict[str, Any] = {}
    for key, item in spec.items():
        at = f"{where}.{key}"
        if key == "cpus":
            amounts["cpu"] = cpu_quantity(item, at)
        elif key == "memory":
            amounts["memory"] = memory_quantity(item, at)
        elif key == "devices":
            gpus = _devices(item, at, ctx)
            if gpus:
                amounts["gpu"] = gpus
        elif key == "pids":
            ctx.notes.warning(at, "PID limits are set per node by the kubelet; dropped")
        else:
            ctx.notes.warning(at, f"resource {key!r} was not imported")
    return amounts


def _resources(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`deploy.resources` -> requests (reservations) and limits."""
    spec = expect_mapping(value, where, "{limits: {memory: 512M}}")
    target = resources(draft)
    for key, section in (("limits", "limits"), ("reservations", "requests")):
        if spec.get(key) is not None:
            amounts = _amounts(spec[key], f"{where}.{key}", draft, ctx)
            gpu = amounts.pop("gpu", None)
            target[section].update(amounts)
            if gpu:
                # Extended resources are set as limits; Kubernetes derives the request.
                target["limits"]["gpu"] = gpu
    for key in spec:
        if key not in ("limits", "reservations"):
            ctx.notes.warning(f"{where}.{key}", f"unknown resources key {key!r} was not imported")


def _gpu_count(spec: Mapping[str, Any], where: str, ctx: ImportContext) -> int:
    """How many GPUs a device request asks for; `all` and device IDs become counts with a note."""
    count = spec.get("count")
    ids = spec.get("device_ids")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    if ids is not None:
        ids_list = str_list(ids, f"{where}.device_ids", '["0"]')
        ctx.notes.info(where, "specific GPU IDs cannot be chosen; asked for that many GPUs")
        return len(ids_list)
    if count not in (None, "all"):
        raise wrong_type(f"{where}.count", count, "a whole number or `all`", "count: 1")
    ctx.notes.warning(
        where, "`all` GPUs has no Kubernetes equivalent; the chart asks for 1 (raise it in values)"
    )
    return 1


def _devices(value: object, where: str, ctx: ImportContext) -> int:
    """`reservations.devices` -> the number of NVIDIA GPUs; other devices are noted."""
    total = 0
    for i, item in enumerate(expect_list(value, where, "[{capabilities: [gpu], count: 1}]")):
        at = f"{where}[{i}]"
        spec = expect_mapping(item, at, "{capabilities: [gpu], count: 1}")
        caps = str_list(spec.get("capabilities", []), f"{at}.capabilities", "[gpu]")
        if "gpu" in caps:
            total += _gpu_count(spec, at, ctx)
        else:
            ctx.notes.warning(at, f"device capabilities {caps} have no equivalent; dropped")
    return total


def map_gpus(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Service-level `gpus:` (`all` or device requests) -> a GPU limit."""
    if value == "all":
        count = _gpu_count({"count": "all"}, where, ctx)
    else:
        count = 0
        for i, item in enumerate(expect_list(value, where, "[{count: 1}]")):
            count += _gpu_count(
                expect_mapping(item, f"{where}[{i}]", "{count: 1}"), f"{where}[{i}]", ctx
            )
    if count:
        resources(draft)["limits"]["gpu"] = count


def _restart_policy(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """A service that is not restarted after it exits is a run-to-completion Job."""
    spec = expect_mapping(value, where, "{condition: on-failure}")
    condition = spec.get("condition", "any")
    if condition in ("none", "on-failure"):
        if draft.fields.get("ports"):
            ctx.notes.warning(
                where,
                f"condition {condition!r} would make this a Job, but it serves ports, so it "
                "stays a long-running workload that Kubernetes restarts",
            )
        elif draft.fields.get("kind") in (None, WorkloadKind.JOB):
            draft.fields["kind"] = WorkloadKind.JOB
            ctx.notes.info(
                where,
                f"condition {condition!r} with no ports: it runs to completion, so it became a Job",
            )
    attempts = spec.get("max_attempts")
    if draft.fields.get("kind") is WorkloadKind.JOB and isinstance(attempts, int) and attempts >= 0:
        draft.fields["job"] = {"backoffLimit": attempts}
    for key in ("delay", "window"):
        if key in spec:
            ctx.notes.info(f"{where}.{key}", "Kubernetes uses its own restart back-off")


def _placement(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Placement constraints -> nodeSelector (==) or node affinity (!=); the rest is noted."""
    spec = expect_mapping(value, where, '{constraints: ["node.labels.disk==ssd"]}')
    selector: dict[str, str] = {}
    excluded: list[dict[str, Any]] = []
    for i, text in enumerate(str_list(spec.get("constraints", []), f"{where}.constraints", "[]")):
        at = f"{where}.constraints[{i}]"
        match = _CONSTRAINT.match(text)
        field = match.group(1) if match else ""
        key = (
            field.removeprefix("node.labels.")
            if field.startswith("node.labels.")
            else _NODE_KEYS.get(field)
        )
        if match is None or not key:
            ctx.notes.warning(at, f"constraint {text!r} has no node-label equivalent; dropped")
            continue
        wanted = match.group(3).strip("\"'")
        if key == "kubernetes.io/arch":
            wanted = _ARCH.get(wanted, wanted)
        if match.group(2) == "==":
            selector[key] = wanted
        else:
            excluded.append({"key": key, "operator": "NotIn", "values": [wanted]})
    if selector:
        scheduling(draft).setdefault("nodeSelector", {}).update(selector)
    if excluded:
        scheduling(draft)["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": excluded}]
                }
            }
        }
    for key in spec:
        if key != "constraints":
            ctx.notes.warning(
                f"{where}.{key}",
                f"placement {key!r} was not imported; use topology spread in values",
            )


def _update_config(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`update_config` -> a rolling update that replaces `parallelism` pods at a time."""
    spec = expect_mapping(value, where, "{parallelism: 1, order: start-first}")
    parallelism = spec.get("parallelism")
    if isinstance(parallelism, int) and not isinstance(parallelism, bool) and parallelism >= 0:
        step: int | str = parallelism or "100%"
        start_first = spec.get("order") == "start-first"
        draft.fields["strategy"] = {
            "type": "RollingUpdate",
            "maxSurge": step if start_first else 0,
            "maxUnavailable": 0 if start_first else step,
        }
    for key in spec:
        if key not in ("parallelism", "order"):
            ctx.notes.info(f"{where}.{key}", f"update setting {key!r} has no equivalent; dropped")
