"""The "runs" check: every call between components reaches its callee under this release.

The chart is rendered with a release name that differs from the chart's. Each container's
env (plain values with `$(VAR)` expanded, Secret and ConfigMap keys, envFrom) is searched
for the names of the chart's Services and components. A host must be a rendered Service
that selects pods and exposes the port called, and the callee's NetworkPolicies must admit
the caller on that port. A name that is a component but no Service (a literal written for
another release name, or a Compose name) fails: the app would not find its peer. Files
mounted from ConfigMaps are searched too; what they name is reported as a warning, since
configuration files are the user's text.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from services.validator.checks import (
    Index,
    Obj,
    PodOwner,
    _containers,
    _d,
    _l,
    _map_matches,
    _meta,
    selector_matches,
)
from shared.hosts import HostFinder
from shared.models.reports import Finding, Severity

COMPONENT_LABEL = "app.kubernetes.io/component"
NAME_LABEL = "app.kubernetes.io/name"
_VAR = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


@dataclass(frozen=True)
class Call:
    """One host found in a caller's configuration."""

    caller: PodOwner
    where: str
    host: str
    port: int | None
    severity: Severity


def _data(obj: Obj) -> dict[str, str]:
    """A Secret's or ConfigMap's keys as text (Secret data decoded)."""
    out = {str(k): str(v) for k, v in _d(obj.get("stringData")).items()}
    for key, value in _d(obj.get("data")).items():
        if obj.get("kind") == "Secret":
            try:
                out[str(key)] = base64.b64decode(str(value)).decode("utf-8", "replace")
            except ValueError:
                continue
        else:
            out[str(key)] = str(value)
    return out


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables replaced, `$$` made `$`."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(sub, value)


def _store(idx: Index, kind: str) -> dict[str, dict[str, str]]:
    """Name -> data of every rendered object of a kind."""
    return {str(_meta(o).get("name", "")): _data(o) for o in idx.objects if o.get("kind") == kind}


def _calls(idx: Index, finder: HostFinder) -> list[Call]:
    """Every host every container names in env, envFrom, and mounted ConfigMap files."""
    secrets, configmaps = _store(idx, "Secret"), _store(idx, "ConfigMap")
    calls: list[Call] = []
    for pod in idx.pods:
        for c in _containers(pod.spec):
            env: dict[str, str] = {}
            for src in _l(c.get("envFrom")):
                cm = _d(_d(src).get("configMapRef")).get("name")
                sec = _d(_d(src).get("secretRef")).get("name")
                env.update(configmaps.get(str(cm), {}) if cm else secrets.get(str(sec), {}))
            for item in _l(c.get("env")):
                item = _d(item)
                name = str(item.get("name", ""))
                ref = _d(item.get("valueFrom"))
                if "value" in item:
                    env[name] = _expand(str(item.get("value") or ""), env)
                elif ref.get("secretKeyRef"):
                    key = _d(ref["secretKeyRef"])
                    env[name] = secrets.get(str(key.get("name")), {}).get(str(key.get("key")), "")
                elif ref.get("configMapKeyRef"):
                    key = _d(ref["configMapKeyRef"])
                    env[name] = configmaps.get(str(key.get("name")), {}).get(
                        str(key.get("key")), ""
                    )
            for var, value in env.items():
                for match in finder.find(value, var):
                    calls.append(
                        Call(
                            pod,
                            f"container {c.get('name')!r} env {var}",
                            match.host.lower(),
                            match.port,
                            Severity.ERROR,
                        )
                    )
        for vol in _l(pod.spec.get("volumes")):
            cm = _d(_d(vol).get("configMap")).get("name")
            for file, text in configmaps.get(str(cm), {}).items() if cm else ():
                for match in finder.find(text, ""):
                    calls.append(
                        Call(
                            pod,
                            f"ConfigMap {cm!r} file {file!r}",
                            match.host.lower(),
                            match.port,
                            Severity.WARNING,
                        )
                    )
    return calls


def _target_port(svc: Obj, port: int | None) -> tuple[Obj, Any] | None:
    """(the Service port entry, its targetPort) for a called port; the first when None."""
    for entry in _l(_d(svc.get("spec")).get("ports")):
        entry = _d(entry)
        if port is None or entry.get("port") == port:
            return entry, entry.get("targetPort", entry.get("port"))
    return None


