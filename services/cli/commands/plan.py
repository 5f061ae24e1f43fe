"""`autopilot plan`: print the plan for an input without writing a chart."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    pln = sub.add_parser("plan", help="print the chart plan with every decision and its reason")
    pln.add_argument("input")
    pln.add_argument("--standards")
    pln.add_argument("--name", help="chart name (default: as generate names it)")
    pln.add_argument("--json", action="store_true")
    pln.add_argument("--yaml", action="store_true", help="the whole plan as YAML")
    pln.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plan for an input without writing a chart."""
    import yaml

    from services.cli.agentic import take_input
    from services.cli.common import compose_chart_name, read_input, read_override, read_standards
    from services.cli.environment import shell_environment
    from services.cli.summaries import changes_section, plan_summary
    from services.cli.terminal import colour_enabled
    from services.planner.engine import plan_chart

    data, base_dir = read_input(args.input)
    overrides, override_names = read_override(args.input)
    # The user's own machine: their shell environment fills the Compose file's ${VAR}.
    taken = take_input(
        data,
        None,
        base_dir=base_dir,
        name=args.name or compose_chart_name(args.input, data),
        environ=shell_environment(),
        overrides=overrides,
        override_names=override_names,
    )
    plan = plan_chart(
        taken.requirements, standards=read_standards(args.standards), notes=taken.notes
    )
    if args.json:
        print(plan.model_dump_json(by_alias=True, indent=2, exclude_none=True))
    elif args.yaml:
        print(yaml.safe_dump(plan.dump(), sort_keys=False), end="")
    else:
        # Decisions first: what was chosen and why; the whole plan is --yaml or --json.
        colour = colour_enabled(sys.stdout)
        print(plan_summary(plan, colour=colour))
        section = changes_section(plan, colour=colour)
        if section:
            print("\n" + section)
        print("\n(the whole plan: --yaml or --json)")
    return 0
