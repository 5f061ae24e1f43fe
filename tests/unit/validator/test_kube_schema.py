"""Kubernetes schema validation made cheaper (issue 12) without changing what it reports.

Inlined schemas give the errors the registry-resolved ones give; the per-kind disk cache is
keyed by the schema files and survives a corrupt or unwritable folder; per-object results are
cached by content and version.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Resource

from services.validator import kube_schema

NEWEST = kube_schema.shipped_versions()[-1]
OLDEST = kube_schema.shipped_versions()[0]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private schema cache folder and empty in-process caches for each test."""
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    kube_schema._results.clear()
    kube_schema.validator_for.cache_clear()
    yield folder / "autopilot" / "kube-schema"
    kube_schema._results.clear()
    kube_schema.validator_for.cache_clear()


def _file_name(kind: str, api_version: str) -> str:
    """The schema file of a kind (as validator_for names it)."""
    group, ver = kube_schema.split_api_version(api_version)
    prefix = group.split(".", 1)[0]
    return f"{kind.lower()}-{prefix}-{ver}.json" if group else f"{kind.lower()}-{ver}.json"


def _reference_validator(version: str, kind: str, api_version: str) -> Draft202012Validator:
    """The validator as built before: the kind file, `$ref`s resolved through a registry."""
    path = kube_schema._schema_dir(version) / _file_name(kind, api_version)
    schema = json.loads(path.read_text(encoding="utf-8"))
    registry = Resource.from_contents(schema) @ kube_schema._registry(version)
    return Draft202012Validator(schema, registry=registry)


def _errors(validator: Draft202012Validator, obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, message, keyword) of the errors validate_rendered keeps, in order."""
    out = []
    for count, err in enumerate(validator.iter_errors(obj)):
        if count >= kube_schema.MAX_ERRORS_PER_OBJECT:
            break
        err = kube_schema._deepest(err)
        out.append((err.json_path, err.message, str(err.validator)))
    return out


def _pod_spec() -> dict[str, Any]:
    """A pod spec touching many definitions (probes, volumes, security, resources)."""
    return {
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
                "securityContext": {"capabilities": {"drop": ["ALL"]}, "runAsUser": 10001},
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


OBJECTS: list[dict[str, Any]] = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec()},
        },
    },
    {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "limits"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}, "max": {"cpu": 2}}]},
    },
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Thing", "plural": "things"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {}}},
                        }
                    },
                }
            ],
        },
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"ports": [{"port": "http"}, {"port": 80, "protocol": "TCP"}]}],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    },
]


def _damaged(obj: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """A copy with random mistakes: wrong types, unknown fields, lists for maps."""
    out = copy.deepcopy(obj)

    def walk(node: Any) -> None:
        """Damage some keys of every mapping below node."""
        if isinstance(node, dict):
            for key in list(node):
                roll = rnd.random()
                if roll < 0.05:
                    node[key] = 12345
                elif roll < 0.1:
                    node[key] = "x"
                elif roll < 0.14:
                    node[f"{key}X"] = True
                elif roll < 0.16:
                    node[key] = [1, {"a": None}]
                else:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(out.get("spec"))
    walk(out.get("metadata"))
    return out


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_inlined_schemas_report_what_registry_resolved_ones_do(version: str) -> None:
    """Inlined validators give the registry-resolved ones' errors, in order, on damaged objects."""
    rnd = random.Random(12)
    compared = errors = 0
    for obj in OBJECTS:
        ours = kube_schema.validator_for(version, obj["kind"], obj["apiVersion"])
        assert ours is not None
        reference = _reference_validator(version, obj["kind"], obj["apiVersion"])
        for variant in [obj] + [_damaged(obj, rnd) for _ in range(25)]:
            expected = _errors(reference, variant)
            assert _errors(ours, variant) == expected, (obj["kind"], variant)
            compared += 1
            errors += len(expected)
    assert compared == len(OBJECTS) * 26 and errors > 200


def test_every_shipped_kind_inlines_without_a_reference_left() -> None:
    """A spread of shipped kinds inlines completely: no `$ref` left where a validator looks."""
    folder = kube_schema._schema_dir(NEWEST)
    names = sorted(p.name for p in folder.glob("*.json") if p.name not in ("_definitions.json",))
    assert len(names) > 500
    for name in names[::7]:  # a spread sample; the whole set is ~900 files
        loaded = kube_schema.kind_schema(NEWEST, name)
        assert loaded is not None, name
        schema = kube_schema._inlined(*loaded)
        seen: set[int] = set()
        stack: list[Any] = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict) and id(node) not in seen:
                seen.add(id(node))
                assert not isinstance(node.get("$ref"), str), (name, node["$ref"])
                for key, value in node.items():
                    if kube_schema._is_data(key):
                        continue
                    if key in kube_schema._MAPS and isinstance(value, dict):
                        stack.extend(value.values())
                    else:
                        stack.append(value)