def _container_port(pod: PodOwner, target: Any) -> tuple[int | None, str | None]:
    """(number, name) of the pod's port a Service targetPort names."""
    for c in _containers(pod.spec):
        for p in _l(c.get("ports")):
            p = _d(p)
            if target in (p.get("containerPort"), p.get("name")):
                return p.get("containerPort"), p.get("name")
    return (target, None) if isinstance(target, int) else (None, str(target))


def _admits(
    idx: Index, caller: PodOwner, callee: PodOwner, port: tuple[int | None, str | None]
) -> bool:
    """Whether the callee's NetworkPolicies let the caller in on the port."""
    policies = [
        o
        for o in idx.objects
        if o.get("kind") == "NetworkPolicy"
        and selector_matches(_d(_d(o.get("spec")).get("podSelector")), callee.labels)
        and "Ingress" in (_l(_d(o.get("spec")).get("policyTypes")) or ["Ingress"])
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in _l(_d(policy.get("spec")).get("ingress")):
            rule = _d(rule)
            peers = _l(rule.get("from"))
            source_ok = not peers or any(
                "namespaceSelector" not in _d(peer)
                and "ipBlock" not in _d(peer)
                and selector_matches(_d(_d(peer).get("podSelector")), caller.labels)
                for peer in peers
            )
            ports = _l(rule.get("ports"))
            port_ok = not ports or any(_d(p).get("port") in port for p in ports)
            if source_ok and port_ok:
                return True
    return False


def check_runs(idx: Index, release: str) -> list[Finding]:
    """Every call in env and config resolves to a Service, its port, and an open policy."""
    services = {str(_meta(s).get("name", "")): s for s in idx.services}
    components = {pod.labels[COMPONENT_LABEL] for pod in idx.pods if COMPONENT_LABEL in pod.labels}
    charts = {pod.labels[NAME_LABEL] for pod in idx.pods if NAME_LABEL in pod.labels}
    aliases: dict[str, str] = {name: name for name in services}
    for comp in components:
        aliases.setdefault(comp, comp)
        for chart in charts:
            aliases.setdefault(f"{chart}-{comp}", comp)
    finder = HostFinder(aliases)
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for call in _calls(idx, finder):
        key = (call.caller.ref, call.where, call.host)
        if key in seen:
            continue
        seen.add(key)
        finding = _check_call(idx, services, call, release)
        if finding is not None:
            out.append(finding)
    return out


def _check_call(idx: Index, services: dict[str, Obj], call: Call, release: str) -> Finding | None:
    """The finding for one call that would not connect, or None."""
    shown = f"{call.host}:{call.port}" if call.port else call.host
    svc = services.get(call.host)
    if svc is None:
        return _runs_finding(
            call,
            f"{call.where} calls {shown!r}, which is no Service under release {release!r}",
            "render the host from the callee's Service name (a serviceRef / refEnv value), "
            "not a literal written for one release name",
        )
    selector = {str(k): str(v) for k, v in _d(_d(svc.get("spec")).get("selector")).items()}
    targets = [
        p for p in idx.pods if p.long_running and selector and _map_matches(selector, p.labels)
    ]
    if not targets:
        return _runs_finding(
            call,
            f"{call.where} calls Service {call.host!r}, which selects no long-running pods",
            "fix the Service selector",
        )
    entry = _target_port(svc, call.port)
    if entry is None:
        return _runs_finding(
            call,
            f"{call.where} calls {shown!r}, but Service {call.host!r} does not expose port "
            f"{call.port}",
            "add the port to the callee's ports (the planner adds the ports siblings call)",
        )
    for target in targets:
        port = _container_port(target, entry[1])
        if not _admits(idx, call.caller, target, port):
            return _runs_finding(
                call,
                f"{call.where} calls {shown!r}, but the NetworkPolicy of {target.ref} does not "
                f"admit {call.caller.ref} on that port",
                "allow the caller in the callee's networkPolicy.allowFrom with the port",
            )
    return None


def _runs_finding(call: Call, message: str, hint: str) -> Finding:
    """A finding of the runs check, at the call's severity."""
    return Finding(
        severity=call.severity,
        tool="autopilot",
        check="runs",
        object=call.caller.ref,
        message=message,
        hint=hint,
    )
