"""Our own consistency checks across rendered objects: what schemas and checkov cannot see.

Each check answers "would this chart work once installed?": selectors that select nothing,
ports that point nowhere, references to ConfigMaps and Secrets nobody creates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.models.reports import Finding, Severity

Obj = dict[str, Any]

CONTROLLERS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
"""Kinds whose selector must match their own pod template."""

EXTERNAL_KEYS = frozenset({"existingsecret", "existingconfigmap", "existingclaim"})
"""Values keys (case-insensitive suffix) that name objects the user creates outside the chart."""


@dataclass
class PodOwner:
    """A rendered object that runs pods: its kind, name, namespace and pod template."""

    kind: str
    name: str
    namespace: str
    labels: dict[str, str]
    spec: Obj
    long_running: bool
    claim_templates: set[str] = field(default_factory=set)

    @property
    def ref(self) -> str:
        """`Kind/name`."""
        return f"{self.kind}/{self.name}"


@dataclass
class Index:
    """Rendered objects indexed by kind and name for the checks."""

    namespace: str
    objects: list[Obj]
    pods: list[PodOwner] = field(default_factory=list)
    names: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    services: list[Obj] = field(default_factory=list)


def _d(value: Any) -> Obj:
    """The value if it is a mapping, else an empty one (rendered YAML can hold anything)."""
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def _meta(obj: Obj) -> Obj:
    """An object's metadata mapping."""
    return _d(obj.get("metadata"))


def _ns(obj: Obj, default: str) -> str:
    """The namespace an object lands in."""
    return str(_meta(obj).get("namespace") or default)


def _ref(obj: Obj) -> str:
    """`Kind/name` of an object."""
    return f"{obj.get('kind', '?')}/{_meta(obj).get('name', '?')}"


def _is_hook(obj: Obj) -> bool:
    """Whether the object is a Helm hook (tests, jobs run around install)."""
    return "helm.sh/hook" in _d(_meta(obj).get("annotations"))


def _pod_template(obj: Obj) -> tuple[dict[str, str], Obj] | None:
    """(pod labels, pod spec) of anything that runs pods, else None."""
    kind = obj.get("kind")
    spec = _d(obj.get("spec"))
    if kind == "Pod":
        return _labels(_meta(obj).get("labels")), spec
    if kind == "CronJob":
        spec = _d(_d(spec.get("jobTemplate")).get("spec"))
    elif kind not in CONTROLLERS and kind != "Job":
        return None
    template = _d(spec.get("template"))
    return _labels(_meta(template).get("labels")), _d(template.get("spec"))


def _labels(value: Any) -> dict[str, str]:
    """A label map with string values."""
    return {str(k): str(v) for k, v in _d(value).items()}


def build_index(objects: list[Obj], namespace: str) -> Index:
    """Index rendered objects for the checks."""
    idx = Index(namespace=namespace, objects=objects)
    for obj in objects:
        kind = str(obj.get("kind", ""))
        name = str(_meta(obj).get("name", ""))
        ns = _ns(obj, namespace)
        idx.names.setdefault(kind, set()).add((ns, name))
        if kind == "Service":
            idx.services.append(obj)
        pod = _pod_template(obj)
        if pod is not None:
            labels, spec = pod
            long_running = kind in CONTROLLERS or (kind == "Pod" and not _is_hook(obj))
            # volumeClaimTemplates create the PVCs a StatefulSet mounts by template name.
            claims = {
                str(_meta(_d(t)).get("name", ""))
                for t in _l(_d(obj.get("spec")).get("volumeClaimTemplates"))
            }
            idx.pods.append(PodOwner(kind, name, ns, labels, spec, long_running, claims))
            for claim in claims:
                idx.names.setdefault("PersistentVolumeClaim", set()).add((ns, claim))
    return idx


def selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects the labels."""
    for key, value in _d(selector.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in _l(selector.get("matchExpressions")):
        expr = _d(expr)
        key, op = str(expr.get("key", "")), expr.get("operator")
        values = [str(v) for v in _l(expr.get("values"))]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _map_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a plain label map (Service selector) selects the labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def _finding(check: str, obj: str, message: str, hint: str) -> Finding:
    """An error finding from our own checks."""
    return Finding(
        severity=Severity.ERROR,
        tool="autopilot",
        check=check,
        object=obj,
        message=message,
        hint=hint,
    )


def _containers(spec: Obj) -> Iterator[Obj]:
    """Init and app containers of a pod spec."""
    for key in ("initContainers", "containers"):
        for c in _l(spec.get(key)):
            if isinstance(c, dict):
                yield c


def _port_exists(port: Any, containers: list[Obj]) -> bool:
    """Whether a port given by number or name is declared by one of the containers."""
    for c in containers:
        for p in _l(c.get("ports")):
            p = _d(p)
            if isinstance(port, int) and p.get("containerPort") == port:
                return True
            if isinstance(port, str) and (
                p.get("name") == port or str(p.get("containerPort")) == port
            ):
                return True
    return False


def check_controller_selectors(idx: Index) -> list[Finding]:
    """Every controller's selector matches its own pod template labels."""
    out = []
    for obj in idx.objects:
        if obj.get("kind") not in CONTROLLERS:
            continue
        spec = _d(obj.get("spec"))
        selector = _d(spec.get("selector"))
        labels = _labels(_meta(_d(spec.get("template"))).get("labels"))
        if not selector or not selector_matches(selector, labels):
            out.append(
                _finding(
                    "selector-match",
                    _ref(obj),
                    f"spec.selector {selector} does not match the pod template labels {labels}",
                    "use the same selectorLabels helper for spec.selector.matchLabels and "
                    "spec.template.metadata.labels",
                )
            )
    return out


