"""`autopilot generate`: input -> validated chart directory (offline engine, or agents)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the verb imports its engines when it runs, not when the parser is built
    from shared.models.plan import ChartPlan
    from shared.models.reports import ValidationReport


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    gen = sub.add_parser(
        "generate", help="requirements spec or Compose file -> validated Helm chart"
    )
    gen.add_argument("input", help="spec or compose file; '-' reads stdin")
    gen.add_argument("-o", "--output", required=True, help="directory to write the chart under")
    gen.add_argument("--yes", action="store_true", help="approve every human gate")
    gen.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    gen.add_argument(
        "-q", "--quiet", action="store_true", help="no changes section, no step progress"
    )
    gen.add_argument("--standards", help="organisation standards file (YAML)")
    gen.add_argument(
        "--name",
        help="chart name (default: the spec's name; for a Compose file its `name:`, else from "
        "the file name: compose.yaml in folder shop -> shop, compose.prod.yaml -> shop-prod)",
    )
    gen.add_argument(
        "--force",
        action="store_true",
        help="overwrite files you edited, and a different chart of the same name in -o",
    )
    gen.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME",
        help="activate a Compose profile (repeatable; '*' for all); overrides COMPOSE_PROFILES",
    )
    gen.add_argument(
        "--model",
        help="'offline' (default, or AUTOPILOT_MODEL) or provider:model, e.g. openai:gpt-4.1",
    )
    gen.add_argument(
        "--daemon",
        action="store_true",
        help="with --yes: run in a warm per-user daemon, started on first use "
        "(or AUTOPILOT_DAEMON=1; see `autopilot daemon`)",
    )
    gen.set_defaults(func=run)


def profile_environ(profiles: list[str]) -> dict[str, str]:
    """The user's environment, with COMPOSE_PROFILES set from --profile flags when given."""
    from services.cli.environment import shell_environment

    environ = shell_environment()
    if profiles:
        environ["COMPOSE_PROFILES"] = ",".join(profiles)
    return environ


def _approve(plan: ChartPlan, assume_yes: bool) -> ChartPlan | None:
    """The planning-review gate on the terminal: the plan to generate, or None if rejected."""
    if assume_yes:
        return plan
    from services.cli.review import plan_yaml, review
    from services.cli.summaries import plan_summary

    answer = review(
        "planning_review",
        lambda p, colour: plan_summary(p or plan, colour=colour),
        lambda p: plan_yaml(p or plan),
        plan=plan,
    )
    if answer.decision == "reject":
        return None
    return answer.plan or plan


def run(args: argparse.Namespace) -> int:
    """Input -> validated chart directory (offline engine, or the agents with --model)."""
    code = _via_daemon(args)
    if code is not None:
        return code
    import tempfile

    from services.cli.agentic import take_input
    from services.cli.common import compose_chart_name, read_input, read_override, read_standards
    from services.cli.progress import Progress
    from services.generator.engine import generate_chart
    from services.planner.engine import plan_chart
    from services.validator.engine import validate_chart
    from shared.events import Swarm
    from shared.llm import LLMSettings

    data, base_dir = read_input(args.input)
    overrides, override_names = read_override(args.input, quiet=args.quiet)
    args.name = args.name or compose_chart_name(args.input, data)
    model = args.model or LLMSettings().model_for(Swarm.GENERATION)
    if model != "offline":
        return _generate_with_model(args, data, base_dir, model, (overrides, override_names))
    progress = Progress(quiet=args.quiet or args.json)
    with progress.step("planning"):
        taken = take_input(
            data,
            None,
            base_dir=base_dir,
            name=args.name,
            environ=profile_environ(args.profile),
            overrides=overrides,
            override_names=override_names,
        )
        plan = plan_chart(
            taken.requirements, standards=read_standards(args.standards), notes=taken.notes
        )
    approved = _approve(plan, args.yes)
    if approved is None:
        print("plan rejected; nothing written", file=sys.stderr)
        return 1
    plan = approved
    if not args.yes:
        # A person decides at security_review and deployment_approval before -o is touched.
        with tempfile.TemporaryDirectory(prefix="autopilot-review-") as tmp:
            with progress.step("generating the chart"):
                draft = generate_chart(plan, Path(tmp), force=True).chart_dir
            with progress.step("validating (lint, render, schema, checkov)"):
                report = validate_chart(draft)
            gate = _review_chart(plan, report, draft, Path(args.output) / plan.name)
            if gate is not None:
                print(f"{gate} rejected; nothing written", file=sys.stderr)
                return 1
    with progress.step("generating the chart"):
        source = None if args.input == "-" else str(Path(args.input).resolve())
        generated = generate_chart(plan, Path(args.output), force=args.force, source=source)
    with progress.step("validating (lint, render, schema, checkov)"):
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


