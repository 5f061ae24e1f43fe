"""`autopilot schema`: print a contract's JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport
from shared.models.requirements import ChartRequirements, Standards

SCHEMAS: dict[str, type[Any]] = {
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
    sch.add_argument("which", nargs="?", default="requirements", choices=sorted(SCHEMAS))
    sch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print a contract's JSON Schema."""
    model = SCHEMAS[args.which]
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2))
    return 0
