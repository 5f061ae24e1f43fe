"""Every example and real-world Compose file through the generator and Helm: the rendered
objects, values.yaml, values.schema.json and README's parameter tables of each chart.

The tests check what must hold for every chart (strict lint is clean, every values set renders
to objects, templates are real Helm named templates with no text slots left). Run as a script,
the module snapshots the same outputs to a file and compares a later run against it, which is
how a change to the templates proves the charts mean what they meant before:

    .venv/bin/python tests/unit/generator/test_generator_golden.py write /tmp/golden.json
    ... change the generator ...
    .venv/bin/python tests/unit/generator/test_generator_golden.py compare /tmp/golden.json
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.generator.engine import generate_chart  # noqa: E402
from services.planner.engine import plan_chart  # noqa: E402
from services.planner.intake import intake  # noqa: E402
from services.validator.helm import with_placeholders  # noqa: E402
from shared.libyaml import SafeLoader  # noqa: E402
from shared.models.plan import ChartPlan  # noqa: E402
from tests.e2e.test_realworld import FILES as REALWORLD  # noqa: E402
from tests.e2e.test_realworld import import_stack  # noqa: E402

RELEASE = "rel"
NAMESPACE = "apps"

pytestmark = pytest.mark.slow


def sources() -> list[Path]:
    """Every input: the examples (specs and Compose), then the real-world Compose files."""
    found = sorted((ROOT / "examples").glob("*.yaml"))
    found += sorted((ROOT / "examples" / "compose").glob("*.yaml"))
    return found + list(REALWORLD)


def label(source: Path) -> str:
    """A stable name for an input, relative to the repository when it is inside it."""
    return str(source.relative_to(ROOT)) if source.is_relative_to(ROOT) else str(source)


@cache
def plan_for(source: Path) -> ChartPlan:
    """The plan of one input, imported the way the CLI imports it."""
    if source.is_relative_to(ROOT / "tests" / "fixtures" / "realworld"):
        result = import_stack(source)
        return plan_chart(result.requirements, notes=result.notes)
    taken = intake(source.read_bytes(), base_dir=source.parent, name=source.stem)
    return plan_chart(taken.requirements, notes=taken.notes)


def values_sets(chart: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """The default values (with placeholders for required secrets) and every ci file."""
    yield "values.yaml", with_placeholders(chart, None)
    for path in sorted((chart / "ci").glob("*-values.yaml")):
        yield f"ci/{path.name}", with_placeholders(chart, yaml.safe_load(path.read_text()) or {})


def _mask_random(obj: dict[str, Any], generated: set[str]) -> dict[str, Any]:
    """A Secret's generated keys hold fresh random text on every render: mask them."""
    if obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict):
        obj["data"] = {k: "<random>" if k in generated else v for k, v in obj["data"].items()}
    return obj


