"""Helm's `lint --strict` rules in Python, applied to the render the validator does anyway.

`helm lint` loads the chart again and renders every values set a second time (in lint mode,
as release "test-release"); the validator already renders each set once. This module runs
the same rules as Helm v4.2.3 (pkg/chart/v2/lint/rules, the version helm_python bundles):
the chart-level ones once per chart (`chart_rules`), the ones over rendered templates on the
validator's own render of each set (`lint_render`). Messages, paths and severities are
Helm's, word for word.

Where Python cannot be sure to say exactly what Helm would (a YAML error's wording, a Go type
error, subcharts, CRDs, a render that failed, so that lint mode would have rendered
something else), `Unsure` is raised and the caller asks Helm itself (`helm.lint_set`).
Lint mode only differs from an install where `required`/`fail` stop the render: such a
render failed here, so that set goes to Helm.

The one deliberate difference: the rules judge the objects of the validator's render (its
release name, an install) rather than lint's "test-release" render. Charts whose object
names do not depend on the release name's length (every generated chart: names are
truncated) get the same findings; the equivalence test runs both on every example.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python
import yaml

from services.validator.helm import LintEntry, Rendered
from shared.libyaml import SafeLoader
from shared.models.reports import Severity

__all__ = ["KUBE_VERSION", "ChartRules", "Unsure", "chart_rules", "lint_render"]

KUBE_VERSION = (1, 36)
"""Helm's default capabilities: the Kubernetes version of the client-go it was built with
(k8s.io/client-go v0.36.1 in helm_python 0.2.2); deprecations are judged against it."""

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


class Unsure(Exception):
    """Python cannot be sure to report what `helm lint` would: ask Helm (the reason says why)."""


@dataclass(frozen=True)
class ChartRules:
    """What lint finds in a chart whatever the values, and what the template rules need."""

    head: tuple[LintEntry, ...]
    """Chart.yaml and values.yaml findings (lint reports them first)."""
    tail: tuple[LintEntry, ...]
    """Dependency findings (lint reports them after the templates')."""
    name: str
    templates: tuple[str, ...]
    """The chart's template files, in the order Helm loaded them."""
    render_rules: bool
    """False when lint stops before rendering (no templates/ directory)."""
    unsure: str | None = None
    """Why Python cannot stand in for helm lint on this chart at all."""


# --- Chart.yaml ---------------------------------------------------------------------------

_METADATA_FIELDS = frozenset(
    "name home sources version description keywords maintainers icon apiVersion condition "
    "tags appVersion deprecated annotations kubeVersion dependencies type".split()
)
_MAINTAINER_FIELDS = frozenset({"name", "email", "url"})
_DEPENDENCY_FIELDS = frozenset(
    {"name", "version", "repository", "condition", "tags", "enabled", "import-values", "alias"}
)
# Conservative: what certainly passes govalidator's IsEmail / IsRequestURL (anything else goes
# to Helm, which decides and words it).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+-]*)?")
# Plain YAML scalars that PyYAML reads as strings but Go's YAML (1.1, go-yaml v2) may not.
_GO_NOT_STRING = re.compile(
    r"[-+]?(0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9][0-9_]*)"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|true|True|TRUE|false|False|FALSE"
    r"|~|null|Null|NULL"
)


def chart_rules(chart_dir: Path, chart: helm_python.Chart) -> ChartRules:
    """The chart-level rules of `helm lint` (Chart.yaml, values.yaml, templates/, dependencies)."""
    chart_dir = Path(chart_dir)
    name = chart.name
    try:
        head = _chartfile(chart_dir / "Chart.yaml")
        if not (chart_dir / "values.yaml").exists():
            head.append((INFO, "values.yaml", "file does not exist"))
        templates_dir = chart_dir / "templates"
        render_rules = templates_dir.exists()
        if not render_rules:
            head.append((WARNING, "templates/", "directory does not exist"))
        elif not templates_dir.is_dir():
            raise Unsure("templates/ is not a directory")
        if chart.dependencies:
            raise Unsure("the chart has subcharts")
        if (chart_dir / "crds").exists():
            raise Unsure("the chart has a crds/ directory")
        tail = _dependencies(chart_dir, chart.metadata)
        templates = tuple(str(t["name"]) for t in chart.templates)
    except Unsure as exc:
        return ChartRules((), (), name, (), False, unsure=str(exc))
    except Exception as exc:  # noqa: BLE001 - a chart these rules did not foresee: Helm lints it
        return ChartRules((), (), name, (), False, unsure=f"the rules failed: {exc!r}")
    return ChartRules(tuple(head), tuple(tail), name, templates, render_rules)


def _chartfile(path: Path) -> list[LintEntry]:
    """rules.Chartfile over a Chart.yaml Helm could load (so name, version and type are valid)."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        raise Unsure("Chart.yaml does not parse in Python") from exc
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise Unsure("Chart.yaml is not a mapping")
    _strict_keys(node, _METADATA_FIELDS)
    for key, value in node.value:
        if key.value in ("maintainers", "dependencies") and isinstance(value, yaml.SequenceNode):
            fields = _MAINTAINER_FIELDS if key.value == "maintainers" else _DEPENDENCY_FIELDS
            for item in value.value:
                if isinstance(item, yaml.MappingNode):
                    _strict_keys(item, fields)
    plain = {k.value: v for k, v in node.value if isinstance(v, yaml.ScalarNode) and not v.style}
    found: list[LintEntry] = []

    def rule(severity: Severity, message: str | None) -> None:
        """Record a failed rule as Helm does: (severity, "Chart.yaml", message)."""
        if message:
            found.append((severity, "Chart.yaml", message))

    api_version = data.get("apiVersion")
    if api_version not in ("v1", "v2"):
        raise Unsure(f"apiVersion {api_version!r}")
    for key in ("name", "version", "appVersion", "icon", "type"):
        value = data.get(key)
        if key in data and not isinstance(value, str):
            raise Unsure(f"Chart.yaml {key} is not a string")  # Helm words Go's types
        if key in plain and isinstance(value, str) and _GO_NOT_STRING.fullmatch(value):
            raise Unsure(f"Chart.yaml {key} may not be a string in Go")
    version = str(data.get("version") or "")
    if version.lstrip("v").startswith("0.0.0-"):
        raise Unsure("version at the bottom of >0.0.0-0")
    for maintainer in data.get("maintainers") or []:
        if not isinstance(maintainer, dict) or not maintainer.get("name"):
            raise Unsure("a maintainer without a name")
        email, url = maintainer.get("email"), maintainer.get("url")
        if (email and not _EMAIL.fullmatch(str(email))) or (url and not _URL.fullmatch(str(url))):
            raise Unsure("a maintainer email or url govalidator may reject")
    for source in data.get("sources") or []:
        if not isinstance(source, str) or not _URL.fullmatch(source):
            raise Unsure("a source URL govalidator may reject")
    icon = str(data.get("icon") or "")
    rule(INFO, "icon is recommended" if not icon else None)
    if icon and not _URL.fullmatch(icon):
        raise Unsure("an icon URL govalidator may reject")
    if data.get("type") and api_version != "v2":
        rule(
            ERROR,
            f"chart type is not valid in apiVersion '{api_version}'. "
            "It is valid in apiVersion 'v2'",
        )
    if data.get("dependencies") and api_version != "v2":
        rule(
            ERROR,
            f"dependencies are not valid in the Chart file with apiVersion '{api_version}'. "
            "They are valid in apiVersion 'v2'",
        )
    if not _strict_semver(version):
        rule(WARNING, f"version '{version}' is not a valid SemVerV2")
    return found


def _strict_keys(node: yaml.MappingNode, allowed: frozenset[str]) -> None:
    """Unsure when a mapping has a key Helm's strict parse rejects (unknown or repeated)."""
    keys = [k.value if isinstance(k, yaml.ScalarNode) else None for k, _ in node.value]
    if len(set(keys)) != len(keys) or not set(keys) <= allowed:
        raise Unsure("Chart.yaml has an unknown or repeated key")


_NUM = re.compile(r"[0-9]+")
_ALLOWED = re.compile(r"[0-9A-Za-z-]+")


def _strict_semver(version: str) -> bool:
    """Masterminds semver's StrictNewVersion (v3.5.0): SemVer 2 exactly, no "v", three parts."""
    parts = version.split(".", 2)
    if len(parts) != 3:
        return False
    last = parts[2]
    if "+" in last:
        last, metadata = last.split("+", 1)
        if any(not _ALLOWED.fullmatch(p) for p in metadata.split(".")):
            return False
    if "-" in last:
        last, pre = last.split("-", 1)
        for p in pre.split("."):
            if _NUM.fullmatch(p):
                if len(p) > 1 and p[0] == "0":
                    return False
            elif not _ALLOWED.fullmatch(p):
                return False
    for p in (parts[0], parts[1], last):
        if not _NUM.fullmatch(p) or (len(p) > 1 and p[0] == "0") or int(p) >= 2**64:
            return False
    return True


def _dependencies(chart_dir: Path, metadata: dict[str, Any]) -> list[LintEntry]:
    """rules.Dependencies for a chart without subcharts: every declared one is missing."""
    declared = [str(d.get("name", "")) for d in metadata.get("dependencies") or []]
    if not declared:
        return []
    return [
        (
            WARNING,
            os.path.abspath(chart_dir),
            f"chart directory is missing these dependencies: {','.join(declared)}",
        )
    ]


# --- rendered templates -------------------------------------------------------------------

_VALID_EXTENSIONS = (".yaml", ".yml", ".tpl", ".txt")
_SELECTOR_KINDS = frozenset({"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"})
_SUBDOMAIN_KINDS = frozenset(
    "pod node secret endpoints resourcequota controllerrevision daemonset deployment "
    "replicaset statefulset autoscaler cronjob job lease endpointslice networkpolicy ingress "
    "podsecuritypolicy priorityclass podpreset storageclass volumeattachment csinode".split()
)
_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + "(\\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
_LABEL_RE = re.compile(_LABEL)
_DNS1035_RE = re.compile(_DNS1035)
_SEPARATOR = re.compile(r"^(---|\.\.\.)(.*)$", re.MULTILINE)


def lint_render(rules: ChartRules, rendered: Rendered) -> list[LintEntry]:
    """What `helm lint --strict` reports for one values set, from the validator's render of it.

    Raises Unsure when only Helm can say it (see the module docstring).
    """
    if rules.unsure:
        raise Unsure(rules.unsure)
    if not rendered.ok:
        raise Unsure(f"the render with {rendered.label} failed")
    found = list(rules.head)
    if rules.render_rules:
        for name in rules.templates:
            found += _template(name, rendered)
    return found + list(rules.tail)


def _template(name: str, rendered: Rendered) -> list[LintEntry]:
    """The template rules for one file: its extension, then its rendered YAML."""
    found: list[LintEntry] = []
    ext = _go_ext(name)
    if ext not in _VALID_EXTENSIONS:
        found.append(
            (
                ERROR,
                name,
                f"file extension '{ext}' not valid. "
                "Valid extensions are .yaml, .yml, .tpl, or .txt",
            )
        )
    if ext.lower() not in (".yaml", ".yml"):
        return found
    text = rendered.texts.get(name, "")
    if not text.strip():
        return found
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if len(line) >= 65536:
            raise Unsure(f"{name}: a line longer than Go's line scanner reads")
        if not line.strip():
            continue
        if line.startswith((" ", "\t")):
            found.append(
                (
                    WARNING,
                    name,
                    f"document starts with an illegal indent: {_go_quote(line)}, "
                    "which may cause parsing problems",
                )
            )
        break
    if name in rendered.unparsed or name not in rendered.documents:
        raise Unsure(f"{name}: Go's YAML parser words its own errors")
    if text.lstrip().startswith("{"):
        raise Unsure(f"{name} is read as JSON by Helm")
    for match in _SEPARATOR.finditer(text):
        rest = match.group(2).strip()
        if match.group(1) == "..." or (rest and not rest.startswith("#")):
            raise Unsure(f"{name}: a document separator Helm's reader may reject")
    for doc in rendered.documents[name]:
        found += _object(name, doc, text)
    return found


def _object(name: str, doc: Any, text: str) -> list[LintEntry]:
    """The rules over one rendered object (what Helm decodes into its k8sYamlStruct)."""
    if not isinstance(doc, dict):
        raise Unsure(f"{name}: a document that is not an object")
    api_version = _string(name, _field(name, doc, "apiVersion"))
    kind = _string(name, _field(name, doc, "kind"))
    metadata = _field(name, doc, "metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise Unsure(f"{name}: metadata is not an object")
    object_name = _string(name, _field(name, metadata, "name"))
    _string(name, _field(name, metadata, "namespace"))
    if kind == "List":
        raise Unsure(f"{name}: a List")
    found: list[LintEntry] = []
    problems = _name_problems(kind, object_name)
    if problems:
        quoted = _go_quote(object_name)
        errors = [f"metadata.name: Invalid value: {quoted}: {p}" for p in problems]
        joined = errors[0] if len(errors) == 1 else "[" + ", ".join(dict.fromkeys(errors)) + "]"
        found.append(
            (
                WARNING,
                name,
                "object name does not conform to Kubernetes naming requirements: "
                f"{quoted}: {joined}",
            )
        )
    if api_version and kind:
        deprecated = DEPRECATED.get((api_version, kind))
        if deprecated:
            found.append((WARNING, name, deprecated))
    if kind in _SELECTOR_KINDS and "matchLabels" not in text and "matchExpressions" not in text:
        found.append(
            (
                ERROR,
                name,
                f"a {kind} must contain matchLabels or matchExpressions, "
                f"and {_go_quote(object_name)} does not",
            )
        )
    return found


def _field(name: str, obj: dict[Any, Any], key: str) -> Any:
    """obj's value for key as Go's encoding/json finds it (case-insensitively)."""
    folded = key.lower()
    matches = [k for k in obj if isinstance(k, str) and k.lower() == folded]
    if len(matches) > 1:
        raise Unsure(f"{name}: several keys that Go reads as {key}")
    return obj[matches[0]] if matches else None


def _string(name: str, value: Any) -> str:
    """A field Go decodes into a string: None is "", anything not surely a string is Unsure."""
    if value is None:
        return ""
    if not isinstance(value, str) or _GO_NOT_STRING.fullmatch(value):
        raise Unsure(f"{name}: {value!r} may not decode to a Go string")
    return value


def _name_problems(kind: str, name: str) -> list[str]:
    """What Kubernetes' name validation for this kind says about name (the lint's choice)."""
    kind = kind.lower()
    if kind == "certificatesigningrequest":
        return []
    if kind in ("role", "clusterrole", "rolebinding", "clusterrolebinding"):
        if name in (".", ".."):
            return [f"may not be '{name}'"]
        return [f"may not contain '{c}'" for c in ("/", "%") if c in name]
    problems: list[str] = []
    if kind == "service":
        if len(name) > 63:
            problems.append("must be no more than 63 characters")
        if not _DNS1035_RE.fullmatch(name):
            problems.append(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character "
                f"(e.g. 'my-name',  or 'abc-123', regex used for validation is '{_DNS1035}')"
            )
        return problems
    if kind == "namespace":
        if len(name) > 63:
            problems.append("must be no more than 63 characters")
        if not _LABEL_RE.fullmatch(name):
            if _SUBDOMAIN_RE.fullmatch(name):
                problems.append("must not contain dots")
            else:
                problems.append(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character "
                    f"(e.g. 'my-name',  or '123-abc', regex used for validation is '{_LABEL}')"
                )
        return problems
    # serviceaccount, the kinds listed in _SUBDOMAIN_KINDS and every other kind
    if len(name) > 253:
        problems.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.fullmatch(name):
        problems.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character "
            f"(e.g. 'example.com', regex used for validation is '{_SUBDOMAIN}')"
        )
    return problems


def _go_ext(name: str) -> str:
    """Go's filepath.Ext: from the last dot of the last path element, or ""."""
    base = PurePosixPath(name).name
    dot = base.rfind(".")
    return base[dot:] if dot >= 0 else ""


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}


