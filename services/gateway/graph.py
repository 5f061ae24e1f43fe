"""The supervisor graph: intake, one dispatch/await pair per swarm, the fix loop, the human gates,
publish, and an error handler every node can route to.

```
intake -> dispatch_planning -> await_planning -> planning_review
       -> dispatch_generation -> await_generation -> dispatch_validation -> await_validation
       -> check_validation -(findings, bounded)-> dispatch_generation
       -> security_review -> deployment_approval -> publish
any node -> error_handler -> retry the step | error_review gate | fail
```
A remote call is two nodes: `dispatch_x` publishes `x.requested` (a side effect, so it runs
once per checkpoint) and `await_x` only calls `interrupt()`; the subscriber resumes it with the
swarm's answer. Gates are interrupts too. Nodes reach their I/O through the run's context
(`Deps`), so the same graph runs against Postgres and NATS or against in-memory fakes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import helm_python
import yaml
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, interrupt
from pydantic import ValidationError

from services.gateway.config import GatewaySettings
from services.gateway.state import Status, SupervisorState
from services.gateway.store import Artifacts, Store
from shared import artifacts as kinds
from shared.accepted import accepted_exceptions
from shared.errors import AutopilotError
from shared.events import ArtifactRef, Event, Swarm, SwarmRequest, SwarmResult, swarm_event, utcnow
from shared.gates import Gate
from shared.infra.artifacts import ArtifactError
from shared.models.plan import ChartPlan
from shared.models.reports import Finding, Severity, ValidationReport
from shared.models.workflow import ErrorCode, ErrorContext

_log = logging.getLogger(__name__)

NodeName = Literal[
    "intake",
    "dispatch_planning",
    "await_planning",
    "planning_review",
    "dispatch_generation",
    "await_generation",
    "dispatch_validation",
    "await_validation",
    "check_validation",
    "security_review",
    "deployment_approval",
    "publish",
    "error_handler",
]
# Nodes an error may be retried at (error_handler's Command destinations).
RETRY_TARGETS: tuple[str, ...] = (
    "intake",
    "dispatch_planning",
    "planning_review",
    "dispatch_generation",
    "dispatch_validation",
    "check_validation",
    "security_review",
    "deployment_approval",
    "publish",
)
ROUTE_ERROR = "error_handler"
Update = dict[str, Any]


class Publisher(Protocol):
    """Puts one event on the bus (JetStream in the service, a fake in unit tests)."""

    async def publish(self, subject: str, event: Event[Any]) -> None: ...  # noqa: D102


@dataclass
class Deps:
    """What nodes reach through `runtime.context`; not checkpointed, given on every run."""

    settings: GatewaySettings
    publisher: Publisher
    artifacts: Artifacts
    store: Store


# --------------------------------------------------------------------------- errors


def is_transient(exc: BaseException) -> bool:
    """Whether a node's exception is worth retrying with back-off (infrastructure hiccups)."""
    if isinstance(exc, AutopilotError):
        return exc.code in (ErrorCode.TRANSIENT, ErrorCode.RATE_LIMIT)
    names = {cls.__name__ for cls in type(exc).__mro__}
    # psycopg/pool/nats errors are matched by name so this module imports none of them.
    transient = {"OperationalError", "PoolTimeout", "NoServersError", "ConnectionClosedError",
                 "TimeoutError", "ServiceUnavailableError", "NoRespondersError"}  # fmt: skip
    return isinstance(exc, ConnectionError | TimeoutError) or bool(names & transient)


def classify(exc: BaseException, step: str) -> ErrorContext:
    """An exception raised by a gateway node as the ErrorContext the error handler reads."""
    if isinstance(exc, AutopilotError):
        return exc.context(swarm=None).model_copy(update={"details": {"step": step}})
    if isinstance(exc, ValidationError | ArtifactError | json.JSONDecodeError | KeyError):
        # A swarm's stored output that does not load is bad output, not bad input.
        return ErrorContext(code=ErrorCode.INVALID_OUTPUT, message=f"{step}: {exc}")
    return ErrorContext(code=ErrorCode.UNKNOWN, message=f"{step}: {type(exc).__name__}: {exc}")


