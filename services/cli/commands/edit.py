"""`autopilot edit ID`: $EDITOR on the pending plan as YAML, then the change sent by name."""

from __future__ import annotations

import argparse
import json
import sys

from services.cli.options import add_gateway_options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser(
        "edit",
        help="edit the plan waiting at planning_review in $EDITOR (sent as a change by name)",
    )
    cmd.add_argument("id", help="workflow id")
    cmd.add_argument("--comment", help="a note recorded with the decision")
    add_gateway_options(cmd)
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch the plan, edit it until it is valid (or unchanged), send the change, show the result."""
    from services.cli import remote
    from services.cli.review import edit_loop
    from services.cli.summaries import Style, plan_summary
    from services.cli.terminal import Terminal, colour_enabled
    from shared.errors import AutopilotError
    from shared.models.plan import ChartPlan
    from shared.plan_edit import plan_changes

    with remote.client(args.gateway, read_timeout=120.0) as http:
        workflow = remote.get_workflow(http, args.id)
        gate = workflow.get("pending_gate") or {}
        if gate.get("gate") != "planning_review" or not gate.get("plan"):
            waiting = gate.get("gate") or f"no gate (status {workflow['status']})"
            raise AutopilotError(
                f"workflow {args.id} is not at planning_review ({waiting}); only a plan is edited",
                field="ID",
            )
        plan = ChartPlan.model_validate(gate["plan"])
        with Terminal.open() as term:
            # The same path as the gateway: the edit becomes a merge keyed by name and is
            # validated like a spec before anything is sent.
            edited = edit_loop(term, plan, Style(term.colour))
        if edited is None:
            print(f"no change; planning_review of {args.id} is still pending", file=sys.stderr)
            return 0
        changes = plan_changes(plan.dump(), edited.dump())
        body = {"gate": "planning_review", "decision": "edit", "changes": changes}
        if args.comment:
            body["comment"] = args.comment
        after = remote.request(http, "POST", f"/v1/workflows/{args.id}/decisions", json=body)
    view = after.json()
    if args.output != "table":
        print(remote.dump({"changes": changes, "workflow": view}, args.output))
        return 0
    print(f"edited planning_review of {args.id}: {json.dumps(changes)}")
    print(plan_summary(edited, colour=colour_enabled(sys.stdout)))
    nxt = (view.get("pending_gate") or {}).get("gate")
    print(f"now {view['status']}" + (f", waiting at {nxt}" if nxt else ""))
    return 0
