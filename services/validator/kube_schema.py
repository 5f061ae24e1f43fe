"""Strict validation of rendered objects against the upstream Kubernetes JSON schemas.

kubernetes_validate ships the schemas; its `validate()` reloads and re-resolves them on every
call, so here one Draft 2020-12 validator is compiled per (version, kind, apiVersion) and cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema import Draft202012Validator
from kubernetes_validate.utils import all_versions
from referencing import Registry, Resource

from shared.errors import InputError
from shared.models.reports import Finding, Severity

SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
MAX_ERRORS_PER_OBJECT = 20
"""Stop after this many schema errors in one object; the rest are usually the same mistake."""

# API groups Kubernetes itself serves. A kind in one of these groups without a shipped schema
# is an API the cluster no longer (or never) serves, not a CRD.
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "extensions",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "certificates.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "apiregistration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "internal.apiserver.k8s.io",
    }
)

_HINTS = {
    "additionalProperties": "remove or rename the field: check its spelling and indentation "
    "against the Kubernetes API reference",
    "type": "render the value with the right type (e.g. `int`, `quote`, or `toYaml`)",
    "required": "add the required field",
    "enum": "use one of the allowed values",
    "pattern": "make the value match the documented format",
    "format": "make the value match the documented format",
}


def _minor(version: str) -> tuple[int, int]:
    """'v1.30.2' / '1.30' -> (1, 30)."""
    m = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not m:
        raise InputError(f"not a Kubernetes version: {version!r}", field="kube_versions")
    return int(m.group(1)), int(m.group(2))


def _fmt(minor: tuple[int, int]) -> str:
    """(1, 30) -> '1.30'."""
    return f"{minor[0]}.{minor[1]}"


@cache
def shipped_versions() -> tuple[str, ...]:
    """Kubernetes minor versions kubernetes_validate ships schemas for, oldest first."""
    minors = sorted({_minor(v) for v in all_versions()})
    return tuple(_fmt(m) for m in minors)


def _comparator_ok(op: str, want: tuple[int, int], has_patch: bool, v: tuple[int, int]) -> bool:
    """Whether minor version v satisfies one semver comparator, judged at minor granularity."""
    if op in ("", "=", "~"):
        return v == want
    if op == "^":
        return v[0] == want[0] and v >= want
    if op == ">=":
        return v >= want
    if op == ">":
        # ">1.29.3" still admits 1.29 clusters; ">1.29" does not.
        return v >= want if has_patch else v > want
    if op == "<":
        return v <= want if has_patch else v < want
    if op == "<=":
        return v <= want
    return False


_COMPARATOR = re.compile(
    r"(>=|<=|>|<|=|\^|~)?\s*v?(\d+)(?:\.(\d+|x|X|\*))?(?:\.(\d+|x|X|\*))?(?:-[0-9A-Za-z.-]+)?"
)

_HYPHEN_RANGE = re.compile(r"(\S+)\s+-\s+(\S+)")


def versions_for_constraint(constraint: str | None) -> tuple[list[str], str | None]:
    """Oldest and newest shipped version a Chart.yaml kubeVersion admits, and a note if defaulted."""
    shipped = list(shipped_versions())
    if not constraint or not constraint.strip():
        return _ends(shipped), "Chart.yaml declares no kubeVersion; validating the shipped range"
    admitted: list[str] = []
    # Hyphen ranges ("1.25 - 1.30") are inclusive at both ends.
    constraint = _HYPHEN_RANGE.sub(r">=\1 <=\2", constraint)
    for alternative in constraint.split("||"):
        terms = _COMPARATOR.findall(alternative)
        if not terms:
            continue
        for ver in shipped:
            v = _minor(ver)
            if all(_term_ok(term, v) for term in terms) and ver not in admitted:
                admitted.append(ver)
    if not admitted:
        return _ends(shipped[:1]), (
            f"kubeVersion {constraint!r} admits no version with shipped schemas "
            f"({shipped[0]}..{shipped[-1]}); validating {shipped[0]}"
        )
    admitted.sort(key=_minor)
    return _ends(admitted), None


def _term_ok(term: tuple[str, str, str, str], v: tuple[int, int]) -> bool:
    """Evaluate one parsed comparator (op, major, minor, patch) against minor version v."""
    op, major, minor, patch = term
    if minor in ("", "x", "X", "*"):
        # A bare major ("1" / "1.x") constrains the major only.
        return _comparator_ok("^" if op in ("", "=", "~", "^") else op, (int(major), 0), False, v)
    has_patch = patch not in ("", "x", "X", "*") and int(patch) > 0
    return _comparator_ok(op, (int(major), int(minor)), has_patch, v)


def _ends(versions: Sequence[str]) -> list[str]:
    """The first and last of a sorted list, once each."""
    return list(dict.fromkeys([versions[0], versions[-1]]))


def resolve_override(kube_versions: Iterable[str]) -> list[str]:
    """Map requested versions onto shipped schema versions (newest not newer than asked)."""
    shipped = list(shipped_versions())
    out: list[str] = []
    for requested in kube_versions:
        want = _minor(requested)
        candidates = [s for s in shipped if _minor(s) <= want]
        if not candidates or want > _minor(shipped[-1]):
            raise InputError(
                f"Kubernetes {requested} is outside the shipped schemas "
                f"({shipped[0]}..{shipped[-1]})",
                field="kube_versions",
            )
        if candidates[-1] not in out:
            out.append(candidates[-1])
    return out


def _schema_dir(version: str) -> Path:
    """The strict, locally resolvable schema directory for a shipped minor version."""
    matches = [v for v in all_versions() if _fmt(_minor(v)) == version]
    return SCHEMA_ROOT / f"v{matches[-1]}-local-strict"


@cache
def _registry(version: str) -> Registry[Any]:
    """A registry holding the version's `_definitions.json` (1.2 MB: parse it once)."""
    defs = json.loads((_schema_dir(version) / "_definitions.json").read_text(encoding="utf-8"))
    return Resource.from_contents(defs) @ Registry()


