"""The validator's speed work keeps results: no second render for lint, no schema call per set,
and a memo of whole reports that only byte-identical content with the same arguments hits."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.validator import engine, helm, security
from services.validator.engine import validate_chart
from shared.models.reports import ValidationReport

HARDENED = Path(__file__).resolve().parents[2] / "fixtures" / "charts" / "hardened"


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """A scratch copy of the hardened chart, with no report of its content stored yet."""
    dest = tmp_path / "hardened"
    shutil.copytree(HARDENED, dest)
    engine._MEMO.clear()
    return dest


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every chart directory Helm loads from now on (one per validation that ran)."""
    seen: list[str] = []
    real = helm_python.Chart.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[helm_python.Chart], path: Any) -> helm_python.Chart:
        seen.append(str(path))
        return real(cls, path)  # type: ignore[no-any-return]

    monkeypatch.setattr(helm_python.Chart, "load", classmethod(load))
    return seen


def _dump(report: ValidationReport) -> dict[str, Any]:
    """A report without its timings."""
    data = report.model_dump()
    for result in data["results"]:
        result.pop("seconds")
    return data


def test_a_passing_chart_needs_neither_helm_lint_nor_a_schema_call(
    chart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    lint, validate_schema = helm_python.lint, helm_python.Chart.validate_schema

    def counted_lint(*args: Any, **kwargs: Any) -> Any:
        calls.append("lint")
        return lint(*args, **kwargs)

    def counted_schema(self: helm_python.Chart, values: Any = None) -> None:
        calls.append("validate_schema")
        validate_schema(self, values)

    monkeypatch.setattr(helm_python, "lint", counted_lint)
    monkeypatch.setattr(helm_python.Chart, "validate_schema", counted_schema)
    report = validate_chart(chart)
    assert report.passed
    assert calls == []


def test_schema_failure_is_read_from_the_render(chart: Path) -> None:
    (chart / "ci" / "bad-values.yaml").write_text("replicaCount: many\n")
    report = validate_chart(chart)
    step = next(r for r in report.results if r.step == "values-schema")
    assert not step.passed
    [finding] = step.findings
    assert finding.object == "ci/bad-values.yaml"
    assert finding.message.startswith("ci/bad-values.yaml violates values.schema.json: ")
    with helm_python.Chart.load(chart) as loaded:
        with pytest.raises(helm_python.HelmError) as raised:
            loaded.validate_schema(loaded.merge_values({"replicaCount": "many"}))
    assert finding.message.endswith(str(raised.value))  # what the old separate call said


def test_same_content_and_arguments_return_the_stored_report(chart: Path, loads: list[str]) -> None:
    first = validate_chart(chart)
    again = validate_chart(chart)
    assert len(loads) == 1
    assert again == first and again is not first
    again.results.clear()  # a caller's change does not reach the stored report
    assert validate_chart(chart) == first


def test_a_one_byte_change_misses(chart: Path, loads: list[str]) -> None:
    validate_chart(chart)
    values = chart / "values.yaml"
    values.write_bytes(values.read_bytes() + b" ")
    validate_chart(chart)
    (chart / "templates" / "NOTES.txt").write_bytes(
        b"x" + (chart / "templates" / "NOTES.txt").read_bytes()[1:]
    )
    validate_chart(chart)
    (chart / "ci" / "extra-values.yaml").write_text("{}\n")
    validate_chart(chart)
    assert len(loads) == 4


def test_other_arguments_miss(chart: Path, loads: list[str]) -> None:
    validate_chart(chart)
    validate_chart(chart, namespace="elsewhere")
    validate_chart(chart, release="mine")
    validate_chart(chart, kube_versions=["1.30"])
    assert len(loads) == 4


def test_patched_settings_miss(
    chart: Path, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    validate_chart(chart)
    monkeypatch.setattr(security, "ACCEPTABLE_CRITICAL", {})
    validate_chart(chart)
    assert len(loads) == 2


def test_the_same_content_elsewhere_hits_unless_the_report_names_its_folder(
    chart: Path, tmp_path: Path, loads: list[str]
) -> None:
    report = validate_chart(chart)
    copy = tmp_path / "draft" / "hardened"
    shutil.copytree(chart, copy)
    assert _dump(validate_chart(copy)) == _dump(report)
    assert len(loads) == 1
    # A declared dependency missing from charts/: lint names the chart's folder.
    for folder in (chart, copy):
        text = (folder / "Chart.yaml").read_text()
        (folder / "Chart.yaml").write_text(
            text + "dependencies:\n  - name: redis\n    version: 1.0.0\n"
            "    repository: https://example.com/charts\n"
        )
    named = validate_chart(chart)
    assert any(str(chart) in f.object for f in named.findings)
    elsewhere = validate_chart(copy)
    assert any(str(copy) in f.object for f in elsewhere.findings)
    assert len(loads) == 3


def test_the_memo_is_bounded() -> None:
    memo = engine._Memo(2)
    here = Path("x")
    reports = [ValidationReport(chart=f"c{i}", passed=True) for i in range(3)]
    for i, report in enumerate(reports):
        memo.put(f"k{i}", here, report)
    assert memo.get("k0", here) is None
    assert memo.get("k1", here) == reports[1]
    assert memo.get("k2", here) == reports[2]


def test_a_remembered_parse_equals_a_fresh_one_and_is_a_copy_each_time() -> None:
    helm.clear_caches()
    text = "a: 1\nb: [x, {c: 2}]\n---\n---\nkind: Pod\nkind: Job\n"
    fresh = helm.parse_documents(text)
    first = helm.parse_rendered(text)
    again = helm.parse_rendered(text)
    assert first == again == fresh
    assert again[1] is True  # the repeated key is remembered with the documents
    assert helm._parsed.hits == 1
    again[0][0]["b"][1]["c"] = 3  # a caller changing its copy changes no later answer
    assert helm.parse_rendered(text)[0][0]["b"][1]["c"] == 2
    assert helm.parse_rendered(text + " ")[0] == fresh[0]  # other text is parsed anew
    assert helm._parsed.misses == 2


def test_text_that_does_not_parse_raises_every_time() -> None:
    helm.clear_caches()
    for _ in range(2):
        with pytest.raises(yaml.YAMLError):
            helm.parse_rendered("a: b: c\n")
    assert helm._parsed.hits == 0


def test_clear_caches_forgets_parses() -> None:
    helm.parse_rendered("x: 1\n")
    engine.clear_caches()
    assert helm._parsed.items == {}
