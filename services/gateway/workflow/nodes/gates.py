"""The human gates of the normal path (shared/gates.py names them): planning_review,
security_review, deployment_approval; each waits (`interrupt`) unless auto-approved, and every
decision is recorded and audited the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from services.gateway import charts
from services.gateway.state import Status, SupervisorState
from services.gateway.workflow.artifacts import load_agent_diff, load_plan, load_report
from services.gateway.workflow.context import Deps, Update, guarded
from shared import artifacts as kinds
from shared.accepted import accepted_exceptions
from shared.errors import ArtifactError
from shared.events import utcnow
from shared.gates import Gate
from shared.models.plan import ChartPlan
from shared.models.reports import Severity, ValidationReport


def auto_approver(state: SupervisorState, gate: str) -> str | None:
    """Who allowed this gate to pass without a reviewer (the API granted it at submit), if anyone.

    Only the grant the API recorded counts, never the bare `auto_approve` option, so a workflow
    stored before roles were checked waits for a reviewer.
    """
    granted = (state.get("options") or {}).get("auto_approved_by") or {}
    who = granted.get(gate) if isinstance(granted, dict) else None
    return str(who) if who else None


def _decide(state: SupervisorState, gate: str, details: dict[str, Any]) -> dict[str, Any]:
    """Wait at a human gate (unless auto-approved); returns the reviewer's decision."""
    if who := auto_approver(state, gate):
        grants = (state.get("options") or {}).get("auto_approval") or {}
        grant = grants.get(gate) if isinstance(grants, dict) else None
        return {
            "decision": "approve",
            "comment": f"auto-approved: {who}",
            "by": who,
            "auto": True,
            **(grant if isinstance(grant, dict) else {}),
        }
    answer = interrupt({"gate": gate, **details})
    return dict(answer) if isinstance(answer, dict) else {"decision": str(answer)}


def audit_entry(
    state: SupervisorState, gate: str, decision: dict[str, Any]
) -> list[dict[str, Any]]:
    """The audit-log entry of a decision being applied (the fields of store.AuditEntry)."""
    auto = bool(decision.get("auto"))
    return [
        {
            "id": uuid.uuid4().hex,
            "time": utcnow().isoformat(),
            "workflow_id": state["workflow_id"],
            "tenant": state.get("tenant") or "",
            "gate": gate,
            "decision": str(decision.get("decision", "reject")),
            "principal": str(decision.get("principal") or decision.get("by") or "unknown"),
            "principal_tenant": decision.get("principal_tenant"),
            "role": decision.get("role"),
            "how": str(decision.get("how") or ("role" if auto else "human")),
            "comment": decision.get("comment"),
        }
    ]


def _gate_outcome(state: SupervisorState, gate: str, decision: dict[str, Any]) -> Update:
    """State changes every gate decision makes (approvals, who decided, comment, rejection,
    the audit entry)."""
    choice = decision.get("decision", "reject")
    status = {"approve": "approved", "edit": "edited"}.get(choice, "rejected")
    record = {
        "decision": choice,
        "by": str(decision.get("by") or "unknown"),
        "auto": bool(decision.get("auto")),
    }
    update: Update = {
        "approvals": {gate: status},
        "decisions": {gate: record},
        "audit": audit_entry(state, gate, decision),
    }
    if decision.get("comment"):
        update["comments"] = {gate: str(decision["comment"])}
    if status == "rejected":
        update.update(status=Status.REJECTED.value, phase=gate, waiting=None)
    return update


@guarded("planning_review")
async def planning_review(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Human gate: the plan (decisions and notes); an edit is the plan to continue with."""
    deps = runtime.context
    gate = Gate.PLANNING_REVIEW.value
    plan = await load_plan(deps, state)
    decision = _decide(state, gate, {"plan": plan.dump()})
    update = _gate_outcome(state, gate, decision)
    if update.get("status") == Status.REJECTED.value:
        return update
    if decision.get("decision") == "edit":
        plan = ChartPlan.model_validate(decision["plan"])
    data = plan.model_dump_json(by_alias=True, exclude_none=True).encode()
    ref = await deps.artifacts.put_files(
        state["workflow_id"], kinds.APPROVED_PLAN, {kinds.RESULT_FILE: data}
    )
    return {
        **update,
        "name": plan.name,
        "refs": {kinds.APPROVED_PLAN: ref.model_dump(mode="json")},
        "phase": gate,
    }


async def _exceptions(
    deps: Deps, state: SupervisorState, report: ValidationReport
) -> list[dict[str, Any]]:
    """The approved plan's declared exceptions with reasons and the checks each accepted."""
    try:
        plan = await load_plan(deps, state, kinds.APPROVED_PLAN)
    except (ArtifactError, ValidationError, KeyError, ValueError):
        return []
    return accepted_exceptions(plan, report)


@guarded("security_review")
async def security_review(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Human gate: the security findings and checkov's summary."""
    report = await load_report(runtime.context, state)
    sec = report.security
    findings = [f.dump() for f in sec.failedChecks]
    findings += [f.dump() for f in report.findings if f.severity != Severity.INFO]
    details: dict[str, Any] = {
        "security": {
            "checkov": {
                "passed": sec.passed,
                "failed": sec.failed,
                "passRate": sec.passRate,
                "excluded": sec.excluded,
            },
            "findings": findings,
        },
        "validation": state.get("validation"),
    }
    exceptions = await _exceptions(runtime.context, state, report)
    details["security"]["exceptions"] = exceptions
    details["security"]["accepted"] = [f.dump() for f in sec.accepted]
    agent_diff = await load_agent_diff(runtime.context, state)
    if agent_diff is not None:
        details["agent_diff"] = agent_diff
    gate = Gate.SECURITY_REVIEW.value
    decision = _decide(state, gate, details)
    update = _gate_outcome(state, gate, decision)
    if decision.get("decision") == "approve" and exceptions:
        # Who accepted the spec's exceptions, and when: the approval of this gate.
        record = {
            **update["decisions"][gate],
            "at": utcnow().isoformat(),
            "accepted": [{k: e[k] for k in ("component", "setting", "reason")} for e in exceptions],
        }
        update["decisions"] = {gate: record}
    return {**update, "phase": gate}


@guarded("deployment_approval")
async def deployment_approval(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Human gate: the diff of rendered manifests against the last published chart of the name."""
    gate = Gate.DEPLOYMENT_APPROVAL.value
    if auto_approver(state, gate):
        # Nobody will read the diff: rendering it (the gateway's costliest step) is skipped.
        return {**_gate_outcome(state, gate, _decide(state, gate, {})), "phase": gate}
    deps = runtime.context
    wf, name = state["workflow_id"], state.get("name") or "chart"
    files = await deps.artifacts.get_files(wf, state.get("chart_kind") or "")
    # Only this tenant's charts: another tenant's chart of the same name is none of its business.
    previous = await deps.store.last_published(name, exclude=wf, tenant=state.get("tenant") or "")
    old_files = await deps.artifacts.get_files(*previous) if previous else {}
    old_label = f"{name} (published by {previous[0]})" if previous else "/dev/null"
    diff = await charts.diff(old_files, files, name, old_label, f"{name} (this workflow)")
    details = {"diff": diff, "previous": previous[0] if previous else None}
    return {**_gate_outcome(state, gate, _decide(state, gate, details)), "phase": gate}