def test_kind_schemas_are_cached_on_disk_and_read_back(
    own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind's resolved schema is written once and then read without the definitions file."""
    name = _file_name("Deployment", "apps/v1")
    built = kube_schema.kind_schema(NEWEST, name)
    files = list(own_cache.glob("*.json"))
    assert built is not None and len(files) == 1
    assert "description" not in files[0].read_text(encoding="utf-8").split('"properties"')[0]

    def no_parse(version: str) -> dict[str, Any]:
        """Fail if the whole definitions file is parsed again."""
        raise AssertionError("parsed _definitions.json despite the cache")

    monkeypatch.setattr(kube_schema, "_definitions", no_parse)
    assert kube_schema.kind_schema(NEWEST, name) == built
    assert kube_schema.validator_for(NEWEST, "Deployment", "apps/v1") is not None


def test_cache_key_follows_the_schema_files(own_cache: Path) -> None:
    """Each (version, kind file) gets its own cache file."""
    name = _file_name("Service", "v1")
    kube_schema.kind_schema(NEWEST, name)
    kube_schema.kind_schema(OLDEST, name)
    kube_schema.kind_schema(NEWEST, _file_name("ConfigMap", "v1"))
    assert len(list(own_cache.glob("*.json"))) == 3


def test_a_corrupt_cache_file_is_rebuilt(own_cache: Path) -> None:
    """A corrupt cache file is ignored and written again."""
    name = _file_name("Deployment", "apps/v1")
    built = kube_schema.kind_schema(NEWEST, name)
    (cached,) = own_cache.glob("*.json")
    for garbage in ("{not json", '{"schema": 1}', "[]", ""):
        cached.write_text(garbage, encoding="utf-8")
        assert kube_schema.kind_schema(NEWEST, name) == built
        assert json.loads(cached.read_text(encoding="utf-8"))["schema"]


def test_an_unwritable_cache_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that cannot be created leaves validation working."""
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert kube_schema.kind_schema(NEWEST, _file_name("Deployment", "apps/v1")) is not None
    assert kube_schema.validator_for(NEWEST, "Deployment", "apps/v1") is not None


def test_missing_schema_file_is_none() -> None:
    """A kind without a schema file has no schema and no validator."""
    assert kube_schema.kind_schema(NEWEST, "nothing-v9.json") is None
    assert kube_schema.validator_for(NEWEST, "Nothing", "v9") is None


def _rendered(objects: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]], list[str]]]:
    """One values set of objects, each from its own template."""
    return [("values", objects, [f"templates/{i}.yaml" for i in range(len(objects))])]


def test_changed_object_misses_and_unchanged_ones_hit() -> None:
    """Re-checking with one object changed computes only that object again."""
    versions = [OLDEST, NEWEST]
    objects = copy.deepcopy(OBJECTS)
    kube_schema.validate_rendered(_rendered(objects), versions)
    pairs = len(objects) * len(versions)
    assert (kube_schema._results.hits, kube_schema._results.misses) == (0, pairs)
    kube_schema.validate_rendered(_rendered(copy.deepcopy(objects)), versions)
    assert (kube_schema._results.hits, kube_schema._results.misses) == (pairs, pairs)
    kube_schema.clear_caches()
    kube_schema.validate_rendered(_rendered(copy.deepcopy(objects)), versions)
    assert (kube_schema._results.hits, kube_schema._results.misses) == (0, pairs)
    objects[0]["metadata"]["labels"]["run"] = "2"
    kube_schema.validate_rendered(_rendered(objects), versions)
    assert kube_schema._results.misses == pairs + len(versions)
    assert kube_schema._results.hits == pairs - len(versions)


def test_findings_are_the_same_with_and_without_the_cache() -> None:
    """Findings from the cache equal those computed afresh (notes and errors included)."""
    rnd = random.Random(3)
    objects = [_damaged(o, rnd) for o in OBJECTS] + [
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}},
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "u"}},
        {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "old"}},
        {"metadata": {"name": "no-kind"}},
    ]
    rendered = _rendered(objects) + [("ci/x", objects[:3], ["t/a", "t/b", "t/c"])]
    first = kube_schema.validate_rendered(rendered, [OLDEST, NEWEST])
    cached = kube_schema.validate_rendered(rendered, [OLDEST, NEWEST])
    kube_schema._results.clear()
    kube_schema.validator_for.cache_clear()
    fresh = kube_schema.validate_rendered(rendered, [OLDEST, NEWEST])
    assert first == cached == fresh
    assert [f.check for f in first].count("no-schema") == 1
    assert any("not served" in f.message for f in first)
    assert sum(f.severity.value == "error" for f in first) > 10


def test_value_types_are_part_of_the_key() -> None:
    """The content key tells values of different types apart."""
    a = {"kind": "ConfigMap", "data": {"x": "1"}}
    b = {"kind": "ConfigMap", "data": {"x": 1}}
    assert kube_schema._content_key(a) != kube_schema._content_key(b)
    assert kube_schema._content_key(a) == kube_schema._content_key(copy.deepcopy(a))
