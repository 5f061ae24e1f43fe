"""helm lint --strict's rules in Python (services/validator/lint.py) say what Helm's lint says.

Helm's own lint (helm.lint_set, helm_python.lint(strict=True)) is the oracle: for generated
charts, real-world stacks and deliberately broken charts, the Python rules over the
validator's render report the same messages (severity, path, text) for every values set, and
validate_chart's lint step is what Helm's lint of every set gives.
"""

from __future__ import annotations

from pathlib import Path

import helm_python
import pytest

from services.generator.engine import generate_chart
from services.planner.engine import plan_chart
from services.planner.intake import intake
from services.validator import helm, lint
from services.validator.engine import DEFAULT_NAMESPACE, FOREIGN_RELEASE, validate_chart
from shared.models.reports import Severity
from tests.support.charts import HARDENED, hardened_copy, patch

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
REALWORLD = ["example-voting-app", "ghost", "healthchecks", "n8n-self-hosted-ai-starter-kit"]


def _per_set(chart_dir: Path) -> list[tuple[str, list[helm.LintEntry], list[helm.LintEntry] | str]]:
    """(set label, Helm's lint entries, Python's entries or why Python was unsure) per set."""
    sets, _ = helm.load_values_sets(chart_dir)
    out: list[tuple[str, list[helm.LintEntry], list[helm.LintEntry] | str]] = []
    with helm_python.Chart.load(chart_dir) as chart:
        rules = lint.chart_rules(chart_dir, chart)
        for vs in sets:
            real = helm.lint_set(chart_dir, vs, DEFAULT_NAMESPACE)
            rendered, _ = helm.render(
                chart, vs, release=FOREIGN_RELEASE, namespace=DEFAULT_NAMESPACE
            )
            try:
                ours: list[helm.LintEntry] | str = lint.lint_render(rules, rendered)
            except lint.Unsure as why:
                ours = f"unsure: {why}"
            out.append((vs.label, real, ours))
    return out


def assert_same_as_helm(chart_dir: Path, *, python_decides: bool = True) -> list[helm.LintEntry]:
    """Python's lint equals Helm's for every set it decides (all of them if python_decides),
    and validate_chart's lint step equals Helm's lint of every set. Returns Helm's entries."""
    sets, _ = helm.load_values_sets(chart_dir)
    real_per_set: list[list[helm.LintEntry]] = []
    try:
        compared = _per_set(chart_dir)
    except helm_python.HelmError:  # unloadable: validate_chart asks Helm itself
        compared = []
        real_per_set = [helm.lint_set(chart_dir, vs, DEFAULT_NAMESPACE) for vs in sets]
    for label, real, ours in compared:
        real_per_set.append(real)
        if isinstance(ours, str):
            assert not python_decides, f"{label}: {ours}"
            continue
        assert ours == real, f"{label}: Python {ours} != Helm {real}"
    expected = helm.lint_findings(sets, real_per_set)
    step = next(r for r in validate_chart(chart_dir).results if r.step == "lint")
    got = [(f.severity, f.object, f.message, f.hint) for f in step.findings]
    assert got == [(f.severity, f.object, f.message, f.hint) for f in expected]
    strict_failed = any(e for e in real_per_set if any(s is not Severity.INFO for s, _, _ in e))
    assert step.passed is not strict_failed
    return [entry for entries in real_per_set for entry in entries]


def _messages(entries: list[helm.LintEntry]) -> set[tuple[Severity, str, str]]:
    """The entries as a set."""
    return set(entries)


# --- charts that pass -----------------------------------------------------------------------


def test_hardened_chart_lints_alike() -> None:
    assert assert_same_as_helm(HARDENED) == []


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generated_example_lints_alike(example: Path, tmp_path: Path) -> None:
    taken = intake(example.read_bytes(), base_dir=example.parent, name=example.stem)
    chart = generate_chart(plan_chart(taken.requirements, notes=taken.notes), tmp_path).chart_dir
    assert len(helm.load_values_sets(chart)[0]) > 1  # the ci/ sets are compared too
    assert_same_as_helm(chart)


@pytest.mark.slow
@pytest.mark.parametrize("stack", REALWORLD)
def test_generated_realworld_stack_lints_alike(stack: str, tmp_path: Path) -> None:
    from tests.e2e.test_realworld import FILES, import_stack

    path = next(p for p in FILES if p.parent.name == stack)
    result = import_stack(path)
    plan = plan_chart(result.requirements, notes=result.notes)
    assert_same_as_helm(generate_chart(plan, tmp_path).chart_dir)


# --- broken charts: the same problems, found by Python where it can be sure ------------------


