"""Checkov in memory (issue 12): the same results as checkov's own file-based run, and cached.

The in-memory path (security.outcomes) must give exactly what checkov's runner gives for a
YAML file of the same objects (security.file_outcomes): every chart the examples and a few
real-world Compose stacks generate, and hand-made objects for the corners (RBAC and network
policies for the graph checks, List objects, skip annotations, unrendered templates).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.validator import security
from services.validator.cache import LRU
from services.validator.security import Outcome

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (ROOT / "examples" / "compose").glob("*.yaml")
)
REALWORLD = [
    ROOT / "tests" / "fixtures" / "realworld" / name / "docker-compose.yml"
    for name in ("ghost", "kong", "example-voting-app", "healthchecks")
]


def _render(source: Path, out: Path) -> list[dict[str, Any]]:
    """Import, plan and generate a chart from one input (as bench/speed.py does); its objects."""
    from services.generator.engine import generate_chart
    from services.planner.engine import plan_chart
    from services.planner.intake import intake
    from services.validator.engine import render_objects

    name = source.stem if source.name != "docker-compose.yml" else source.parent.name
    taken = intake(source.read_bytes(), base_dir=source.parent, name=name)
    plan = plan_chart(taken.requirements, notes=taken.notes)
    return render_objects(generate_chart(plan, out / name, force=True).chart_dir)


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The default render of every example's and the chosen stacks' charts, by input name."""
    out = tmp_path_factory.mktemp("charts")
    return {f"{p.parent.name}/{p.stem}": _render(p, out) for p in [*EXAMPLES, *REALWORLD]}


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Every test starts, and leaves, with empty result caches."""
    security._results.clear()
    security._graphs.clear()
    yield
    security._results.clear()
    security._graphs.clear()


def _by_result(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes per result (checkov's report keeps one list each): resource checks in
    checkov's order, then the graph checks sorted (checkov lists those as its threads end)."""
    graph = [o for o in outcomes if o.check_id.startswith("CKV2_")]
    own = [o for o in outcomes if not o.check_id.startswith("CKV2_")]
    ordered = own + sorted(graph, key=lambda o: (o.check_id, o.resource))
    return {r: [o for o in ordered if o.result == r] for r in ("PASSED", "FAILED", "SKIPPED")}


def _sorted_graph(outcomes: list[Outcome]) -> list[Outcome]:
    """Checkov's outcomes with the graph checks' in the registry's order, as outcomes() has
    them (checkov's own order of those follows its threads)."""
    ck = security._checkov()
    order = {c.id: i for i, c in enumerate(ck.runner.graph_registry.checks)}
    graph = [o for o in outcomes if o.check_id in order]
    graph.sort(key=lambda o: order[o.check_id])  # stable: each check's results keep order
    return [o for o in outcomes if o.check_id not in order] + graph


def _assert_same(objects: list[dict[str, Any]]) -> None:
    """The in-memory scan gives checkov's file-based results, cold and from the cache."""
    expected = security.file_outcomes(copy.deepcopy(objects))
    cold = security.outcomes(copy.deepcopy(objects))
    cached = security.outcomes(copy.deepcopy(objects))
    assert _by_result(cold) == _by_result(expected)
    assert cached == cold
    assert security.report_for(cold) == security.report_for(_sorted_graph(expected))


@pytest.mark.slow
def test_in_memory_scan_matches_checkov_on_every_example_and_some_stacks(
    charts: dict[str, list[dict[str, Any]]],
) -> None:
    """Every example's chart and four real stacks': the same outcomes and report as checkov's file run."""
    assert len(charts) == len(EXAMPLES) + len(REALWORLD)
    for name, objects in charts.items():
        assert objects, name
        expected = security.file_outcomes(copy.deepcopy(objects))
        got = security.outcomes(copy.deepcopy(objects))
        assert _by_result(got) == _by_result(expected), name
        assert security.report_for(got) == security.report_for(_sorted_graph(expected)), name


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    """Metadata with a name and a namespace, plus anything given."""
    return {"name": name, "namespace": "ns", **extra}


