"""`autopilot validate`: validate an existing chart directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.cli.common import print_report
from shared.errors import AutopilotError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    val = sub.add_parser("validate", help="validate a chart directory")
    val.add_argument("chart")
    val.add_argument("--json", action="store_true")
    val.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate an existing chart directory."""
    from services.validator.engine import validate_chart

    chart = Path(args.chart)
    if not (chart / "Chart.yaml").is_file():
        raise AutopilotError(f"{chart} is not a chart directory (no Chart.yaml)", field="CHART")
    report = validate_chart(chart)
    if args.json:
        print(report.model_dump_json(by_alias=True, indent=2))
    else:
        print(f"validated {chart}")
        print_report(report)
        print("validation passed" if report.passed else "validation FAILED")
    return 0 if report.passed else 1
