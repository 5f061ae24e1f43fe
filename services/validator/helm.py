"""Helm lint and offline render through the Helm SDK (helm_python), with parsed manifests."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python
import yaml

from services.validator.cache import LRU
from shared.libyaml import SafeLoader
from shared.models.reports import Finding, Severity

DEFAULT_LABEL = "values.yaml"
"""How findings name the chart's own default values."""


class _CountingLoader(SafeLoader):  # type: ignore[misc,valid-type]
    """The libyaml loader, noting mappings that repeat a key (Go's YAML parser rejects them)."""

    repeated_key = False

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping, as PyYAML builds it (the last of a repeated key wins)."""
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        if len(mapping) != len(node.value):
            self.repeated_key = True
        return mapping


def parse_documents(text: str) -> tuple[list[Any], bool]:
    """Every YAML document of a manifest (None for empty ones), and whether a key repeats."""
    loader = _CountingLoader(text)
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs, loader.repeated_key
    finally:
        loader.dispose()


PARSED_CACHE_SIZE = 2048
"""Rendered templates whose parse is kept (a few KB each, pickled)."""

_parsed: LRU[bytes, tuple[bytes, bool]] = LRU(PARSED_CACHE_SIZE)
"""Content hash of one rendered template's text -> its documents (pickled) and repeated flag."""


def parse_rendered(text: str) -> tuple[list[Any], bool]:
    """parse_documents, remembered by the text's content: most templates render the same text
    for every values set and for the next edit of the chart.

    Each call gets its own copy of the documents (unpickled, ~30x cheaper than a parse), so a
    caller may change them. Text that does not parse is not remembered (the error is raised
    again).
    """
    key = hashlib.blake2b(text.encode(), digest_size=16).digest()
    hit = _parsed.get(key)
    if hit is not None:
        return pickle.loads(hit[0]), hit[1]  # noqa: S301 - bytes this process pickled itself
    docs, repeated = parse_documents(text)
    _parsed.put(key, (pickle.dumps(docs, protocol=pickle.HIGHEST_PROTOCOL), repeated))
    return docs, repeated


def clear_caches() -> None:
    """Forget every remembered parse."""
    _parsed.clear()


_LINT_SEVERITY = {3: Severity.ERROR, 2: Severity.WARNING, 1: Severity.INFO}


@dataclass(frozen=True)
class ValuesSet:
    """One set of user values to lint and render with: defaults or a ci/*-values.yaml file."""

    label: str
    values: dict[str, Any] | None


@dataclass
class Rendered:
    """The objects one values set renders to, each with the template it came from."""

    label: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ok: bool = True
    error: str | None = None
    """Helm's message when the render failed."""
    texts: dict[str, str] = field(default_factory=dict)
    """Each rendered template's text by its path in the chart (NOTES.txt left out)."""
    documents: dict[str, list[Any]] = field(default_factory=dict)
    """Each template's non-empty YAML documents, parsed (objects or not)."""
    unparsed: set[str] = field(default_factory=set)
    """Templates whose text PyYAML rejected, or that repeat a key in a mapping."""


PLACEHOLDER = "validator-placeholder-not-a-secret"
"""What the default render gives chart secrets that must be set at install."""


def required_secrets(defaults: object) -> list[str]:
    """Keys of a K8s Autopilot chart Secret that are empty, not generated, and not external.

    Such a chart refuses to install until they are set (values.yaml never holds a secret), so
    its defaults can only be rendered with placeholders for them.
    """
    secrets = defaults.get("secrets") if isinstance(defaults, dict) else None
    if not isinstance(secrets, dict) or secrets.get("existingSecret"):
        return []
    values, generate = secrets.get("values"), secrets.get("generate") or []
    if not isinstance(values, dict) or not isinstance(generate, list):
        return []
    return sorted(str(k) for k, v in values.items() if not v and k not in generate)


def placeholder_values(chart_dir: Path) -> dict[str, Any] | None:
    """Labelled placeholders for the chart's required secrets, or None when it has none."""
    try:
        defaults = yaml.load(
            (chart_dir / "values.yaml").read_text(encoding="utf-8"), Loader=SafeLoader
        )
    except (OSError, yaml.YAMLError):
        return None
    keys = required_secrets(defaults)
    return {"secrets": {"values": dict.fromkeys(keys, PLACEHOLDER)}} if keys else None


def with_placeholders(chart_dir: Path, values: dict[str, Any] | None) -> dict[str, Any] | None:
    """`values` with placeholders for the required secrets it leaves unset (if the chart has any)."""
    placeholders = placeholder_values(chart_dir)
    if not placeholders:
        return values
    given = values or {}
    found = given.get("secrets")
    secrets: dict[str, Any] = found if isinstance(found, dict) else {}
    filled = {**placeholders["secrets"]["values"], **(secrets.get("values") or {})}
    return {**given, "secrets": {**secrets, "values": filled}}


def load_values_sets(chart_dir: Path) -> tuple[list[ValuesSet], list[Finding]]:
    """The default values set plus one per ci/*-values.yaml, and findings for unreadable files.

    The default set carries placeholders for secrets that must be set at install (see
    `placeholder_values`); the render step says so in a finding.
    """
    sets = [ValuesSet(DEFAULT_LABEL, placeholder_values(chart_dir))]
    findings: list[Finding] = []
    for path in sorted((chart_dir / "ci").glob("*-values.yaml")):
        label = f"ci/{path.name}"
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        except (OSError, yaml.YAMLError) as exc:
            findings.append(_values_file_error(label, f"cannot read values file: {exc}"))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            findings.append(_values_file_error(label, "values file is not a YAML mapping"))
            continue
        sets.append(ValuesSet(label, data))
    return sets, findings