def _pod_spec(**extra: Any) -> dict[str, Any]:
    """A small pod spec; extra keys go on the pod."""
    container = {"name": "app", "image": "nginx:1.27", "securityContext": {"privileged": False}}
    return {"containers": [container], **extra}


def _deployment(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A Deployment whose pods carry app=<name>, optionally annotated."""
    meta = _meta(name, **({"annotations": annotations} if annotations else {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": _pod_spec(serviceAccountName=name),
            },
        },
    }


CORNERS: dict[str, list[dict[str, Any]]] = {
    "rbac": [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("web")},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta("web"),
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta("web"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "web"},
            "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "ns"}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "admin"},
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "someone"}],
        },
        _deployment("web"),
    ],
    "network policies": [
        _deployment("web"),
        _deployment("db"),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta("web"),
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta("web"), "spec": {}},
    ],
    "list and nameless": [
        {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {},
            "items": [
                {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("a"), "spec": _pod_spec()},
                None,
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("c"), "data": {}},
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"labels": {"app": "x"}},
            "spec": _pod_spec(hostNetwork=True),
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": _pod_spec()},
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"},
        _deployment("web"),
    ],
    "skips": [
        _deployment(
            "skipped",
            {
                "checkov.io/skip1": "CKV_K8S_8=probes come later",
                "checkov.io/skip2": "CKV_K8S_9",
                "checkov.io/skip3": "CKV_K8S_16=no reason accepts this",
                "checkov.io/skip4": "CKV_K8S_19=hostNetwork: the agent reads node traffic",
                "checkov.io/skip5": "CKV2_K8S_6=a NetworkPolicy comes from the platform",
            },
        ),
    ],
    "invalid names dropped": [
        _deployment("web"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("bad{name}"), "data": {}},
    ],
    "unrendered template": [
        _deployment("web"),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("tpl"),
            "data": {"x": "{{ .Values.image }}"},
        },
    ],
    "odd values": [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("odd", labels={"n": "1"}),
            "data": {"a": "line one\nline two", "b": "ünïcode", "c": "yes", "d": "1.0"},
        },
        _deployment("web"),
    ],
}


@pytest.mark.parametrize("name", [n for n in CORNERS if n != "unrendered template"])
def test_in_memory_scan_matches_checkov_on_corner_cases(name: str) -> None:
    """Each corner case: the same outcomes as checkov's file run, cold and cached."""
    _assert_same(CORNERS[name])


def test_corner_cases_exercise_graph_checks_and_skips() -> None:
    """The corner cases reach the graph checks, skips and the unrendered-template gate."""
    graph = {o.check_id for o in security.outcomes(CORNERS["rbac"] + CORNERS["network policies"])}
    assert {"CKV2_K8S_1", "CKV2_K8S_6"} <= graph
    skipped = [o for o in security.outcomes(CORNERS["skips"]) if o.result == "SKIPPED"]
    assert {o.check_id for o in skipped} >= {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_16", "CKV2_K8S_6"}


def test_template_text_in_rendered_data_does_not_switch_the_scan_off() -> None:
    """Checkov drops a whole file holding `{{ .Values.` text; a rendered chart's ConfigMap may
    hold such text as data, so the scan still checks every object (and fails the bad one)."""
    objects = CORNERS["unrendered template"]
    assert security.file_outcomes(objects) == []  # checkov's own file run sees nothing
    found = security.outcomes(objects)
    assert any(o.resource.startswith("Deployment.") for o in found)
    report = security.scan(objects)
    assert report.notRun is None
    assert report.passed + report.failed > 0
    assert report.passRate < 1.0


def test_objects_without_any_result_are_not_a_pass() -> None:
    """Objects in and no check out is reported as not run, never as a 100% pass."""
    odd = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("bad{name}"), "data": {}}]
    report = security.scan(odd)
    assert report.notRun is not None and "no results" in report.notRun


