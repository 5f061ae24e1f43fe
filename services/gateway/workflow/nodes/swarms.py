"""The nodes around the swarms: intake, `dispatch_<swarm>` / `await_<swarm>`, and the fix loop's
check of a validation report.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from services.gateway.state import SupervisorState
from services.gateway.workflow.artifacts import load_report, ref
from services.gateway.workflow.context import Deps, NodeFn, Update, guarded
from shared import artifacts as kinds
from shared.errors import ArtifactError
from shared.events import ArtifactRef, Swarm, SwarmRequest, SwarmResult, swarm_event, utcnow
from shared.models.reports import Finding, Severity
from shared.models.workflow import ErrorCode, ErrorContext


@guarded("intake")
async def intake(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Check the stored input and note the chart name; the API validated it before storing."""
    deps = runtime.context
    files = await deps.artifacts.get_files(state["workflow_id"], kinds.INPUT)
    if kinds.REQUIREMENTS_FILE in files:
        name = str(json.loads(files[kinds.REQUIREMENTS_FILE])["name"])
    elif kinds.PROMPT_FILE in files:
        name = str((state.get("options") or {}).get("name") or "chart")
    else:
        raise ArtifactError(f"workflow {state['workflow_id']} has no stored input")
    digests = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    ref = ArtifactRef(workflow_id=state["workflow_id"], kind=kinds.INPUT, files=digests)
    return {
        "phase": "intake",
        "name": name,
        "refs": {kinds.INPUT: ref.model_dump(mode="json")},
        "fix_attempts": state.get("fix_attempts", 0),
        "feedback": [],
        "error": None,
    }


def _request(state: SupervisorState, swarm: Swarm, attempt: int, deps: Deps) -> SwarmRequest:
    """The request of one swarm attempt, pointing at its input artifacts."""
    deadline = utcnow() + timedelta(seconds=deps.settings.swarm_deadline_seconds)
    base = {
        "workflow_id": state["workflow_id"],
        "attempt": attempt,
        "swarm": swarm,
        "deadline": deadline,
    }
    if swarm is Swarm.PLANNING:
        return SwarmRequest(**base, input_refs=[ref(state, kinds.INPUT)])
    if swarm is Swarm.GENERATION:
        feedback = [Finding.model_validate(f) for f in state.get("feedback") or []]
        return SwarmRequest(**base, input_refs=[ref(state, kinds.APPROVED_PLAN)], feedback=feedback)
    chart_kind = state.get("chart_kind") or ""
    return SwarmRequest(**base, input_refs=[ref(state, chart_kind)])


def dispatch(swarm: Swarm) -> NodeFn:
    """`dispatch_<swarm>`: allocate an attempt, publish the request, record the deadline."""

    @guarded(f"dispatch_{swarm.value}")
    async def node(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
        deps = runtime.context
        # Attempt numbers come from a counter outside the checkpoint, so a replayed or
        # re-run dispatch never reuses a number (and its finished swarm thread).
        attempt = await deps.store.next_attempt(state["workflow_id"], swarm.value)
        request = _request(state, swarm, attempt, deps)
        prefix = deps.settings.subject_prefix
        event = swarm_event(request, source=deps.settings.source, prefix=prefix)
        await deps.publisher.publish(event.type, event)
        waiting = {
            "swarm": swarm.value,
            "attempt": attempt,
            "deadline": request.deadline.isoformat() if request.deadline else None,
            "request": request.model_dump(mode="json"),
        }
        return {
            "phase": swarm.value,
            "attempts": {swarm.value: attempt},
            "waiting": waiting,
            "error": None,
        }

    node.__name__ = f"dispatch_{swarm.value}"
    return node


def await_swarm(swarm: Swarm) -> NodeFn:
    """`await_<swarm>`: interrupt until the subscriber resumes with the swarm's answer."""

    async def node(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
        waiting = state.get("waiting") or {}
        attempt = int(waiting.get("attempt") or (state.get("attempts") or {}).get(swarm.value, 1))
        # No side effects here: this line runs again when the node is resumed.
        answer = interrupt({"await": swarm.value, "attempt": attempt})
        update: Update = {"result": answer, "waiting": None}
        if answer.get("phase") == "failed":
            error = ErrorContext.model_validate(answer.get("error") or {})
            error = error.model_copy(update={"swarm": swarm.value, "attempt": attempt})
            return {**update, "error": error.dump(), "failed_step": f"dispatch_{swarm.value}"}
        try:
            result = SwarmResult.model_validate(answer)
        except ValidationError as exc:
            error = ErrorContext(code=ErrorCode.INVALID_OUTPUT, message=str(exc), swarm=swarm.value)
            return {**update, "error": error.dump(), "failed_step": f"dispatch_{swarm.value}"}
        kind = result.artifacts[0].kind if result.artifacts else kinds.OUTPUT[swarm](attempt)
        refs = {ref.kind: ref.model_dump(mode="json") for ref in result.artifacts}
        update["refs"] = refs
        if swarm is Swarm.PLANNING:
            update["plan_kind"] = kind
        elif swarm is Swarm.GENERATION:
            update["chart_kind"] = kind
        else:
            update.update(report_kind=kind, validation=dict(result.summary))
        return update

    node.__name__ = f"await_{swarm.value}"
    return node


@guarded("check_validation")
async def check_validation(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Passed -> on to the gates; findings -> back to generation with them (bounded)."""
    deps = runtime.context
    report = await load_report(deps, state)
    summary = {**(state.get("validation") or {}), **report.summary()}
    if report.passed:
        return {"validation": summary, "feedback": [], "phase": "validation"}
    findings = [f for f in report.findings if f.severity != Severity.INFO]
    used = state.get("fix_attempts", 0)
    if used < deps.settings.max_fix_attempts:
        return {
            "validation": summary,
            "feedback": [f.dump() for f in findings],
            "fix_attempts": used + 1,
            "phase": "generation",
        }
    error = ErrorContext(
        code=ErrorCode.VALIDATION_FAILED,
        message=f"the chart still fails validation after {used} fix attempts "
        f"({summary['errors']} errors, {summary['warnings']} warnings)",
        details={"findings": [f.dump() for f in findings[:50]]},
    )
    return {"validation": summary, "error": error.dump(), "failed_step": "dispatch_generation"}