def renders(chart: Path) -> dict[str, dict[str, Any]]:
    """Each values set's render: objects by template (parsed, so layout does not count) and
    NOTES.txt's non-empty lines."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    generated = set((defaults.get("secrets") or {}).get("generate") or [])
    with helm_python.Chart.load(str(chart)) as loaded:
        return {
            name: _parse(
                loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True), generated
            )
            for name, values in values_sets(chart)
        }


def _parse(files: dict[str, str], generated: set[str]) -> dict[str, Any]:
    """Rendered files as objects (NOTES.txt as its lines)."""
    out: dict[str, Any] = {}
    for template, text in sorted(files.items()):
        if template.endswith("NOTES.txt"):
            out[template] = [line.rstrip() for line in text.strip("\n").split("\n") if line.strip()]
            continue
        docs = [
            _mask_random(d, generated)
            for d in yaml.load_all(text, Loader=SafeLoader)
            if d is not None
        ]
        if docs:
            out[template] = docs
    return out


def chart_outputs(chart: Path) -> dict[str, Any]:
    """What a chart means: its values, schema, parameter tables and every render."""
    return {
        "values": yaml.safe_load((chart / "values.yaml").read_text()),
        "schema": json.loads((chart / "values.schema.json").read_text()),
        "readme": (chart / "README.md").read_text(),
        "chart": yaml.safe_load((chart / "Chart.yaml").read_text()),
        "renders": renders(chart),
    }


def snapshot(out: Path) -> dict[str, Any]:
    """Outputs of every input's chart, generated under `out`."""
    data: dict[str, Any] = {}
    for i, source in enumerate(sources()):
        plan = plan_for(source)
        chart = generate_chart(plan, out / str(i), force=True).chart_dir
        data[label(source)] = chart_outputs(chart)
    return data


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    """Paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'after' if key not in a else 'before'}")
            else:
                _diff(a[key], b[key], f"{path}/{key}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(
            f"{path}: {json.dumps(a, default=str)[:200]} != {json.dumps(b, default=str)[:200]}"
        )


def main(argv: list[str]) -> int:
    """`write <file>` a snapshot, or `compare <file>` against one; prints the counts."""
    mode, file = argv[0], Path(argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = json.loads(json.dumps(snapshot(Path(tmp)), default=str))
    renders = sum(len(chart["renders"]) for chart in data.values())
    if mode == "write":
        file.write_text(json.dumps(data, sort_keys=True))
        print(f"wrote {len(data)} charts, {renders} renders to {file}")
        return 0
    before = json.loads(file.read_text())
    differences: list[str] = []
    _diff(before, data, "", differences)
    for line in differences[:50]:
        print(line)
    print(f"{len(data)} charts, {renders} renders, {len(differences)} differences")
    return 1 if differences else 0


# --- tests ----------------------------------------------------------------------------------

SLOT = re.compile(r"@@[A-Z_]+@@")


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every input's chart, generated once."""
    out = tmp_path_factory.mktemp("golden")
    unique = {source.read_bytes(): source for source in reversed(sources())}  # copies once
    return [
        generate_chart(plan_for(source), out / str(i), force=True).chart_dir
        for i, source in enumerate(sorted(unique.values(), key=sources().index))
    ]


def test_every_chart_renders_every_values_set_to_objects(charts: list[Path]) -> None:
    for chart in charts:
        for name, rendered in renders(chart).items():
            objects = [
                o for key, docs in rendered.items() if not key.endswith("NOTES.txt") for o in docs
            ]
            assert objects, (chart.name, name)
            for obj in objects:
                assert obj.get("kind") and obj["metadata"].get("name"), (chart.name, name, obj)
                assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def test_no_rendered_line_is_blanks_only(charts: list[Path]) -> None:
    """An optional block that is off leaves no line of spaces behind (what a reader of `helm
    template` would see), with every values set and with pull secrets set."""
    pull = {"global": {"imagePullSecrets": ["regcred"]}}
    for chart in charts:
        sets = [*values_sets(chart), ("pull secrets", with_placeholders(chart, pull))]
        with helm_python.Chart.load(str(chart)) as loaded:
            for name, values in sets:
                files = loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
                for template, text in files.items():
                    blank = [i + 1 for i, line in enumerate(text.split("\n")) if line.isspace()]
                    assert not blank, (chart.name, name, template, blank)


INCLUDE = re.compile(
    r'\{\{- include "[a-z0-9-]+\.[A-Za-z.]+" (\$|\(dict "ctx" \$[^\n{}]*\)) \}\}\n'
)


def test_strict_lint_is_clean(charts: list[Path]) -> None:
    """With the defaults (the validator lints every ci file too, for the charts it checks)."""
    for chart in charts:
        values = with_placeholders(chart, None)
        report = helm_python.lint(str(chart), values, strict=True, namespace=NAMESPACE)
        assert not report.get("messages") and not report.get("errors"), (chart, report)


def test_templates_are_helm_with_no_text_slots(charts: list[Path]) -> None:
    """Template text lives in named templates; every other file only calls them."""
    for chart in charts:
        for path in (chart / "templates").rglob("*"):
            text = path.read_text() if path.is_file() else ""
            assert not SLOT.search(text), path
            if path.is_file() and not path.name.startswith("_"):
                assert INCLUDE.fullmatch(text) or path.name == "NOTES.txt", path
                assert all(INCLUDE.fullmatch(line + "\n") for line in text.splitlines()), path


def test_generation_is_stable(tmp_path: Path, charts: list[Path]) -> None:
    """Generating the same plan twice gives the same outputs (what `compare` relies on)."""
    source = sources()[0]
    again = generate_chart(plan_for(source), tmp_path, force=True).chart_dir
    assert chart_outputs(again) == chart_outputs(charts[0])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
