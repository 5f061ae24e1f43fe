"""Strict validation of rendered objects against the upstream Kubernetes JSON schemas.

kubernetes_validate ships the schemas; its `validate()` reloads and re-resolves them on every
call, so here one Draft 2020-12 validator is compiled per (version, kind, apiVersion) and cached.
A kind's schema comes with its `$ref`s into the version's 1.4 MB `_definitions.json` replaced by
the definitions themselves (no registry look-ups while validating); the definitions a kind
reaches are kept on disk under the user's cache folder, keyed by the schema files' hash, so a
cold process parses a few small files instead of the whole definitions file. Each object's
errors are cached per (content, version) in a bounded LRU.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema import Draft202012Validator
from kubernetes_validate.utils import all_versions
from referencing import Registry, Resource

from services.validator.cache import LRU
from shared.config import cache_dir
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


@cache
def _schema_dir(version: str) -> Path:
    """The strict, locally resolvable schema directory for a shipped minor version."""
    matches = [v for v in all_versions() if _fmt(_minor(v)) == version]
    return SCHEMA_ROOT / f"v{matches[-1]}-local-strict"


@cache
def _registry(version: str) -> Registry[Any]:
    """A registry holding the version's `_definitions.json` (1.4 MB: parse it once)."""
    return Resource.from_contents(_definitions(version)) @ Registry()


@cache
def _definitions(version: str) -> dict[str, Any]:
    """The version's whole `_definitions.json`, parsed (only when a kind is not cached)."""
    loaded: dict[str, Any] = json.loads((_schema_dir(version) / _DEFS).read_bytes())
    return loaded


@cache
def _definitions_digest(version: str) -> str:
    """The hash of the version's `_definitions.json` (reading it is cheap; parsing is not)."""
    return hashlib.sha256((_schema_dir(version) / _DEFS).read_bytes()).hexdigest()


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
    loaded = kind_schema(version, name)
    if loaded is None:
        return None
    schema, defs = loaded
    # The file name keeps only the group's first label: make sure a CRD such as
    # apps.example.com/v1 Deployment is not checked against the built-in schema.
    gvks = schema.get("x-kubernetes-group-version-kind", [])
    if not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
        return None
    try:
        return Draft202012Validator(_inlined(schema, defs))
    except _Unresolvable:
        registry = Resource.from_contents(schema) @ _registry(version)
        return Draft202012Validator(schema, registry=registry)


# --- schemas with their references resolved, cached on disk ------------------------------

_DEFS = "_definitions.json"
_REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")
"""A kind file refers into `_definitions.json` with the first, the definitions to each other
with the second (both resolve to that file's `$defs`)."""
_ANNOTATIONS = re.compile(r"^(description|x-kubernetes-.*)$")
"""Keywords beside a `$ref` that assert nothing, so the reference can stand in for the node."""
SCHEMA_CACHE_FORMAT = "autopilot-kube-schema-1"
"""Changes whenever what a cache file holds changes."""


class _Unresolvable(Exception):
    """A `$ref` that does not point into the version's definitions."""


def schema_cache_dir() -> Path:
    """Where resolved kind schemas are kept: kube-schema/ in the project's cache directory."""
    return cache_dir() / "kube-schema"


