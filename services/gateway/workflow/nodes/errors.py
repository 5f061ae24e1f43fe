"""The error handler every node can route to: retry the step, feed bad output back to the
generator, or escalate to the error_review gate; and the end of a failed workflow.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from services.gateway.state import Status, SupervisorState
from services.gateway.workflow.context import RETRY_TARGETS, Deps, Update
from services.gateway.workflow.nodes.gates import audit_entry
from shared import artifacts as kinds
from shared.gates import Gate
from shared.models.reports import Finding, Severity
from shared.models.workflow import ErrorCode, ErrorContext


def _fail(
    error: ErrorContext, comment: str | None = None, audit: list[dict[str, Any]] | None = None
) -> Command[Any]:
    """End the workflow as failed with its error (and the audit entry of a reviewer's reject)."""
    details = {**error.details, **({"comment": comment} if comment else {})}
    final = error.model_copy(update={"details": details})
    update: dict[str, Any] = {
        "status": Status.FAILED.value,
        "phase": "failed",
        "last_error": final.dump(),
        "error": None,
        "waiting": None,
    }
    if audit:
        update["audit"] = audit
    return Command(goto=END, update=update)


async def error_handler(state: SupervisorState, runtime: Runtime[Deps]) -> Command[Any]:
    """Retry transient failures, feed bad output back, escalate the rest to `error_review`."""
    settings = runtime.context.settings
    error = ErrorContext.model_validate(state.get("error") or {"code": "unknown", "message": "?"})
    step = state.get("failed_step") or "intake"
    step = step if step in RETRY_TARGETS else f"dispatch_{error.swarm}" if error.swarm else "intake"
    retries = (state.get("retries") or {}).get(step, 0)
    fixes = state.get("fix_attempts", 0)
    clear: Update = {"error": None, "last_error": error.dump()}
    escalate = error.details.get("escalate")
    if escalate:
        # The agent already retried within its budget (invalid output) or needs a fact only a
        # person has (clarification): a human decides at once, nothing is retried silently.
        questions = error.details.get("questions")
        decision = _ask_review(error, step, questions)
        clear = {**clear, "audit": audit_entry(state, Gate.ERROR_REVIEW.value, decision)}
        answers = decision.get("answers") if questions else None
        if decision.get("decision") == "edit" and isinstance(answers, str) and answers.strip():
            refs = await _store_answers(runtime.context, state, answers)
            return Command(
                goto=step,
                update={
                    **clear,
                    "refs": refs,
                    "phase": step,
                    "approvals": {Gate.ERROR_REVIEW.value: "edited"},
                },
            )
        return _review_outcome(error, step, clear, decision)
    if (
        error.code in (ErrorCode.TRANSIENT, ErrorCode.RATE_LIMIT)
        and retries < settings.max_swarm_retries
    ):
        return Command(goto=step, update={**clear, "retries": {step: retries + 1}})
    if error.code is ErrorCode.INVALID_OUTPUT:
        if step in ("dispatch_generation", "dispatch_validation", "check_validation"):
            if fixes < settings.max_fix_attempts:
                found = error.details.get("findings") or [
                    Finding(severity=Severity.ERROR, tool="gateway", message=error.message).dump()
                ]
                return Command(
                    goto="dispatch_generation",
                    update={**clear, "feedback": found, "fix_attempts": fixes + 1},
                )
        elif retries < settings.max_swarm_retries:
            return Command(goto=step, update={**clear, "retries": {step: retries + 1}})
        return _fail(error)
    if error.code is ErrorCode.INVALID_INPUT:
        return _fail(error)
    # permission, policy, unknown, a chart still failing validation after the fix loop (its
    # findings in the error's details), or retries used up: a human decides.
    return _error_review(state, error, step, clear)


def _error_review(
    state: SupervisorState, error: ErrorContext, step: str, clear: Update
) -> Command[Any]:
    """The error_review gate: approve re-runs the step, anything else fails the workflow."""
    decision = _ask_review(error, step, None)
    return _review_outcome(
        error,
        step,
        {**clear, "audit": audit_entry(state, Gate.ERROR_REVIEW.value, decision)},
        decision,
    )


def _ask_review(error: ErrorContext, step: str, questions: Any) -> dict[str, Any]:
    """Wait at error_review (with the agent's questions, if any); the reviewer's decision."""
    payload: dict[str, Any] = {"gate": Gate.ERROR_REVIEW.value, "error": error.dump(), "step": step}
    if questions:
        payload["questions"] = [str(q) for q in questions]
    decision = interrupt(payload)
    return dict(decision) if isinstance(decision, dict) else {"decision": str(decision)}


async def _store_answers(deps: Deps, state: SupervisorState, answers: str) -> dict[str, Any]:
    """Add the reviewer's answers to the input as answers.txt; the new input reference."""
    workflow_id = state["workflow_id"]
    files = await deps.artifacts.get_files(workflow_id, kinds.INPUT)
    before = files.get(kinds.ANSWERS_FILE, b"").decode("utf-8", errors="replace")
    answers = answers.strip()
    # Earlier rounds stay; a re-run of this node after a crash must not add the same answers twice.
    if not before.endswith(answers):
        files[kinds.ANSWERS_FILE] = (f"{before}\n\n{answers}" if before else answers).encode()
    ref = await deps.artifacts.put_files(workflow_id, kinds.INPUT, files)
    return {kinds.INPUT: ref.model_dump(mode="json")}


def _review_outcome(
    error: ErrorContext, step: str, clear: Update, decision: dict[str, Any]
) -> Command[Any]:
    """approve re-runs the failed step; anything else fails the workflow."""
    choice = decision.get("decision")
    comment = decision.get("comment")
    if choice == "approve":
        approvals = {"approvals": {Gate.ERROR_REVIEW.value: "approved"}, "phase": step}
        if comment:
            approvals["comments"] = {Gate.ERROR_REVIEW.value: comment}
        return Command(goto=step, update={**clear, **approvals})
    return _fail(error, comment, clear.get("audit"))
