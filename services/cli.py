"""The `autopilot` command line: generate, validate, plan, schema, up, serve, submit.

Exit codes: 0 success, 1 the chart failed validation (or a gate was rejected),
2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from shared.errors import AutopilotError
from shared.models.plan import ChartPlan
from shared.models.reports import Severity, ValidationReport
from shared.models.requirements import ChartRequirements, Standards

SCHEMAS: dict[str, type[Any]] = {
    "requirements": ChartRequirements,
    "plan": ChartPlan,
    "standards": Standards,
    "report": ValidationReport,
}


def _read(source: str) -> tuple[bytes, Path | None]:
    """Read a file, or stdin for '-'; return the bytes and the folder it came from."""
    if source == "-":
        return sys.stdin.buffer.read(), None
    path = Path(source)
    if not path.is_file():
        raise AutopilotError(f"no such file: {source}", field="INPUT")
    return path.read_bytes(), path.resolve().parent


def _standards(path: str | None) -> Standards | None:
    from services.planner.intake import parse_standards

    return None if path is None else parse_standards(Path(path).read_bytes(), source=path)


def _print_report(report: ValidationReport) -> None:
    """Human-readable findings and a one-line summary per step."""
    for result in report.results:
        mark = "ok  " if result.passed else "FAIL"
        print(
            f"  {mark} {result.step:<14} {result.seconds * 1000:7.1f} ms  {len(result.findings)} findings"
        )
    sec = report.security
    print(f"  checkov: {sec.passed} passed, {sec.failed} failed ({sec.passRate:.1%})")
    for finding in report.findings:
        if finding.severity == Severity.INFO:
            continue
        where = f" [{finding.object}]" if finding.object else ""
        hint = f" -> {finding.hint}" if finding.hint else ""
        print(
            f"  {finding.severity.value:<7} {finding.tool}:{finding.check}{where} {finding.message}{hint}"
        )


def _approve(plan: ChartPlan, assume_yes: bool) -> bool:
    """The planning-review gate on a terminal; --yes approves every gate."""
    if assume_yes:
        return True
    from services.terminal import ask

    lines = [f"Plan for {plan.name}:"]
    lines += [
        f"  {d.component or '(chart)'}: {d.topic} = {d.choice}  ({d.reason})"
        for d in plan.decisions
    ]
    lines += [f"  note [{n.severity}] {n.message}" for n in plan.notes]
    (answer,) = ask("\n".join(lines), "Approve this plan? [y/N] ")
    return answer.lower() in ("y", "yes")


def cmd_generate(args: argparse.Namespace) -> int:
    """Input -> validated chart directory (offline engine, or the agents with --model)."""
    from services.agentic import take_input
    from services.generator.engine import generate_chart
    from services.planner.engine import plan_chart
    from services.validator.engine import validate_chart
    from shared.llm import LLMSettings

    data, base_dir = _read(args.input)
    model = args.model or LLMSettings().model_for("generator")
    if model != "offline":
        return _generate_with_model(args, data, base_dir, model)
    taken = take_input(data, None, base_dir=base_dir, name=args.name)
    plan = plan_chart(taken.requirements, standards=_standards(args.standards), notes=taken.notes)
    if not _approve(plan, args.yes):
        print("plan rejected; nothing written", file=sys.stderr)
        return 1
    generated = generate_chart(plan, Path(args.output), force=args.force)
    report = validate_chart(generated.chart_dir)
    extra = {
        "inputKind": taken.kind.value,
        "written": generated.written,
        "preserved": generated.preserved,
    }
    _print_generated(args, plan, generated.chart_dir, report, extra)
    for path in generated.preserved:
        print(f"  kept your edit of {path} (new version beside it)")
    return 0 if report.passed else 1


def _generate_with_model(
    args: argparse.Namespace, data: bytes, base_dir: Path | None, model: str
) -> int:
    """The agentic path: the planning agent's plan, the engine's chart, the generation agent's edits."""
    from services.agentic import generate_with_model

    plan, chart_dir, report, diff = generate_with_model(
        data,
        Path(args.output),
        model_name=model,
        base_dir=base_dir,
        name=args.name,
        standards=_standards(args.standards),
    )
    _print_generated(args, plan, chart_dir, report, {"model": model, "agentDiff": diff})
    if not args.json and diff:
        print(
            f"  the generation agent changed the engine's chart ({diff.count(chr(10))} diff lines)"
        )
    if not _approve(plan, args.yes):
        shutil.rmtree(chart_dir, ignore_errors=True)
        print("plan rejected; chart removed", file=sys.stderr)
        return 1
    return 0 if report.passed else 1