def kind_schema(version: str, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A kind's schema file and the definitions it reaches, or None when there is no such file.

    Read from the disk cache when a file there matches the schema files' hash; else built
    from `_definitions.json` and written there (a cache that cannot be read or written is
    only slower).
    """
    path = _schema_dir(version) / name
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    key = hashlib.sha256(
        "\n".join([SCHEMA_CACHE_FORMAT, version, name, _definitions_digest(version), ""]).encode()
        + raw
    ).hexdigest()
    cache_file = schema_cache_dir() / f"{key}.json"
    cached = _read_cached(cache_file)
    if cached is not None:
        return cached
    schema = json.loads(raw)
    defs = _reachable(schema, _definitions(version).get("$defs", {}))
    text = json.dumps({"schema": _stripped(schema), "defs": _stripped(defs)}, separators=(",", ":"))
    _write_cached(cache_file, text)
    built = _read_text(text)
    assert built is not None
    return built


def _read_cached(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A cache file's (schema, definitions), or None if it is missing, unreadable or corrupt."""
    try:
        return _read_text(path.read_bytes())
    except OSError:
        return None


def _read_text(text: str | bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Parse a cache file's text; None unless it holds a schema and its definitions."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    schema, defs = data.get("schema"), data.get("defs")
    if not isinstance(schema, dict) or not isinstance(defs, dict):
        return None
    return schema, defs


def _write_cached(path: Path, text: str) -> None:
    """Write a cache file atomically; a folder that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


_VALUES = frozenset({"enum", "const", "default", "example", "examples"})
"""Keywords whose value is data, not a schema: kept as they are."""
_MAPS = frozenset(
    {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions", "dependencies"}
)
"""Keywords whose value maps names (any name, `default` too) to schemas."""


def _is_data(keyword: str) -> bool:
    """Whether a keyword's value is data no validator descends into (values, extensions)."""
    return keyword in _VALUES or keyword.startswith("x-kubernetes-")


def _map_schema(node: dict[str, Any], f: Any) -> Iterator[tuple[str, Any]]:
    """(keyword, new value) of a schema node with f applied to every schema inside it."""
    for k, v in node.items():
        if _is_data(k):
            yield k, v
        elif k in _MAPS and isinstance(v, dict):
            yield k, {name: f(sub) for name, sub in v.items()}
        else:
            yield k, f(v)


def _stripped(node: Any) -> Any:
    """A schema without its `description` texts (annotations: they assert nothing, and they
    are most of the bytes to parse)."""
    if isinstance(node, list):
        return [_stripped(v) for v in node]
    if not isinstance(node, dict):
        return node
    return {
        k: v
        for k, v in _map_schema(node, _stripped)
        if not (k == "description" and isinstance(v, str))
    }


def _ref_name(node: dict[str, Any]) -> str | None:
    """The definition a schema node's `$ref` names, None without one; raises when the
    reference points elsewhere."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return None
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            return ref[len(prefix) :].replace("~1", "/").replace("~0", "~")
    raise _Unresolvable(ref)


def _reachable(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The definitions a schema reaches through `$ref`s, transitively."""
    out: dict[str, Any] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            try:
                name = _ref_name(node)
            except _Unresolvable:
                name = None  # left for the registry fallback in validator_for
            if name is not None and name not in out and name in defs:
                out[name] = defs[name]
                stack.append(defs[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _inlined(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` replaced by the definition it names (in place: both come
    fresh from a parse).

    A node holding only the reference and annotations becomes the definition itself; one with
    other keywords keeps them, the reference turned into an `allOf` in its place, so errors
    come out as they would through the reference. Recursive definitions become cycles.
    """
    done: dict[str, dict[str, Any]] = {}

    def definition(name: str) -> dict[str, Any]:
        """The inlined definition, shared by every reference to it."""
        if name not in done:
            target = defs.get(name)
            if not isinstance(target, dict):
                raise _Unresolvable(name)
            done[name] = target
            resolve(target)
        return done[name]

    def resolve(node: Any) -> Any:
        """The node with its references resolved (containers changed in place)."""
        if isinstance(node, list):
            for i, v in enumerate(node):
                node[i] = resolve(v)
            return node
        if not isinstance(node, dict):
            return node
        name = _ref_name(node)
        if name is None:
            node.update(list(_map_schema(node, resolve)))
            return node
        if "allOf" in node:
            raise _Unresolvable(f"$ref beside allOf: {node['$ref']}")
        target = definition(name)
        if all(_ANNOTATIONS.match(k) for k in node if k != "$ref"):
            return target
        rest = dict(_map_schema({k: v for k, v in node.items() if k != "$ref"}, resolve))
        return {("allOf" if k == "$ref" else k): [target] if k == "$ref" else rest[k] for k in node}

    top: dict[str, Any] = resolve(schema)
    return top


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
    for label, objects, sources in rendered:
        for obj, source in zip(objects, sources, strict=True):
            ref = object_ref(obj)
            content = _content_key(obj)
            for version in versions:
                found, note = _cached_errors(obj, content, version)
                if note is not None and note[0] not in notes:
                    notes[note[0]] = note[1]
                for path, message, hint in found:
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
_Note = tuple[tuple[str, str], Finding]
"""A custom resource's (kind, apiVersion) and the note saying it was not validated."""
RESULTS_CACHE_SIZE = 8192
"""(object, version) pairs whose schema errors a process keeps."""


_results: LRU[tuple[bytes, str], tuple[tuple[_Error, ...], _Note | None]] = LRU(RESULTS_CACHE_SIZE)


def clear_caches() -> None:
    """Forget every object's cached errors (compiled validators stay): a first-sight run."""
    _results.clear()


def _content_key(obj: Any) -> bytes:
    """A key for everything in an object that decides its errors: its exact content (value
    types and key order included, as repr writes them), and the schemas' package version."""
    text = f"{kubernetes_validate.__version__}\0{MAX_ERRORS_PER_OBJECT}\0{obj!r}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _cached_errors(
    obj: dict[str, Any], content: bytes, version: str
) -> tuple[tuple[_Error, ...], _Note | None]:
    """One object's schema errors against one version, from the cache when seen before."""
    validator = _validator_of(obj, version)
    key = (content, version)
    hit = _results.get(key)
    if hit is not None:
        return hit
    found = _schema_errors(obj, version, validator)
    _results.put(key, found)
    return found


def _validator_of(obj: dict[str, Any], version: str) -> Draft202012Validator | None:
    """The validator for an object's kind, None when it has none or no kind/apiVersion."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not kind or not api_version:
        return None
    return validator_for(version, kind, api_version)


def _schema_errors(
    obj: dict[str, Any], version: str, validator: Draft202012Validator | None
) -> tuple[tuple[_Error, ...], _Note | None]:
    """Schema errors of one object against one version; a custom resource gets a note."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not kind or not api_version:
        return (
            ("$", "object has no kind or apiVersion", "every manifest needs apiVersion and kind"),
        ), None
    if validator is None:
        group, _ = split_api_version(api_version)
        if group in BUILTIN_GROUPS:
            return (
                (
                    "$.apiVersion",
                    f"{api_version} {kind} is not served by Kubernetes",
                    "use the API version current for this kind",
                ),
            ), None
        note = Finding(
            severity=Severity.INFO,
            tool="kube-schema",
            check="no-schema",
            object=object_ref(obj),
            message=f"no upstream schema for {api_version} {kind} (custom resource); not validated",
            hint="validate custom resources against their CRD separately",
        )
        return (), ((kind, api_version), note)
    out: list[_Error] = []
    for count, err in enumerate(validator.iter_errors(obj)):
        if count >= MAX_ERRORS_PER_OBJECT:
            break
        err = _deepest(err)
        hint = _HINTS.get(str(err.validator), "fix the value to match the Kubernetes API schema")
        out.append((err.json_path, f"{err.json_path}: {err.message}", hint))
    return tuple(out), None


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