def _selected_by_service(idx: Index, svc: Obj) -> list[PodOwner]:
    """Long-running pod owners a Service's selector selects."""
    selector = _labels(_d(svc.get("spec")).get("selector"))
    ns = _ns(svc, idx.namespace)
    return [
        p
        for p in idx.pods
        if p.long_running and p.namespace == ns and _map_matches(selector, p.labels)
    ]


def check_services(idx: Index) -> list[Finding]:
    """Services select a workload, and their targetPorts exist on its containers."""
    out = []
    for svc in idx.services:
        spec = _d(svc.get("spec"))
        selector = _labels(spec.get("selector"))
        if spec.get("type") == "ExternalName" or not selector:
            continue  # no selector: endpoints are managed elsewhere on purpose
        selected = _selected_by_service(idx, svc)
        if not selected:
            out.append(
                _finding(
                    "selector-match",
                    _ref(svc),
                    f"Service selector {selector} matches no workload's pod labels",
                    "make the Service selector use the workload's selectorLabels",
                )
            )
            continue
        for port in _l(spec.get("ports")):
            port = _d(port)
            target = port.get("targetPort", port.get("port"))
            if not any(_port_exists(target, list(_containers(p.spec))) for p in selected):
                names = ", ".join(p.ref for p in selected)
                out.append(
                    _finding(
                        "target-port",
                        _ref(svc),
                        f"targetPort {target!r} (port {port.get('name') or port.get('port')}) is "
                        f"not a container port of {names}",
                        "point targetPort at a containerPort number or port name the container declares",
                    )
                )
    return out


def check_probe_ports(idx: Index) -> list[Finding]:
    """httpGet/tcpSocket/grpc probe ports exist on the probed container."""
    out = []
    for pod in idx.pods:
        for c in _containers(pod.spec):
            for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = _d(c.get(probe_key))
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler not in probe:
                        continue
                    port = _d(probe[handler]).get("port")
                    if port is not None and not _port_exists(port, [c]):
                        out.append(
                            _finding(
                                "probe-port",
                                pod.ref,
                                f"container {c.get('name')!r} {probe_key} {handler} port {port!r} "
                                "is not one of its container ports",
                                "probe a port the container declares (by number or name)",
                            )
                        )
    return out


def _pod_refs(spec: Obj) -> Iterator[tuple[str, str, str]]:
    """(kind, name, where) of every non-optional ConfigMap/Secret/PVC a pod spec references."""
    for vol in _l(spec.get("volumes")):
        vol = _d(vol)
        where = f"volume {vol.get('name')!r}"
        cm, sec, pvc = (
            _d(vol.get("configMap")),
            _d(vol.get("secret")),
            _d(vol.get("persistentVolumeClaim")),
        )
        if cm and not cm.get("optional"):
            yield "ConfigMap", str(cm.get("name", "")), where
        if sec and not sec.get("optional"):
            yield "Secret", str(sec.get("secretName", "")), where
        if pvc:
            yield "PersistentVolumeClaim", str(pvc.get("claimName", "")), where
        for src in _l(_d(vol.get("projected")).get("sources")):
            for key, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                ref = _d(_d(src).get(key))
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name", "")), where
    for c in _containers(spec):
        cname = c.get("name")
        for env_from in _l(c.get("envFrom")):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = _d(_d(env_from).get(key))
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name", "")), f"container {cname!r} envFrom"
        for env in _l(c.get("env")):
            value_from = _d(_d(env).get("valueFrom"))
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = _d(value_from.get(key))
                if ref and not ref.get("optional"):
                    yield (
                        kind,
                        str(ref.get("name", "")),
                        f"container {cname!r} env {_d(env).get('name')!r}",
                    )


def external_names(values: Any) -> set[str]:
    """Values of every `existingSecret`-like key anywhere in the merged values."""
    found: set[str] = set()
    stack = [values]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if (
                    isinstance(value, str)
                    and value
                    and str(key).lower().endswith(tuple(EXTERNAL_KEYS))
                ):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


# Objects Kubernetes itself puts in every namespace (the root CA publisher, GA since 1.21).
CLUSTER_PROVIDED = {("ConfigMap", "kube-root-ca.crt")}