def _via_daemon(args: argparse.Namespace) -> int | None:
    """The run handed to a warm daemon (--daemon or AUTOPILOT_DAEMON=1, with --yes and no
    model): its exit code, or None to run here (no daemon yet, one is being started; or
    not asked for, not applicable, or it failed). Imports no pydantic, engines, models or
    YAML: the environment is read through services/cli/environment.py."""
    from services.cli import daemon

    argv = getattr(args, "cli_argv", None)
    if daemon.IN_DAEMON or not args.yes or args.model or argv is None:
        return None
    from services.cli.environment import daemon_places, shell_environment

    enabled, socket_dir, log = daemon_places()
    if not (args.daemon or enabled):
        return None
    environ = shell_environment()
    if environ.get("AUTOPILOT_MODEL", "offline") not in ("", "offline"):
        return None  # the agents' path: not what the daemon is for
    stdin = None
    if args.input == "-":
        stdin = sys.stdin.buffer.read()
    code = daemon.run_remote(socket_dir, log, argv, environ, stdin)
    if code is None and stdin is not None:
        import io

        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    return code


def _review_chart(
    plan: ChartPlan, report: ValidationReport, draft: Path, previous: Path
) -> str | None:
    """security_review then deployment_approval on the terminal; the rejected gate or None."""
    from services.cli.review import review
    from services.cli.summaries import deployment_summary, plan_exceptions, security_summary
    from services.validator.diff import install_target, manifest_diff, rendered_manifests
    from shared.models.reports import Severity

    others = [
        f
        for r in report.results
        if r.step != "checkov"
        for f in r.findings
        if f.severity in (Severity.ERROR, Severity.WARNING)
    ]
    exceptions = plan_exceptions(plan)
    answer = review(
        "security_review",
        lambda _p, colour: security_summary(
            report.security, others, exceptions=exceptions, colour=colour
        ),
        lambda _p: json.dumps(report.model_dump(mode="json", by_alias=True), indent=2),
    )
    if answer.decision == "reject":
        return "security_review"
    before = (previous / "Chart.yaml").is_file()
    old = rendered_manifests(previous) if before else ""
    diff = manifest_diff(old, rendered_manifests(draft), str(previous), f"{plan.name} (new)")
    release, namespace = install_target(draft)
    answer = review(
        "deployment_approval",
        lambda _p, colour: deployment_summary(
            diff,
            release=release,
            namespace=namespace,
            previous=str(previous) if before else None,
            colour=colour,
        ),
        lambda _p: diff,
    )
    return "deployment_approval" if answer.decision == "reject" else None


def _generate_with_model(
    args: argparse.Namespace,
    data: bytes,
    base_dir: Path | None,
    model: str,
    overrides: tuple[list[str], list[str]],
) -> int:
    """The agentic path: the planning agent's plan, the engine's chart, the generation agent's edits."""
    import shutil

    from services.cli.agentic import generate_with_model
    from services.cli.common import read_standards

    plan, chart_dir, report, diff = generate_with_model(
        data,
        Path(args.output),
        model_name=model,
        base_dir=base_dir,
        name=args.name,
        standards=read_standards(args.standards),
        overrides=overrides[0],
        override_names=overrides[1],
    )
    _print_generated(args, plan, chart_dir, report, {"model": model, "agentDiff": diff})
    if not args.json and diff:
        print(
            f"  the generation agent changed the engine's chart ({diff.count(chr(10))} diff lines)"
        )
    if _approve(plan, args.yes) is None:
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
    from services.cli.common import print_report
    from services.cli.summaries import changes_section
    from services.cli.terminal import colour_enabled
    from shared.accepted import accepted_exceptions

    if args.json:
        body = {
            "chart": str(chart_dir),
            **extra,
            "notes": [n.dump() for n in plan.notes],
            "acceptedExceptions": accepted_exceptions(plan, report),
            "report": report.model_dump(mode="json", by_alias=True),
        }
        print(json.dumps(body, indent=2))
        return
    print(f"chart written to {chart_dir}")
    section = "" if args.quiet else changes_section(plan, colour=colour_enabled(sys.stdout))
    if section:
        print(section)
    for note in plan.notes:
        if note.severity != "info":
            print(f"  note [{note.severity}] {note.source}: {note.message}")
    print_report(report)
    print("validation passed" if report.passed else "validation FAILED")