def test_version_that_is_not_strict_semver(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", "version: 0.1.0", "version: v0.1")
    assert (Severity.WARNING, "Chart.yaml", "version 'v0.1' is not a valid SemVerV2") in (
        assert_same_as_helm(chart)
    )


def test_missing_icon_is_info_and_type_needs_api_v2(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", "icon: https://example.com/icon.png\n", "")
    patch(chart, "Chart.yaml", "apiVersion: v2", "apiVersion: v1")
    found = _messages(assert_same_as_helm(chart))
    assert (Severity.INFO, "Chart.yaml", "icon is recommended") in found
    assert any(s is Severity.ERROR and "chart type is not valid" in m for s, _, m in found)


def test_missing_chart_name_makes_the_chart_unloadable(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", "name: hardened\n", "")
    found = assert_same_as_helm(chart)
    assert (Severity.ERROR, "Chart.yaml", "name is required") in found


def test_unknown_chart_yaml_field_goes_to_helm(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", "type: application", "type: application\nowner: me")
    found = assert_same_as_helm(chart, python_decides=False)
    assert any("failed to strictly parse" in m for _, _, m in found)


@pytest.mark.parametrize(
    ("kind", "api_version", "name"),
    [
        ("ConfigMap", "v1", "Bad_Name"),
        ("Service", "v1", "1st-svc"),
        ("Service", "v1", "s" * 64),
        ("Namespace", "v1", "with.dot"),
        ("Role", "rbac.authorization.k8s.io/v1", "a/b%c"),
        ("Role", "rbac.authorization.k8s.io/v1", ".."),
        ("CertificateSigningRequest", "certificates.k8s.io/v1", "Any_Name"),
        ("Widget", "example.com/v1", "-x-"),
        ("Secret", "v1", "x" * 254),
    ],
)
def test_object_names_kubernetes_rejects(
    tmp_path: Path, kind: str, api_version: str, name: str
) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "named.yaml").write_text(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name!r}\n"
    )
    found = assert_same_as_helm(chart)
    if kind != "CertificateSigningRequest":
        assert any("naming requirements" in m for _, _, m in found)


def test_deprecated_api_versions(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "old.yaml").write_text(
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: old\n"
        "spec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: x}\n---\n"
        "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: old-job\n"
    )
    found = assert_same_as_helm(chart)
    assert any(s is Severity.WARNING and "is deprecated in v1.21+" in m for s, _, m in found)


def test_every_deprecated_api_of_the_table(tmp_path: Path) -> None:
    # One object of each (apiVersion, kind) the table knows, plus ones Helm does not flag.
    chart = hardened_copy(tmp_path)
    docs = [
        f"apiVersion: {gv}\nkind: {kind}\nmetadata:\n  name: n{i}\n"
        for i, (gv, kind) in enumerate(
            [*lint.DEPRECATED, ("apps/v1", "Deployment"), ("v1", "Pod"), ("x.io/v1", "Thing")]
        )
    ]
    (chart / "templates" / "apis.yaml").write_text("---\n".join(docs))
    found = assert_same_as_helm(chart)
    assert len({m for _, _, m in found if "is deprecated" in m}) == len(lint.DEPRECATED)


def test_template_that_is_not_valid_yaml_goes_to_helm(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "broken.yaml").write_text("a: b\n  c: [d\n")
    found = assert_same_as_helm(chart, python_decides=False)
    assert any(s is Severity.ERROR and "unable to parse YAML" in m for s, _, m in found)


def test_repeated_key_goes_to_helm(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "twice.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata: {}\ndata: {}\n"
    )
    # Python defers to Helm on a repeated key (Go's YAML readers differ on them); this Helm
    # accepts it, last one winning.
    assert assert_same_as_helm(chart, python_decides=False) == []


def test_template_with_another_extension(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "extra.json").write_text('{"kind": "ConfigMap"}\n')
    (chart / "templates" / "upper.YAML").write_text("apiVersion: v1\nkind: ConfigMap\n")
    found = assert_same_as_helm(chart)
    assert any(p == "templates/extra.json" and "file extension" in m for _, p, m in found)


def test_indented_document_and_missing_selector(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "indented.yaml").write_text(
        "\n  # indented comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"
    )
    found = _messages(assert_same_as_helm(chart))
    assert any("illegal indent" in m for _, _, m in found)
    assert (
        Severity.ERROR,
        "templates/indented.yaml",
        'a Deployment must contain matchLabels or matchExpressions, and "d" does not',
    ) in found


def test_values_failing_the_schema_go_to_helm(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "ci" / "bad-values.yaml").write_text("replicaCount: many\n")
    found = assert_same_as_helm(chart, python_decides=False)
    assert any(p == "values.yaml" and s is Severity.ERROR for s, p, _ in found)


def test_failed_required_value_goes_to_helm(tmp_path: Path) -> None:
    # Lint mode does not stop at `required`: the set Helm renders differs from the install's.
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "needs.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        '  name: {{ required "set needed" .Values.needed | quote }}\n'
    )
    assert_same_as_helm(chart, python_decides=False)


def test_declared_dependency_missing_from_charts_dir(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    patch(
        chart,
        "Chart.yaml",
        "type: application",
        "type: application\ndependencies:\n  - name: redis\n    version: 1.0.0\n"
        "    repository: https://example.com/charts",
    )
    found = assert_same_as_helm(chart)
    assert (
        Severity.WARNING,
        str(chart),
        "chart directory is missing these dependencies: redis",
    ) in (found)


def test_no_values_file_and_no_templates(tmp_path: Path) -> None:
    chart = tmp_path / "bare"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bare\nversion: 1.0.0\n")
    found = _messages(assert_same_as_helm(chart))
    assert (Severity.INFO, "values.yaml", "file does not exist") in found
    assert (Severity.WARNING, "templates/", "directory does not exist") in found


def test_list_and_json_manifests_go_to_helm(tmp_path: Path) -> None:
    chart = hardened_copy(tmp_path)
    (chart / "templates" / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
        "  metadata:\n    name: a\n    annotations:\n      helm.sh/resource-policy: keep\n"
    )
    assert_same_as_helm(chart, python_decides=False)


def test_strict_semver() -> None:
    good = ["1.2.3", "0.1.0", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc-1+x", "10.20.30"]
    bad = ["v1.2.3", "1.2", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1..3", "1.2.3-a..b", ""]
    assert all(lint._strict_semver(v) for v in good)
    assert not any(lint._strict_semver(v) for v in bad)


def test_rules_that_fall_over_leave_the_lint_to_helm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> list[helm.LintEntry]:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(lint, "_chartfile", broken)
    chart = hardened_copy(tmp_path)
    patch(chart, "Chart.yaml", "version: 0.1.0", "version: v0.1")
    found = assert_same_as_helm(chart, python_decides=False)
    assert (Severity.WARNING, "Chart.yaml", "version 'v0.1' is not a valid SemVerV2") in found