def split_api_version(api_version: str) -> tuple[str, str]:
    """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
    group, _, ver = api_version.rpartition("/")
    return group, ver


@lru_cache(maxsize=1024)
def validator_for(version: str, kind: str, api_version: str) -> Draft202012Validator | None:
    """The compiled strict validator for one kind, or None when no upstream schema exists."""
    group, ver = split_api_version(api_version)
    prefix = group.split(".", 1)[0]
    name = f"{kind.lower()}-{prefix}-{ver}.json" if group else f"{kind.lower()}-{ver}.json"
    path = _schema_dir(version) / name
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    # The file name keeps only the group's first label: make sure a CRD such as
    # apps.example.com/v1 Deployment is not checked against the built-in schema.
    gvks = schema.get("x-kubernetes-group-version-kind", [])
    if not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
        return None
    registry = Resource.from_contents(schema) @ _registry(version)
    return Draft202012Validator(schema, registry=registry)


@dataclass
class _Aggregate:
    """One distinct schema error and where it showed up."""

    finding: Finding
    versions: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def object_ref(obj: dict[str, Any]) -> str:
    """`Kind/name` of a rendered object."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return f"{obj.get('kind', '?')}/{(meta or {}).get('name', '?')}"


def validate_rendered(
    rendered: Sequence[tuple[str, Sequence[dict[str, Any]], Sequence[str]]],
    versions: Sequence[str],
) -> list[Finding]:
    """Validate every object of every values set for every version; merge duplicate errors."""
    errors: dict[tuple[str, str, str], _Aggregate] = {}
    notes: dict[tuple[str, str], Finding] = {}
    # ci values files mostly render the same objects as the defaults: validate each once.
    seen: dict[tuple[str, str], list[_Error]] = {}
    for label, objects, sources in rendered:
        for obj, source in zip(objects, sources, strict=True):
            ref = object_ref(obj)
            canonical = json.dumps(obj, sort_keys=True, default=str)
            for version in versions:
                key = (version, canonical)
                if key not in seen:
                    seen[key] = _schema_errors(obj, version, notes)
                for path, message, hint in seen[key]:
                    _add(errors, ref, path, f"{source}: {message}", hint, version, label)
    findings = list(notes.values())
    for agg in errors.values():
        where = f"Kubernetes {', '.join(agg.versions)}; values: {', '.join(agg.labels)}"
        findings.append(
            agg.finding.model_copy(update={"message": f"{agg.finding.message} ({where})"})
        )
    return findings


_Error = tuple[str, str, str]
"""(JSON path, message, hint) of one schema error."""


def _schema_errors(
    obj: dict[str, Any], version: str, notes: dict[tuple[str, str], Finding]
) -> list[_Error]:
    """Schema errors of one object against one version; custom resources go to notes."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not kind or not api_version:
        return [
            ("$", "object has no kind or apiVersion", "every manifest needs apiVersion and kind")
        ]
    validator = validator_for(version, kind, api_version)
    if validator is None:
        group, _ = split_api_version(api_version)
        if group in BUILTIN_GROUPS:
            return [
                (
                    "$.apiVersion",
                    f"{api_version} {kind} is not served by Kubernetes",
                    "use the API version current for this kind",
                )
            ]
        if (kind, api_version) not in notes:
            notes[(kind, api_version)] = Finding(
                severity=Severity.INFO,
                tool="kube-schema",
                check="no-schema",
                object=object_ref(obj),
                message=f"no upstream schema for {api_version} {kind} (custom resource); "
                "not validated",
                hint="validate custom resources against their CRD separately",
            )
        return []
    out: list[_Error] = []
    for count, err in enumerate(validator.iter_errors(obj)):
        if count >= MAX_ERRORS_PER_OBJECT:
            break
        err = _deepest(err)
        hint = _HINTS.get(str(err.validator), "fix the value to match the Kubernetes API schema")
        out.append((err.json_path, f"{err.json_path}: {err.message}", hint))
    return out


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For anyOf/oneOf failures, the most relevant sub-error says more than 'is not valid'."""
    if err.context:
        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            return best
    return err


def _add(
    errors: dict[tuple[str, str, str], _Aggregate],
    ref: str,
    path: str,
    message: str,
    hint: str,
    version: str,
    label: str,
) -> None:
    """Record an error once, remembering each version and values set it occurred with."""
    key = (ref, path, message)
    agg = errors.get(key)
    if agg is None:
        agg = errors[key] = _Aggregate(
            Finding(
                severity=Severity.ERROR,
                tool="kube-schema",
                check="kube-schema",
                object=ref,
                message=message,
                hint=hint,
            )
        )
    if version not in agg.versions:
        agg.versions.append(version)
    if label not in agg.labels:
        agg.labels.append(label)
