"""Time to plan, generate and validate each example chart (median of N runs), and where it goes.

Prints one row per example: total median ms, then the share of validation time spent in
Helm (lint + render + values schema), upstream-schema validation, checkov, and our own
checks, plus the checkov pass rate. Import and first-call warm-up are excluded (one
untimed run per example first), because a service pays them once.

    .venv/bin/python bench/generate.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import helm_python  # noqa: E402

from services.generator.engine import generate_chart  # noqa: E402
from services.planner.engine import plan_chart  # noqa: E402
from services.planner.intake import intake  # noqa: E402
from services.validator.engine import validate_chart  # noqa: E402

HELM_STEPS = {"lint", "render", "values-schema"}


def run_once(source: Path, out: Path) -> tuple[float, dict[str, float], float]:
    """One full pass; returns total seconds, validation seconds per step, checkov rate."""
    start = time.perf_counter()
    taken = intake(source.read_bytes(), base_dir=source.parent, name=source.stem)
    plan = plan_chart(taken.requirements, notes=taken.notes)
    chart = generate_chart(plan, out, force=True).chart_dir
    report = validate_chart(chart)
    total = time.perf_counter() - start
    steps = {r.step: r.seconds for r in report.results}
    return total, steps, report.security.passRate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sources = sorted((ROOT / "examples").glob("*.yaml"))
    sources += sorted((ROOT / "examples" / "compose").glob("*.yaml"))
    print(
        f"{'example':<34} {'median ms':>9} {'helm':>6} {'schema':>6} {'checkov':>7} {'checks':>6} {'other':>6} {'pass%':>6}"
    )
    totals: list[float] = []
    for source in sources:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            run_once(source, out)  # warm-up: imports, schema compilation
            runs = [run_once(source, out) for _ in range(args.runs)]
        median = statistics.median(r[0] for r in runs)
        totals.append(median)
        steps: dict[str, float] = {}
        for _, per_step, _ in runs:
            for step, sec in per_step.items():
                steps[step] = steps.get(step, 0.0) + sec / len(runs)
        helm = sum(v for k, v in steps.items() if k in HELM_STEPS)
        schema = steps.get("schema", 0.0)
        checkov = steps.get("checkov", 0.0)
        checks = steps.get("checks", 0.0)
        mean_total = statistics.mean(r[0] for r in runs)
        other = max(0.0, mean_total - helm - schema - checkov - checks)

        def share(x: float, total: float = mean_total) -> str:
            return f"{x / total:6.1%}"

        print(
            f"{source.stem:<34} {median * 1000:9.1f} {share(helm)} {share(schema)} "
            f"{share(checkov)}  {share(checks)} {share(other)} {runs[0][2]:6.1%}"
        )
    print(f"{'median over examples':<34} {statistics.median(totals) * 1000:9.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        helm_python.Chart.create("scaffold", tmp).close()
        anchor = validate_chart(Path(tmp) / "scaffold", namespace="apps").security
    print(
        f"anchor: `helm create` scaffold checkov pass rate {anchor.passRate:.1%} ({anchor.passed}/{anchor.passed + anchor.failed})"
    )


if __name__ == "__main__":
    main()