def retry_policy(settings: GatewaySettings) -> RetryPolicy:
    """Exponential back-off with jitter for the nodes that do I/O, transient errors only."""
    return RetryPolicy(
        initial_interval=settings.node_retry_initial_seconds,
        backoff_factor=2.0,
        max_interval=10.0,
        max_attempts=settings.node_retry_attempts,
        jitter=True,
        retry_on=is_transient,
    )


# Any: LangGraph's node protocols do not accept a plain (state, runtime) coroutine function.
NodeFn = Any


def guarded(name: str) -> Callable[[NodeFn], NodeFn]:
    """Turn a node's non-transient exception into state the error handler routes on."""

    def wrap(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        async def node(state: SupervisorState, runtime: Runtime[Deps]) -> Any:
            try:
                return await fn(state, runtime)
            except GraphBubbleUp:
                raise  # interrupts are control flow, not errors
            except Exception as exc:
                if is_transient(exc):
                    raise  # RetryPolicy backs off; if it gives up, the reconciler resumes later
                _log.warning("workflow %s: node %s failed: %s", state.get("workflow_id"), name, exc)
                return {"error": classify(exc, name).dump(), "failed_step": name}

        return node

    return wrap


# --------------------------------------------------------------------------- helpers


def _ref(state: SupervisorState, kind: str) -> ArtifactRef:
    """The reference of an artifact kind this workflow stored or received."""
    data = (state.get("refs") or {}).get(kind)
    if data is None:
        return ArtifactRef(workflow_id=state["workflow_id"], kind=kind)
    return ArtifactRef.model_validate(data)


async def _load_json(deps: Deps, workflow_id: str, kind: str) -> bytes:
    """The result.json of an artifact kind; ArtifactError when it is missing."""
    files = await deps.artifacts.get_files(workflow_id, kind)
    if kinds.RESULT_FILE in files:
        return files[kinds.RESULT_FILE]
    if len(files) == 1:  # a store that used its own file name for the one result
        return next(iter(files.values()))
    raise ArtifactError(f"no {kind}/{kinds.RESULT_FILE} for workflow {workflow_id}")


async def load_plan(deps: Deps, state: SupervisorState, kind: str | None = None) -> ChartPlan:
    """The plan the planner wrote (or the approved one)."""
    kind = kind or state.get("plan_kind") or ""
    return ChartPlan.model_validate_json(await _load_json(deps, state["workflow_id"], kind))


async def load_report(deps: Deps, state: SupervisorState) -> ValidationReport:
    """The latest validation report."""
    kind = state.get("report_kind") or ""
    return parse_report(await _load_json(deps, state["workflow_id"], kind))


async def load_agent_diff(deps: Deps, state: SupervisorState) -> str | None:
    """LLM mode: the engine-vs-agent diff stored beside the chart under review, if any."""
    chart_kind = state.get("chart_kind") or ""
    kind = kinds.agent_diff(kinds.attempt_of(chart_kind))
    if kind not in (state.get("refs") or {}):
        return None  # offline: the generator stores no diff
    files = await deps.artifacts.get_files(state["workflow_id"], kind)
    return files.get(kinds.AGENT_DIFF_FILE, b"").decode("utf-8", errors="replace")


def parse_report(raw: bytes) -> ValidationReport:
    """A stored ValidationReport."""
    return ValidationReport.model_validate_json(raw)


def write_chart(files: dict[str, bytes], root: Path, name: str) -> Path:
    """Write chart files under root/name; refuses paths that leave the directory."""
    chart_dir = root / name
    for rel, data in files.items():
        target = (chart_dir / rel).resolve()
        if not target.is_relative_to(chart_dir.resolve()):
            raise ArtifactError(f"chart file {rel!r} points outside the chart")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return chart_dir


def rendered_manifests(files: dict[str, bytes], name: str) -> str:
    """The chart rendered with its default values as its Argo CD Application installs it."""
    from services.validator.diff import rendered_manifests as render

    if not files:
        return ""
    with tempfile.TemporaryDirectory(prefix="autopilot-diff-") as tmp:
        return render(write_chart(files, Path(tmp), name))


def replay_version(chart_yaml: bytes, replay: int) -> bytes:
    """Chart.yaml with `+replay.N` (SemVer build metadata, which Helm and Argo CD accept and
    which never collides with a version a person picks) added to its version; N=0 leaves it."""
    if replay <= 0:
        return chart_yaml
    text = chart_yaml.decode()
    version = str((yaml.safe_load(text) or {}).get("version", "0.1.0")).split("+", 1)[0]
    line = f'version: "{version}+replay.{replay}"'
    lines = [line if ln.startswith("version:") else ln for ln in text.splitlines()]
    return ("\n".join(lines) + "\n").encode()


def package_chart(files: dict[str, bytes], name: str) -> tuple[str, bytes]:
    """`helm package` the chart files; returns the archive's file name and bytes."""
    with tempfile.TemporaryDirectory(prefix="autopilot-package-") as tmp:
        chart_dir = write_chart(files, Path(tmp), name)
        out = Path(tmp) / "out"
        out.mkdir()
        archive = Path(helm_python.package(chart_dir, destination=out))
        return archive.name, archive.read_bytes()


def _auto_approver(state: SupervisorState, gate: str) -> str | None:
    """Who allowed this gate to pass without a reviewer (the API granted it at submit), if anyone.

    Only the grant the API recorded counts, never the bare `auto_approve` option, so a workflow
    stored before roles were checked waits for a reviewer.
    """
    granted = (state.get("options") or {}).get("auto_approved_by") or {}
    who = granted.get(gate) if isinstance(granted, dict) else None
    return str(who) if who else None


def _decide(state: SupervisorState, gate: str, details: dict[str, Any]) -> dict[str, Any]:
    """Wait at a human gate (unless auto-approved); returns the reviewer's decision."""
    if who := _auto_approver(state, gate):
        grants = (state.get("options") or {}).get("auto_approval") or {}
        grant = grants.get(gate) if isinstance(grants, dict) else None
        return {"decision": "approve", "comment": f"auto-approved: {who}", "by": who, "auto": True,
                **(grant if isinstance(grant, dict) else {})}  # fmt: skip
    answer = interrupt({"gate": gate, **details})
    return dict(answer) if isinstance(answer, dict) else {"decision": str(answer)}


def _audit(state: SupervisorState, gate: str, decision: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit-log entry of a decision being applied (the fields of store.AuditEntry)."""
    auto = bool(decision.get("auto"))
    return [{
        "id": uuid.uuid4().hex, "time": utcnow().isoformat(), "workflow_id": state["workflow_id"],
        "tenant": state.get("tenant") or "", "gate": gate,
        "decision": str(decision.get("decision", "reject")),
        "principal": str(decision.get("principal") or decision.get("by") or "unknown"),
        "principal_tenant": decision.get("principal_tenant"), "role": decision.get("role"),
        "how": str(decision.get("how") or ("role" if auto else "human")),
        "comment": decision.get("comment"),
    }]  # fmt: skip


def _gate_outcome(state: SupervisorState, gate: str, decision: dict[str, Any]) -> Update:
    """State changes every gate decision makes (approvals, who decided, comment, rejection,
    the audit entry)."""
    choice = decision.get("decision", "reject")
    status = {"approve": "approved", "edit": "edited"}.get(choice, "rejected")
    record = {"decision": choice, "by": str(decision.get("by") or "unknown"),
              "auto": bool(decision.get("auto"))}  # fmt: skip
    update: Update = {"approvals": {gate: status}, "decisions": {gate: record},
                      "audit": _audit(state, gate, decision)}  # fmt: skip
    if decision.get("comment"):
        update["comments"] = {gate: str(decision["comment"])}
    if status == "rejected":
        update.update(status=Status.REJECTED.value, phase=gate, waiting=None)
    return update


# --------------------------------------------------------------------------- nodes


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
    base = {"workflow_id": state["workflow_id"], "attempt": attempt, "swarm": swarm,
            "deadline": deadline}  # fmt: skip
    if swarm is Swarm.PLANNING:
        return SwarmRequest(**base, input_refs=[_ref(state, kinds.INPUT)])
    if swarm is Swarm.GENERATION:
        feedback = [Finding.model_validate(f) for f in state.get("feedback") or []]
        return SwarmRequest(
            **base, input_refs=[_ref(state, kinds.APPROVED_PLAN)], feedback=feedback
        )
    chart_kind = state.get("chart_kind") or ""
    return SwarmRequest(**base, input_refs=[_ref(state, chart_kind)])


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
        return {"phase": swarm.value, "attempts": {swarm.value: attempt}, "waiting": waiting,
                "error": None}  # fmt: skip

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
    summary = {
        **(state.get("validation") or {}),
        "passed": report.passed,
        "passRate": report.security.passRate,
        "errors": sum(f.severity == Severity.ERROR for f in report.findings),
        "warnings": sum(f.severity == Severity.WARNING for f in report.findings),
    }
    if report.passed:
        return {"validation": summary, "feedback": [], "phase": "validation"}
    findings = [f for f in report.findings if f.severity != Severity.INFO]
    used = state.get("fix_attempts", 0)
    if used < deps.settings.max_fix_attempts:
        return {"validation": summary, "feedback": [f.dump() for f in findings],
                "fix_attempts": used + 1, "phase": "generation"}  # fmt: skip
    error = ErrorContext(
        code=ErrorCode.VALIDATION_FAILED,
        message=f"the chart still fails validation after {used} fix attempts "
        f"({summary['errors']} errors, {summary['warnings']} warnings)",
        details={"findings": [f.dump() for f in findings[:50]]},
    )
    return {"validation": summary, "error": error.dump(), "failed_step": "dispatch_generation"}


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
    return {**update, "name": plan.name, "refs": {kinds.APPROVED_PLAN: ref.model_dump(mode="json")},
            "phase": gate}  # fmt: skip


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
            },  # fmt: skip
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
        record = {**update["decisions"][gate], "at": utcnow().isoformat(),
                  "accepted": [{k: e[k] for k in ("component", "setting", "reason")}
                               for e in exceptions]}  # fmt: skip
        update["decisions"] = {gate: record}
    return {**update, "phase": gate}


@guarded("deployment_approval")
async def deployment_approval(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """Human gate: the diff of rendered manifests against the last published chart of the name."""
    deps = runtime.context
    wf, name = state["workflow_id"], state.get("name") or "chart"
    files = await deps.artifacts.get_files(wf, state.get("chart_kind") or "")
    # Only this tenant's charts: another tenant's chart of the same name is none of its business.
    previous = await deps.store.last_published(name, exclude=wf, tenant=state.get("tenant") or "")
    old_files = await deps.artifacts.get_files(*previous) if previous else {}
    new_text, old_text = await asyncio.gather(
        asyncio.to_thread(rendered_manifests, files, name),
        asyncio.to_thread(rendered_manifests, old_files, name),
    )
    old_label = f"{name} (published by {previous[0]})" if previous else "/dev/null"
    from services.validator.diff import manifest_diff

    diff = manifest_diff(old_text, new_text, old_label, f"{name} (this workflow)")
    details = {"diff": diff, "previous": previous[0] if previous else None}
    gate = Gate.DEPLOYMENT_APPROVAL.value
    return {**_gate_outcome(state, gate, _decide(state, gate, details)), "phase": gate}


@guarded("publish")
async def publish(state: SupervisorState, runtime: Runtime[Deps]) -> Update:
    """`helm package` the approved chart, store the archive, register it as the name's latest."""
    deps = runtime.context
    wf, name, chart_kind = (
        state["workflow_id"],
        state.get("name") or "chart",
        state.get("chart_kind") or "",
    )
    files = await deps.artifacts.get_files(wf, chart_kind)
    if "Chart.yaml" not in files:
        raise ArtifactError(f"{chart_kind} of workflow {wf} has no Chart.yaml")
    # A replay publishes again, maybe other content: it gets its own version, never the first's.
    publication = await deps.store.next_attempt(wf, "publish")
    files = {**files, "Chart.yaml": replay_version(files["Chart.yaml"], publication - 1)}
    archive, data = await asyncio.to_thread(package_chart, files, name)
    ref = await deps.artifacts.put_files(wf, kinds.CHART_TGZ, {archive: data})
    await deps.store.record_published(name, wf, chart_kind, state.get("tenant") or "")
    version = str((yaml.safe_load(files["Chart.yaml"]) or {}).get("version", ""))
    published = {"name": name, "version": version, "archive": archive, "chart_kind": chart_kind,
                 "sha256": ref.files.get(archive, "")}  # fmt: skip
    return {"status": Status.COMPLETED.value, "phase": "published", "published": published,
            "refs": {kinds.CHART_TGZ: ref.model_dump(mode="json")}}  # fmt: skip


def _fail(
    error: ErrorContext, comment: str | None = None, audit: list[dict[str, Any]] | None = None
) -> Command[Any]:
    """End the workflow as failed with its error (and the audit entry of a reviewer's reject)."""
    details = {**error.details, **({"comment": comment} if comment else {})}
    final = error.model_copy(update={"details": details})
    return Command(goto=END, update={"status": Status.FAILED.value, "phase": "failed",
                                     "last_error": final.dump(), "error": None, "waiting": None,
                                     **({"audit": audit} if audit else {})})  # fmt: skip


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
        clear = {**clear, "audit": _audit(state, Gate.ERROR_REVIEW.value, decision)}
        answers = decision.get("answers") if questions else None
        if decision.get("decision") == "edit" and isinstance(answers, str) and answers.strip():
            refs = await _store_answers(runtime.context, state, answers)
            return Command(goto=step, update={**clear, "refs": refs, "phase": step,
                                              "approvals": {Gate.ERROR_REVIEW.value: "edited"}})  # fmt: skip
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
                return Command(goto="dispatch_generation",
                               update={**clear, "feedback": found, "fix_attempts": fixes + 1})  # fmt: skip
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
        error, step, {**clear, "audit": _audit(state, Gate.ERROR_REVIEW.value, decision)}, decision
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


# --------------------------------------------------------------------------- wiring

Router = Callable[[SupervisorState], str]


def _then(target: str) -> Router:
    """Route to `target` unless the node left an error or ended the workflow."""

    def route(state: SupervisorState) -> str:
        if state.get("error"):
            return ROUTE_ERROR
        if state.get("status") in (
            Status.REJECTED.value,
            Status.FAILED.value,
            Status.COMPLETED.value,
            Status.CANCELLED.value,
        ):
            return END
        return target

    route.__name__ = f"route_to_{target}"
    return route


def route_validation(
    state: SupervisorState,
) -> Literal["error_handler", "security_review", "dispatch_generation"]:
    """After check_validation: gates when it passed, generation again with the findings."""
    if state.get("error"):
        return "error_handler"
    if (state.get("validation") or {}).get("passed"):
        return "security_review"
    return "dispatch_generation"


def build_graph(
    settings: GatewaySettings,
) -> StateGraph[SupervisorState, Deps, SupervisorState, SupervisorState]:
    """The supervisor graph, uncompiled (the entry point compiles it with its checkpointer)."""
    retry = retry_policy(settings)
    graph = StateGraph(SupervisorState, context_schema=Deps)
    graph.add_node("intake", intake, retry_policy=retry)
    for swarm in Swarm:
        graph.add_node(f"dispatch_{swarm.value}", dispatch(swarm), retry_policy=retry)
        graph.add_node(f"await_{swarm.value}", await_swarm(swarm))
    graph.add_node("check_validation", check_validation, retry_policy=retry)
    graph.add_node("planning_review", planning_review, retry_policy=retry)
    graph.add_node("security_review", security_review, retry_policy=retry)
    graph.add_node("deployment_approval", deployment_approval, retry_policy=retry)
    graph.add_node("publish", publish, retry_policy=retry)
    graph.add_node("error_handler", error_handler, destinations=(*RETRY_TARGETS, END))

    graph.add_edge(START, "intake")
    steps = [
        ("intake", "dispatch_planning"),
        ("dispatch_planning", "await_planning"),
        ("await_planning", "planning_review"),
        ("planning_review", "dispatch_generation"),
        ("dispatch_generation", "await_generation"),
        ("await_generation", "dispatch_validation"),
        ("dispatch_validation", "await_validation"),
        ("await_validation", "check_validation"),
        ("security_review", "deployment_approval"),
        ("deployment_approval", "publish"),
        ("publish", END),
    ]
    for source, target in steps:
        graph.add_conditional_edges(source, _then(target), [target, ROUTE_ERROR, END])
    graph.add_conditional_edges(
        "check_validation",
        route_validation,
        ["error_handler", "security_review", "dispatch_generation"],
    )
    return graph
