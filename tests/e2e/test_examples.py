"""Done-means for the chart engine: every example in, a chart that passes every check out.

Runs the real CLI entry point over every native spec in examples/ and every Compose file
in examples/compose (real-world files), then re-checks the written chart independently of the
validator's verdict: strict lint with no warnings, renders with every ci values file,
zero schema errors, checkov pass rate at least 95%.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from services.validator.engine import validate_chart

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "examples").glob("*.yaml"))
COMPOSE_DIR = ROOT / "examples" / "compose"
COMPOSE = sorted(COMPOSE_DIR.glob("*.yaml"))
INPUTS = SPECS + COMPOSE

pytestmark = pytest.mark.slow


def test_inputs_found() -> None:
    assert len(SPECS) >= 3
    assert len(COMPOSE) >= 11, f"expected the shared compose examples in {COMPOSE_DIR}"


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.stem)
def test_generate_passes_every_check(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["generate", str(source), "-o", str(tmp_path), "--yes", "--json", "--name", source.stem]
    )
    out = json.loads(capsys.readouterr().out)
    failing = [f for f in out["report"]["results"] if not f["passed"]]
    assert code == 0, json.dumps(failing, indent=1)[:4000]
    charts = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(charts) == 1 and Path(out["chart"]) == charts[0]

    report = validate_chart(charts[0])
    by_step = {r.step: r for r in report.results}
    lint = by_step["lint"].findings
    assert not [f for f in lint if f.severity.value in ("error", "warning")], lint
    assert by_step["render"].passed
    assert not [f for f in by_step["schema"].findings if f.severity.value == "error"]
    assert report.kubeVersions and len(report.kubeVersions) == 2
    ci_files = list((charts[0] / "ci").glob("*-values.yaml"))
    assert ci_files, "every chart ships ci values files"
    assert report.security.passRate >= 0.95, report.security.failedChecks