def test_changed_object_misses_and_unchanged_ones_hit() -> None:
    """Re-checking with one object changed computes only that object again."""
    objects = CORNERS["rbac"] + CORNERS["network policies"][1:]
    first = security.scan(copy.deepcopy(objects))
    assert security._results.misses == len(objects)
    assert security._results.hits == 0
    again = security.scan(copy.deepcopy(objects))
    assert again == first
    assert (security._results.hits, security._results.misses) == (len(objects), len(objects))
    assert security._graphs.hits == 1

    security.clear_caches()
    assert security.scan(copy.deepcopy(objects)) == first
    assert (security._results.hits, security._results.misses) == (0, len(objects))
    security.scan(copy.deepcopy(objects))

    changed = copy.deepcopy(objects)
    changed[-1]["metadata"]["annotations"] = {"checkov.io/skip1": "CKV_K8S_8=later"}
    security.scan(changed)
    assert security._results.misses == len(objects) + 1
    assert security._results.hits == 2 * len(objects) - 1


def test_results_reused_at_other_lines_are_checkov_s() -> None:
    # Cached results are keyed by content, not by where an object sits in the file: an object
    # moved down by a longer one before it must still get what checkov gives it there.
    """Cached results reused where objects sit on other lines are still checkov's."""
    objects = CORNERS["rbac"] + CORNERS["network policies"][1:]
    security.outcomes(copy.deepcopy(objects))
    filler = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("filler"),
        "data": {f"k{i}": f"value {i}" for i in range(40)},
    }
    moved = [filler, *objects]
    hits = security._results.hits
    got = security.outcomes(copy.deepcopy(moved))
    assert security._results.hits == hits + len(objects)
    assert security._graphs.hits == 1
    assert _by_result(got) == _by_result(security.file_outcomes(copy.deepcopy(moved)))


def test_reports_are_the_same_with_and_without_the_cache() -> None:
    """A report from the cache equals one from an uncached run."""
    objects = [o for corner in CORNERS.values() for o in corner if "{{" not in str(o)]
    cached = [security.scan(copy.deepcopy(objects)) for _ in range(2)]
    security._results.clear()
    security._graphs.clear()
    uncached = security.report_for(_sorted_graph(security.file_outcomes(copy.deepcopy(objects))))
    assert cached[0] == cached[1] == uncached


def test_a_changed_value_type_is_a_different_key() -> None:
    """The content key tells values and keys of different types apart."""
    ck = security._checkov()
    a = {"kind": "ConfigMap", "data": {"x": "1"}}
    b = {"kind": "ConfigMap", "data": {"x": 1}}
    c = {"kind": "ConfigMap", "data": {1: "1"}}
    d = {"kind": "ConfigMap", "data": {"1": "1"}}
    keys = {security._content_key(ck, o) for o in (a, b, c, d)}
    assert len(keys) == 4
    assert security._content_key(ck, copy.deepcopy(a)) == security._content_key(ck, a)


def test_the_cache_is_bounded() -> None:
    """The LRU keeps the most recently used entries up to its size."""
    lru: LRU[int, str] = LRU(3)
    for i in range(5):
        lru.put(i, str(i))
    assert list(lru.items) == [2, 3, 4]
    assert lru.get(2) == "2" and lru.get(0) is None
    lru.put(5, "5")
    assert list(lru.items) == [4, 2, 5]


_NO_CHECKOV = """
import sys
import services.validator.security
import services.validator.kube_schema
assert not [m for m in sys.modules if m.split(".")[0] == "checkov"], "checkov imported"
from services.cli.main import main
try:
    main(["--version"])
except SystemExit:
    pass
assert not [m for m in sys.modules if m.split(".")[0] in ("checkov", "langgraph")], "imported"
print("ok")
"""


def test_importing_the_scanner_and_cli_version_do_not_import_checkov() -> None:
    """Importing the validator modules or running --version loads no checkov or LangGraph."""
    out = subprocess.run(
        [sys.executable, "-c", _NO_CHECKOV], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