def _go_quote(text: str) -> str:
    """Go's %q of a printable-ASCII string (anything else: Unsure, Go's escaping differs)."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            raise Unsure("a name or line with characters Go quotes its own way")
    return '"' + "".join(out) + '"'


# --- deprecated APIs ----------------------------------------------------------------------

# k8s.io/api v0.36.1's prerelease-lifecycle tags of the types registered in client-go's
# scheme, for those deprecated by Kubernetes 1.36: "group/version Kind deprecated removed
# replacement" ("-": none). Regenerate from zz_generated.prerelease-lifecycle.go when
# helm_python's client-go changes.
_LIFECYCLE = """
admissionregistration.k8s.io/v1alpha1 MutatingAdmissionPolicy 1.35 1.38 -
admissionregistration.k8s.io/v1alpha1 MutatingAdmissionPolicyBinding 1.35 1.38 -
admissionregistration.k8s.io/v1alpha1 MutatingAdmissionPolicyBindingList 1.35 1.38 -
admissionregistration.k8s.io/v1alpha1 MutatingAdmissionPolicyList 1.35 1.38 -
admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy 1.29 1.32 -
admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBinding 1.29 1.32 -
admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyBindingList 1.29 1.32 -
admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicyList 1.29 1.32 -
admissionregistration.k8s.io/v1beta1 MutatingWebhookConfiguration 1.16 1.22 admissionregistration.k8s.io/v1 MutatingWebhookConfiguration
admissionregistration.k8s.io/v1beta1 MutatingWebhookConfigurationList 1.16 1.22 admissionregistration.k8s.io/v1 MutatingWebhookConfigurationList
admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicy 1.31 1.34 -
admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicyBinding 1.31 1.34 -
admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicyBindingList 1.31 1.34 -
admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicyList 1.31 1.34 -
admissionregistration.k8s.io/v1beta1 ValidatingWebhookConfiguration 1.16 1.22 admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration
admissionregistration.k8s.io/v1beta1 ValidatingWebhookConfigurationList 1.16 1.22 admissionregistration.k8s.io/v1 ValidatingWebhookConfigurationList
apps/v1beta1 ControllerRevision 1.8 1.16 apps/v1 ControllerRevision
apps/v1beta1 ControllerRevisionList 1.8 1.16 apps/v1 ControllerRevisionList
apps/v1beta1 Deployment 1.8 1.16 apps/v1 Deployment
apps/v1beta1 DeploymentList 1.8 1.16 apps/v1 DeploymentList
apps/v1beta1 DeploymentRollback 1.8 1.16 apps/v1 DeploymentRollback
apps/v1beta1 Scale 1.8 1.16 autoscaling/v1 Scale
apps/v1beta1 StatefulSet 1.8 1.16 apps/v1 StatefulSet
apps/v1beta1 StatefulSetList 1.8 1.16 apps/v1 StatefulSetList
apps/v1beta2 ControllerRevision 1.9 1.16 apps/v1 ControllerRevision
apps/v1beta2 ControllerRevisionList 1.9 1.16 apps/v1 ControllerRevisionList
apps/v1beta2 DaemonSet 1.9 1.16 apps/v1 DaemonSet
apps/v1beta2 DaemonSetList 1.9 1.16 apps/v1 DaemonSetList
apps/v1beta2 Deployment 1.9 1.16 apps/v1 Deployment
apps/v1beta2 DeploymentList 1.9 1.16 apps/v1 DeploymentList
apps/v1beta2 ReplicaSet 1.9 1.16 apps/v1 ReplicaSet
apps/v1beta2 ReplicaSetList 1.9 1.16 apps/v1 ReplicaSetList
apps/v1beta2 Scale 1.9 1.16 autoscaling/v1 Scale
apps/v1beta2 StatefulSet 1.9 1.16 apps/v1 StatefulSet
apps/v1beta2 StatefulSetList 1.9 1.16 apps/v1 StatefulSetList
authentication.k8s.io/v1alpha1 SelfSubjectReview 1.29 1.32 -
authentication.k8s.io/v1beta1 SelfSubjectReview 1.30 1.33 -
authentication.k8s.io/v1beta1 TokenReview 1.19 1.22 authentication.k8s.io/v1 TokenReview
authorization.k8s.io/v1beta1 LocalSubjectAccessReview 1.19 1.22 authorization.k8s.io/v1 LocalSubjectAccessReview
authorization.k8s.io/v1beta1 SelfSubjectAccessReview 1.19 1.22 authorization.k8s.io/v1 SelfSubjectAccessReview
authorization.k8s.io/v1beta1 SelfSubjectRulesReview 1.19 1.22 authorization.k8s.io/v1 SelfSubjectRulesReview
authorization.k8s.io/v1beta1 SubjectAccessReview 1.19 1.22 authorization.k8s.io/v1 SubjectAccessReview
batch/v1beta1 CronJob 1.21 1.25 batch/v1 CronJob
batch/v1beta1 CronJobList 1.21 1.25 batch/v1 CronJobList
certificates.k8s.io/v1alpha1 ClusterTrustBundle 1.34 1.37 -
certificates.k8s.io/v1alpha1 ClusterTrustBundleList 1.34 1.37 -
certificates.k8s.io/v1beta1 CertificateSigningRequest 1.19 1.22 certificates.k8s.io/v1 CertificateSigningRequest
certificates.k8s.io/v1beta1 CertificateSigningRequestList 1.19 1.22 certificates.k8s.io/v1 CertificateSigningRequestList
coordination.k8s.io/v1alpha2 LeaseCandidate 1.35 1.38 -
coordination.k8s.io/v1alpha2 LeaseCandidateList 1.35 1.38 -
coordination.k8s.io/v1beta1 Lease 1.19 1.22 coordination.k8s.io/v1 Lease
coordination.k8s.io/v1beta1 LeaseCandidate 1.36 1.39 -
coordination.k8s.io/v1beta1 LeaseCandidateList 1.36 1.39 -
coordination.k8s.io/v1beta1 LeaseList 1.19 1.22 coordination.k8s.io/v1 LeaseList
discovery.k8s.io/v1beta1 EndpointSlice 1.21 1.25 discovery.k8s.io/v1 EndpointSlice
discovery.k8s.io/v1beta1 EndpointSliceList 1.21 1.25 discovery.k8s.io/v1 EndpointSlice
events.k8s.io/v1beta1 Event 1.22 1.25 -
events.k8s.io/v1beta1 EventList 1.22 1.25 -
extensions/v1beta1 DaemonSet 1.8 1.16 apps/v1 DaemonSet
extensions/v1beta1 DaemonSetList 1.8 1.16 apps/v1 DaemonSetList
extensions/v1beta1 Deployment 1.8 1.16 apps/v1 Deployment
extensions/v1beta1 DeploymentList 1.8 1.16 apps/v1 DeploymentList
extensions/v1beta1 DeploymentRollback 1.8 1.16 -
extensions/v1beta1 Ingress 1.14 1.22 networking.k8s.io/v1 Ingress
extensions/v1beta1 IngressList 1.14 1.22 networking.k8s.io/v1 IngressList
extensions/v1beta1 NetworkPolicy 1.9 1.16 networking.k8s.io/v1 NetworkPolicy
extensions/v1beta1 NetworkPolicyList 1.9 1.16 networking.k8s.io/v1 NetworkPolicyList
extensions/v1beta1 ReplicaSet 1.8 1.16 apps/v1 ReplicaSet
extensions/v1beta1 ReplicaSetList 1.8 1.16 apps/v1 ReplicaSetList
extensions/v1beta1 Scale 1.2 1.16 -
flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema 1.23 1.26 flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema
flowcontrol.apiserver.k8s.io/v1beta1 FlowSchemaList 1.23 1.26 flowcontrol.apiserver.k8s.io/v1beta3 FlowSchemaList
flowcontrol.apiserver.k8s.io/v1beta1 PriorityLevelConfiguration 1.23 1.26 flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration
flowcontrol.apiserver.k8s.io/v1beta1 PriorityLevelConfigurationList 1.23 1.26 flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfigurationList
flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema 1.26 1.29 flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema
flowcontrol.apiserver.k8s.io/v1beta2 FlowSchemaList 1.26 1.29 flowcontrol.apiserver.k8s.io/v1beta3 FlowSchemaList
flowcontrol.apiserver.k8s.io/v1beta2 PriorityLevelConfiguration 1.26 1.29 flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration
flowcontrol.apiserver.k8s.io/v1beta2 PriorityLevelConfigurationList 1.26 1.29 flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfigurationList
flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema 1.29 1.32 flowcontrol.apiserver.k8s.io/v1 FlowSchema
flowcontrol.apiserver.k8s.io/v1beta3 FlowSchemaList 1.29 1.32 flowcontrol.apiserver.k8s.io/v1 FlowSchemaList
flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration 1.29 1.32 flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration
flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfigurationList 1.29 1.32 flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfigurationList
networking.k8s.io/v1beta1 IPAddress 1.34 1.37 -
networking.k8s.io/v1beta1 IPAddressList 1.34 1.37 -
networking.k8s.io/v1beta1 Ingress 1.19 1.22 networking.k8s.io/v1 Ingress
networking.k8s.io/v1beta1 IngressClass 1.19 1.22 networking.k8s.io/v1 IngressClassList
networking.k8s.io/v1beta1 IngressClassList 1.19 1.22 networking.k8s.io/v1 IngressClassList
networking.k8s.io/v1beta1 IngressList 1.19 1.22 networking.k8s.io/v1 IngressList
networking.k8s.io/v1beta1 ServiceCIDR 1.34 1.37 -
networking.k8s.io/v1beta1 ServiceCIDRList 1.34 1.37 -
node.k8s.io/v1beta1 RuntimeClass 1.22 1.25 -
node.k8s.io/v1beta1 RuntimeClassList 1.22 1.25 -
policy/v1beta1 Eviction 1.22 1.25 -
policy/v1beta1 PodDisruptionBudget 1.21 1.25 policy/v1 PodDisruptionBudget
policy/v1beta1 PodDisruptionBudgetList 1.21 1.25 policy/v1 PodDisruptionBudgetList
rbac.authorization.k8s.io/v1beta1 ClusterRole 1.17 1.22 rbac.authorization.k8s.io/v1 ClusterRole
rbac.authorization.k8s.io/v1beta1 ClusterRoleBinding 1.17 1.22 rbac.authorization.k8s.io/v1 ClusterRoleBinding
rbac.authorization.k8s.io/v1beta1 ClusterRoleBindingList 1.17 1.22 rbac.authorization.k8s.io/v1 ClusterRoleBindingList
rbac.authorization.k8s.io/v1beta1 ClusterRoleList 1.17 1.22 rbac.authorization.k8s.io/v1 ClusterRoleList
rbac.authorization.k8s.io/v1beta1 Role 1.17 1.22 rbac.authorization.k8s.io/v1 Role
rbac.authorization.k8s.io/v1beta1 RoleBinding 1.17 1.22 rbac.authorization.k8s.io/v1 RoleBinding
rbac.authorization.k8s.io/v1beta1 RoleBindingList 1.17 1.22 rbac.authorization.k8s.io/v1 RoleBindingList
rbac.authorization.k8s.io/v1beta1 RoleList 1.17 1.22 rbac.authorization.k8s.io/v1 RoleList
resource.k8s.io/v1alpha3 DeviceTaintRule 1.36 1.39 -
resource.k8s.io/v1alpha3 DeviceTaintRuleList 1.36 1.39 -
resource.k8s.io/v1beta1 DeviceClass 1.35 1.38 -
resource.k8s.io/v1beta1 DeviceClassList 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceClaim 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceClaimList 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceClaimTemplate 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceClaimTemplateList 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceSlice 1.35 1.38 -
resource.k8s.io/v1beta1 ResourceSliceList 1.35 1.38 -
resource.k8s.io/v1beta2 DeviceClass 1.36 1.39 -
resource.k8s.io/v1beta2 DeviceClassList 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceClaim 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceClaimList 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceClaimTemplate 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceClaimTemplateList 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceSlice 1.36 1.39 -
resource.k8s.io/v1beta2 ResourceSliceList 1.36 1.39 -
scheduling.k8s.io/v1beta1 PriorityClass 1.14 1.22 scheduling.k8s.io/v1 PriorityClass
scheduling.k8s.io/v1beta1 PriorityClassList 1.14 1.22 scheduling.k8s.io/v1 PriorityClassList
storage.k8s.io/v1alpha1 CSIStorageCapacity 1.21 1.24 storage.k8s.io/v1beta1 CSIStorageCapacity
storage.k8s.io/v1alpha1 CSIStorageCapacityList 1.21 1.24 storage.k8s.io/v1beta1 CSIStorageCapacityList
storage.k8s.io/v1alpha1 VolumeAttachment 1.21 1.24 storage.k8s.io/v1 VolumeAttachment
storage.k8s.io/v1alpha1 VolumeAttachmentList 1.21 1.24 storage.k8s.io/v1 VolumeAttachmentList
storage.k8s.io/v1alpha1 VolumeAttributesClass 1.32 1.35 storage.k8s.io/v1 VolumeAttributesClass
storage.k8s.io/v1alpha1 VolumeAttributesClassList 1.32 1.35 storage.k8s.io/v1 VolumeAttributesClassList
storage.k8s.io/v1beta1 CSIDriver 1.19 1.22 storage.k8s.io/v1 CSIDriver
storage.k8s.io/v1beta1 CSIDriverList 1.19 1.22 storage.k8s.io/v1 CSIDriverList
storage.k8s.io/v1beta1 CSINode 1.17 1.22 storage.k8s.io/v1 CSINode
storage.k8s.io/v1beta1 CSINodeList 1.17 1.22 storage.k8s.io/v1 CSINode
storage.k8s.io/v1beta1 CSIStorageCapacity 1.24 1.27 storage.k8s.io/v1 CSIStorageCapacity
storage.k8s.io/v1beta1 CSIStorageCapacityList 1.24 1.27 storage.k8s.io/v1 CSIStorageCapacityList
storage.k8s.io/v1beta1 StorageClass 1.19 1.22 storage.k8s.io/v1 StorageClass
storage.k8s.io/v1beta1 StorageClassList 1.19 1.22 storage.k8s.io/v1 StorageClassList
storage.k8s.io/v1beta1 VolumeAttachment 1.19 1.22 storage.k8s.io/v1 VolumeAttachment
storage.k8s.io/v1beta1 VolumeAttachmentList 1.19 1.22 storage.k8s.io/v1 VolumeAttachmentList
storage.k8s.io/v1beta1 VolumeAttributesClass 1.34 1.37 storage.k8s.io/v1 VolumeAttributesClass
storage.k8s.io/v1beta1 VolumeAttributesClassList 1.34 1.37 storage.k8s.io/v1 VolumeAttributesClassList
"""


def _deprecations(table: str) -> dict[tuple[str, str], str]:
    """deprecation.WarningMessage for each (apiVersion, kind) deprecated by KUBE_VERSION."""
    out: dict[tuple[str, str], str] = {}
    for line in table.strip().splitlines():
        gv, kind, deprecated, removed, *replacement = line.split()
        major, minor = (int(x) for x in deprecated.split("."))
        if (major, minor) > KUBE_VERSION:
            continue
        message = f"{gv} {kind} is deprecated in v{deprecated}+"
        if removed != "-":
            message += f", unavailable in v{removed}+"
        if replacement != ["-"]:
            message += f"; use {' '.join(replacement)}"
        out[(gv, kind)] = message
    return out


DEPRECATED = _deprecations(_LIFECYCLE)
"""(apiVersion, kind) -> the warning `helm lint` gives an object of it."""
