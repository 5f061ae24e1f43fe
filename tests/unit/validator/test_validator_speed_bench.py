"""Issue 12's validator measurement: validate_chart on the shop example in a warm process.

Each run validates the chart with Chart.yaml differing by one value (an annotation), so the
report memo cannot hit. Run as a script to compare with an older engine.py, loaded beside
the current one and run in turn with it (pairs alternate which goes first):

    .venv/bin/python tests/unit/validator/test_validator_speed_bench.py --runs 11 --against 48ca3e0

prints the median wall and process CPU time (Helm's Go threads included) of each, the median
of the pairwise ratios, each step's median seconds and whether the last pair's findings agree.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from services.generator.engine import generate_chart  # noqa: E402
from services.planner.engine import plan_chart  # noqa: E402
from services.planner.intake import intake  # noqa: E402
from services.validator import engine  # noqa: E402
from shared.models.reports import ValidationReport  # noqa: E402

SHOP = ROOT / "examples" / "shop.yaml"


@contextmanager
def shop_chart() -> Iterator[Path]:
    """The shop example generated into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        taken = intake(SHOP.read_bytes(), base_dir=SHOP.parent, name=SHOP.stem)
        plan = plan_chart(taken.requirements, notes=taken.notes)
        yield generate_chart(plan, Path(tmp), force=True).chart_dir


class Runner:
    """Validates the chart, changing one Chart.yaml value before each run."""

    def __init__(self, chart: Path) -> None:
        self.chart = chart
        self.text = (chart / "Chart.yaml").read_text()
        self.count = 0

    def __call__(self, module: ModuleType) -> tuple[float, float, ValidationReport]:
        """Wall seconds, process CPU seconds and the report of one validation."""
        self.count += 1
        changed = re.sub(r'plan-hash: "\w+"', f'plan-hash: "run{self.count}"', self.text)
        (self.chart / "Chart.yaml").write_text(changed)
        wall, cpu = time.perf_counter(), time.process_time()
        report: ValidationReport = module.validate_chart(self.chart)
        return time.perf_counter() - wall, time.process_time() - cpu, report


def _older_engine(commit: str) -> ModuleType:
    """services/validator/engine.py as of commit, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:services/validator/engine.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"engine_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _findings(report: ValidationReport) -> list[Any]:
    """A report's results without timings."""
    return [
        (r.step, r.passed, [(f.severity, f.check, f.object, f.message) for f in r.findings])
        for r in report.results
    ]


def main() -> None:
    """Print the medians (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--against", help="a commit whose engine.py to compare with")
    args = parser.parse_args()
    modules = {"now": engine}
    if args.against:
        modules = {args.against: _older_engine(args.against), "now": engine}
    with shop_chart() as chart:
        run = Runner(chart)
        for module in modules.values():
            run(module)  # warm: imports, checkov's set-up, compiled schemas
        results: dict[str, list[tuple[float, float, ValidationReport]]] = {m: [] for m in modules}
        for i in range(args.runs):
            order = list(modules) if i % 2 == 0 else list(reversed(modules))
            for name in order:
                results[name].append(run(modules[name]))
        for name, done in results.items():
            walls, cpus = [d[0] for d in done], [d[1] for d in done]
            print(
                f"{name}: wall median {statistics.median(walls) * 1000:.0f} ms, "
                f"process CPU median {statistics.median(cpus) * 1000:.0f} ms "
                f"(runs: {[round(w * 1000) for w in walls]})"
            )
            steps = {
                r.step: round(statistics.median(_seconds(d[2], r.step) for d in done) * 1000)
                for r in done[0][2].results
            }
            print(f"  step seconds, median (ms): {steps}")
        if args.against:
            old, new = results[args.against], results["now"]
            wall_ratio = statistics.median(o[0] / n[0] for o, n in zip(old, new, strict=True))
            cpu_ratio = statistics.median(o[1] / n[1] for o, n in zip(old, new, strict=True))
            print(f"{args.against}/now: wall ratio {wall_ratio:.2f}, CPU ratio {cpu_ratio:.2f}")
            print("same findings (last pair):", _findings(old[-1][2]) == _findings(new[-1][2]))
        start = time.perf_counter()
        engine.validate_chart(chart)
        print(f"the same content again (memo): {(time.perf_counter() - start) * 1000:.1f} ms")


def _seconds(report: ValidationReport, step: str) -> float:
    """One step's seconds."""
    return next(r.seconds for r in report.results if r.step == step)


@pytest.mark.slow
def test_shop_validations_pass_and_a_repeat_is_served_from_the_memo() -> None:
    with shop_chart() as chart:
        run = Runner(chart)
        runs = [run(engine) for _ in range(2)]
        assert all(report.passed for _, _, report in runs)
        start = time.perf_counter()
        again = engine.validate_chart(chart)
        assert time.perf_counter() - start < min(wall for wall, _, _ in runs)
        assert _findings(again) == _findings(runs[-1][2])


if __name__ == "__main__":
    main()