def _values_file_error(label: str, message: str) -> Finding:
    """An error finding about an unusable values file."""
    return Finding(
        severity=Severity.ERROR,
        tool="helm",
        check="values-file",
        object=label,
        message=message,
        hint="fix the YAML so it parses to a mapping of values",
    )


LintEntry = tuple[Severity, str, str]
"""(severity, path, message) of one helm-lint message."""


def lint_set(chart_dir: Path, vs: ValuesSet, namespace: str) -> list[LintEntry]:
    """Helm's own strict lint with one values set (a Go call that lets other threads run).

    It loads and renders the chart again: the validator runs it only where services/validator/
    lint.py cannot be sure to say the same (a chart that does not load or render, ...), and
    the lint equivalence test uses it as the oracle.
    """
    try:
        report = helm_python.lint(chart_dir, vs.values, strict=True, namespace=namespace)
    except helm_python.HelmError as exc:
        return [(Severity.ERROR, str(chart_dir), str(exc))]
    entries = [
        (
            _LINT_SEVERITY.get(int(m.get("severity", 3)), Severity.ERROR),
            str(m.get("path", "")),
            str(m.get("error", "")),
        )
        for m in report.get("messages", [])
    ]
    # `errors` repeats the messages strict mode fails on; keep only ones not already listed.
    listed = {message for _, _, message in entries}
    entries += [
        (Severity.ERROR, "", str(err)) for err in report.get("errors", []) if str(err) not in listed
    ]
    return entries


def lint_findings(sets: list[ValuesSet], per_set: list[list[LintEntry]]) -> list[Finding]:
    """Each set's lint messages as findings; identical messages are reported once."""
    findings: list[Finding] = []
    seen: set[LintEntry] = set()
    for vs, entries in zip(sets, per_set, strict=True):
        for entry in entries:
            if entry in seen:
                continue
            seen.add(entry)
            findings.append(_lint_finding(*entry, vs.label))
    return findings


def _lint_finding(severity: Severity, path: str, message: str, label: str) -> Finding:
    """One helm-lint message as a finding, naming the values set it appeared with."""
    suffix = "" if label == DEFAULT_LABEL else f" (with {label})"
    hint = {
        Severity.ERROR: "fix the chart so `helm lint --strict` passes",
        Severity.WARNING: "strict lint treats warnings as errors; fix the chart",
        Severity.INFO: "optional improvement suggested by helm lint",
    }[severity]
    return Finding(
        severity=severity,
        tool="helm-lint",
        check="lint",
        object=path,
        message=f"{message}{suffix}",
        hint=hint,
    )


def render(
    chart: helm_python.Chart, vs: ValuesSet, *, release: str, namespace: str
) -> tuple[Rendered, list[Finding]]:
    """Render one values set offline and parse every manifest into objects."""
    out = Rendered(vs.label)
    try:
        manifests = chart.render(vs.values, name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        out.ok = False
        out.error = str(exc)
        return out, [render_error(vs.label, "", f"render failed with {vs.label}: {exc}")]
    findings: list[Finding] = []
    for template in sorted(manifests):
        source = _strip_chart_prefix(template)
        if PurePosixPath(source).name == "NOTES.txt":
            continue
        out.texts[source] = manifests[template]
        try:
            docs, repeated = parse_rendered(manifests[template])
        except yaml.YAMLError as exc:
            out.ok = False
            out.unparsed.add(source)
            findings.append(
                render_error(vs.label, source, f"{source} is not valid YAML with {vs.label}: {exc}")
            )
            continue
        if repeated:
            out.unparsed.add(source)
        out.documents[source] = [doc for doc in docs if doc is not None]
        for doc in out.documents[source]:
            if not isinstance(doc, dict):
                out.ok = False
                findings.append(
                    render_error(vs.label, source, f"{source} renders a non-object document")
                )
                continue
            out.objects.append(doc)
            out.sources.append(source)
    return out, findings


SCHEMA_FAILURE = (
    "values don't meet the specifications of the schema(s) in the following chart(s):\n"
)
"""How Helm's render starts its message when the values fail values.schema.json."""


def schema_violation(rendered: Rendered) -> str | None:
    """What Helm's values.schema.json check said when it stopped this render, else None.

    Helm validates the merged values against the schema before it runs any template, so a
    render that got to its templates (or rendered) passed the schema.
    """
    if rendered.error and rendered.error.startswith(SCHEMA_FAILURE):
        return rendered.error[len(SCHEMA_FAILURE) :]
    return None


def _strip_chart_prefix(template: str) -> str:
    """`mychart/templates/x.yaml` -> `templates/x.yaml` (subchart paths keep their prefix)."""
    parts = template.split("/", 1)
    return parts[1] if len(parts) == 2 and parts[1].startswith("templates/") else template


def render_error(label: str, source: str, message: str) -> Finding:
    """An error finding for a render that failed or produced unusable YAML."""
    return Finding(
        severity=Severity.ERROR,
        tool="helm",
        check="render",
        object=source or label,
        message=message,
        hint="run `helm template` with these values and fix the template named in the error",
    )
