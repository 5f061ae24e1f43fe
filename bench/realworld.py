"""Real-world Compose stacks (tests/fixtures/realworld): do their charts run?

For each stack, beside the project's own `.env`: calls found between components and how
many resolve under release `rel` (the validator's runs check), one-shots that became Jobs,
shared claims, checkov's pass rate, whether validation passed, and the time to import, plan
and generate (median of N runs, after one warm-up), then the totals.

    .venv/bin/python bench/realworld.py [--runs 3] [STACK ...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.generator.engine import generate_chart  # noqa: E402
from services.planner.engine import plan_chart  # noqa: E402
from services.validator.engine import validate_chart  # noqa: E402
from shared.models.reports import Severity  # noqa: E402
from tests.e2e.test_realworld import FILES, import_stack  # noqa: E402


def main() -> None:
    """Print one row per stack and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("stacks", nargs="*")
    args = parser.parse_args()
    files = [f for f in FILES if not args.stacks or f.parent.name in args.stacks]
    head = f"{'stack':32} {'svc':>4} {'calls':>5} {'ok':>5} {'jobs':>4} {'shared':>6} {'checkov':>8} {'valid':>5} {'gen ms':>8}"
    print(head)
    print("-" * len(head))
    totals = [0, 0, 0, 0, 0, 0]
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            times = []
            for i in range(args.runs + 1):
                start = time.perf_counter()
                result = import_stack(path)
                plan = plan_chart(result.requirements, notes=result.notes)
                chart = generate_chart(
                    plan, Path(tmp) / f"{path.parent.name}", force=True
                ).chart_dir
                if i:  # the first run warms imports and caches
                    times.append(time.perf_counter() - start)
            report = validate_chart(chart)
            prefix = f"rel-{plan.name}-"
            broken = {
                (f.object.split("/", 1)[-1].removeprefix(prefix), m.group(1))
                for r in report.results
                for f in r.findings
                if f.check == "runs"
                and f.severity == Severity.ERROR
                and (m := re.search(r" env (\S+) calls", f.message))
            }
            calls = len(plan.references)
            resolved = sum(1 for c in plan.references if (c.caller, c.variable) not in broken)
            jobs = sum(1 for c in plan.components if c.kind.value == "Job" and c.spec.enabled)
            shared = len({v.name for c in plan.components for v in c.spec.volumes if v.sharedClaim})
            row = [len(plan.components), calls, resolved, jobs, shared, int(report.passed)]
            totals = [a + b for a, b in zip(totals, row, strict=True)]
            print(
                f"{path.parent.name:32} {row[0]:>4} {calls:>5} {row[2]:>5} {jobs:>4} {shared:>6} "
                f"{report.security.passRate * 100:>7.1f}% {'yes' if report.passed else 'NO':>5} "
                f"{statistics.median(times) * 1000:>8.0f}"
            )
    print("-" * len(head))
    print(
        f"{'total (' + str(len(files)) + ' stacks)':32} {totals[0]:>4} {totals[1]:>5} {totals[2]:>5} "
        f"{totals[3]:>4} {totals[4]:>6} {'':>8} {totals[5]:>5}"
    )
    print(
        "calls: (caller, variable, callee, port) found; ok: of those, resolved under release 'rel'"
    )


if __name__ == "__main__":
    main()
