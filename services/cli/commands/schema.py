"""`autopilot schema`: print a contract's JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

CONTRACTS = ("plan", "report", "requirements", "standards")


def schemas() -> dict[str, type[Any]]:
    """Each contract's model (imported when asked: building the parser needs only the names)."""
    from shared.models.plan import ChartPlan
    from shared.models.reports import ValidationReport
    from shared.models.requirements import ChartRequirements, Standards

    return {
        "requirements": ChartRequirements,
        "plan": ChartPlan,
        "standards": Standards,
        "report": ValidationReport,
    }


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    sch = sub.add_parser(
        "schema", help="print the JSON Schema of the native spec (or another contract)"
    )
    sch.add_argument("which", nargs="?", default="requirements", choices=CONTRACTS)
    sch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print a contract's JSON Schema."""
    model = schemas()[args.which]
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2))
    return 0