def _print_generated(
    args: argparse.Namespace,
    plan: ChartPlan,
    chart_dir: Path,
    report: ValidationReport,
    extra: dict[str, Any],
) -> None:
    """The generate command's output, human or JSON."""
    if args.json:
        body = {
            "chart": str(chart_dir),
            **extra,
            "notes": [n.dump() for n in plan.notes],
            "report": report.model_dump(mode="json", by_alias=True),
        }
        print(json.dumps(body, indent=2))
        return
    print(f"chart written to {chart_dir}")
    for note in plan.notes:
        if note.severity != "info":
            print(f"  note [{note.severity}] {note.source}: {note.message}")
    _print_report(report)
    print("validation passed" if report.passed else "validation FAILED")


def cmd_validate(args: argparse.Namespace) -> int:
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
        _print_report(report)
        print("validation passed" if report.passed else "validation FAILED")
    return 0 if report.passed else 1


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan for an input without writing a chart."""
    from services.planner.engine import plan_chart
    from services.planner.intake import intake

    data, base_dir = _read(args.input)
    taken = intake(data, base_dir=base_dir, name=args.name)
    plan = plan_chart(taken.requirements, standards=_standards(args.standards), notes=taken.notes)
    if args.json:
        print(plan.model_dump_json(by_alias=True, indent=2, exclude_none=True))
    else:
        print(yaml.safe_dump(plan.dump(), sort_keys=False), end="")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print a contract's JSON Schema."""
    model = SCHEMAS[args.which]
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Embedded servers and the four services, until Ctrl-C."""
    import asyncio
    import logging

    from services.launcher import run_up
    from shared.config import default_data_dir

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    return asyncio.run(run_up(data_dir.resolve(), args.port))


def cmd_serve(args: argparse.Namespace) -> int:
    """One service in the foreground, for containers and scaling."""
    import importlib

    module = importlib.import_module(f"services.{args.service}.main")
    module.main()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade every Postgres table once (a pre-install Job, not every replica)."""
    import asyncio

    from services.migrate import migrate

    # Only the database matters here: no NATS URL or AES key is needed to create tables.
    database_url = os.environ.get("AUTOPILOT_DATABASE_URL")
    if not database_url:
        raise AutopilotError("AUTOPILOT_DATABASE_URL is not set", field="AUTOPILOT_DATABASE_URL")
    for line in asyncio.run(migrate(database_url)):
        print(line)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Send an input through a running gateway and download the chart."""
    from services.submit import main_submit

    return main_submit(args.input, args.gateway, args.output, args.yes, args.name)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="autopilot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate", help="requirements spec or Compose file -> validated Helm chart"
    )
    gen.add_argument("input", help="spec or compose file; '-' reads stdin")
    gen.add_argument("-o", "--output", required=True, help="directory to write the chart under")
    gen.add_argument("--yes", action="store_true", help="approve every human gate")
    gen.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    gen.add_argument("--standards", help="organisation standards file (YAML)")
    gen.add_argument("--name", help="chart name for a Compose file (default: its folder)")
    gen.add_argument("--force", action="store_true", help="overwrite files you edited")
    gen.add_argument(
        "--model",
        help="'offline' (default, or AUTOPILOT_MODEL) or provider:model, e.g. openai:gpt-4.1",
    )
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser("validate", help="validate a chart directory")
    val.add_argument("chart")
    val.add_argument("--json", action="store_true")
    val.set_defaults(func=cmd_validate)

    pln = sub.add_parser("plan", help="print the chart plan with every decision and its reason")
    pln.add_argument("input")
    pln.add_argument("--standards")
    pln.add_argument("--name")
    pln.add_argument("--json", action="store_true")
    pln.set_defaults(func=cmd_plan)

    sch = sub.add_parser(
        "schema", help="print the JSON Schema of the native spec (or another contract)"
    )
    sch.add_argument("which", nargs="?", default="requirements", choices=sorted(SCHEMAS))
    sch.set_defaults(func=cmd_schema)

    up = sub.add_parser("up", help="run the whole system locally (embedded NATS and PostgreSQL)")
    up.add_argument("--port", type=int, help="gateway port (default: a free one)")
    up.add_argument("--data-dir", help="where embedded servers, pids and logs live")
    up.set_defaults(func=cmd_up)

    srv = sub.add_parser("serve", help="run one service in the foreground")
    srv.add_argument("service", choices=["planner", "generator", "validator", "gateway"])
    srv.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="create the Postgres tables (run once per release)")
    mig.set_defaults(func=cmd_migrate)

    smt = sub.add_parser("submit", help="send an input through a running gateway")
    smt.add_argument("input", help="spec or compose file; '-' reads stdin")
    smt.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway URL")
    smt.add_argument("-o", "--output", required=True, help="directory to unpack the chart under")
    smt.add_argument("--yes", action="store_true", help="approve every human gate")
    smt.add_argument("--name", help="chart name for a Compose file")
    smt.set_defaults(func=cmd_submit)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autopilot` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AutopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