def check_references(idx: Index, external: set[str]) -> list[Finding]:
    """Referenced ConfigMaps, Secrets and PVCs are rendered or declared external."""
    out = []
    for pod in idx.pods:
        for kind, name, where in _pod_refs(pod.spec):
            if (
                (pod.namespace, name) in idx.names.get(kind, set())
                or name in external
                or (kind, name) in CLUSTER_PROVIDED
            ):
                continue
            out.append(
                _finding(
                    "missing-ref",
                    pod.ref,
                    f"{where} references {kind} {name!r}, which the chart does not render",
                    f"render the {kind} in the chart, or take its name from an `existingSecret`-style "
                    "value the user sets",
                )
            )
        mounts = {str(_d(v).get("name")) for v in _l(pod.spec.get("volumes"))} | pod.claim_templates
        for c in _containers(pod.spec):
            for m in _l(c.get("volumeMounts")):
                if str(_d(m).get("name")) not in mounts:
                    out.append(
                        _finding(
                            "missing-ref",
                            pod.ref,
                            f"container {c.get('name')!r} mounts volume {_d(m).get('name')!r}, "
                            "which the pod does not define",
                            "add the volume to spec.volumes (or volumeClaimTemplates)",
                        )
                    )
    return out


def check_hpa(idx: Index) -> list[Finding]:
    """HorizontalPodAutoscalers target a rendered workload."""
    out = []
    for obj in idx.objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        target = _d(_d(obj.get("spec")).get("scaleTargetRef"))
        kind, name = str(target.get("kind", "")), str(target.get("name", ""))
        if (_ns(obj, idx.namespace), name) not in idx.names.get(kind, set()):
            out.append(
                _finding(
                    "hpa-target",
                    _ref(obj),
                    f"scaleTargetRef {kind}/{name} is not rendered by the chart",
                    "point scaleTargetRef at the workload's kind and fullname",
                )
            )
    return out


def _selects_workload(idx: Index, obj: Obj, selector: Obj) -> bool:
    """Whether a LabelSelector selects the pods of any workload in the object's namespace."""
    ns = _ns(obj, idx.namespace)
    return any(p.namespace == ns and selector_matches(selector, p.labels) for p in idx.pods)


def check_pdb_and_netpol(idx: Index) -> list[Finding]:
    """PodDisruptionBudget and NetworkPolicy selectors select a workload's pods."""
    out = []
    for obj in idx.objects:
        kind = obj.get("kind")
        spec = _d(obj.get("spec"))
        if kind == "PodDisruptionBudget":
            selector = _d(spec.get("selector"))
            if not _selects_workload(idx, obj, selector):
                out.append(
                    _finding(
                        "pdb-selector",
                        _ref(obj),
                        f"selector {selector} matches no workload's pods",
                        "use the workload's selectorLabels in spec.selector.matchLabels",
                    )
                )
        elif kind == "NetworkPolicy":
            selector = _d(spec.get("podSelector"))
            # An empty podSelector deliberately selects every pod (default-deny policies).
            if selector and not _selects_workload(idx, obj, selector):
                out.append(
                    _finding(
                        "netpol-selector",
                        _ref(obj),
                        f"podSelector {selector} matches no workload's pods",
                        "use the workload's selectorLabels in spec.podSelector.matchLabels",
                    )
                )
    return out


def _ingress_backends(spec: Obj) -> Iterator[Obj]:
    """Every service backend of a networking.k8s.io/v1 Ingress spec."""
    default = _d(_d(spec.get("defaultBackend")).get("service"))
    if default:
        yield default
    for rule in _l(spec.get("rules")):
        for path in _l(_d(_d(rule).get("http")).get("paths")):
            svc = _d(_d(_d(path).get("backend")).get("service"))
            if svc:
                yield svc


def check_ingress(idx: Index) -> list[Finding]:
    """Ingress backends name a rendered Service and one of its ports."""
    out = []
    services = {(_ns(s, idx.namespace), str(_meta(s).get("name"))): s for s in idx.services}
    for obj in idx.objects:
        if obj.get("kind") != "Ingress":
            continue
        ns = _ns(obj, idx.namespace)
        for backend in _ingress_backends(_d(obj.get("spec"))):
            name, port = str(backend.get("name", "")), _d(backend.get("port"))
            svc = services.get((ns, name))
            if svc is None:
                out.append(
                    _finding(
                        "ingress-backend",
                        _ref(obj),
                        f"backend Service {name!r} is not rendered",
                        "point the backend at the chart's Service fullname",
                    )
                )
                continue
            ports = [_d(p) for p in _l(_d(svc.get("spec")).get("ports"))]
            ok = any(
                ("number" in port and p.get("port") == port["number"])
                or ("name" in port and p.get("name") == port["name"])
                for p in ports
            )
            if not ok:
                out.append(
                    _finding(
                        "ingress-backend",
                        _ref(obj),
                        f"backend port {port} is not a port of Service {name!r}",
                        "use the Service's port number or port name",
                    )
                )
    return out


def run_checks(objects: list[Obj], namespace: str, values: Any) -> list[Finding]:
    """Every consistency check over one render."""
    idx = build_index(objects, namespace)
    return [
        *check_controller_selectors(idx),
        *check_services(idx),
        *check_probe_ports(idx),
        *check_references(idx, external_names(values)),
        *check_hpa(idx),
        *check_pdb_and_netpol(idx),
        *check_ingress(idx),
    ]
