"""Runs the supervisor graph: one run at a time per workflow, progress events, the projection.

Every entry point (submit, a swarm's answer, a decision, the reconciler, a replay) takes the
workflow's lock, runs the graph until it interrupts or ends, then rewrites the workflow's row
from the checkpoint and logs what changed as events (Postgres, then `workflow.*` / `gate.*`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateSnapshot

from services.gateway.auth import Principal
from services.gateway.metrics import GatewayMetrics
from services.gateway.models import DecisionRequest, HistoryEntry, Notice
from services.gateway.state import TERMINAL, Status, SupervisorState
from services.gateway.store import WorkflowRecord
from services.gateway.workflow import Deps
from services.gateway.workflow.artifacts import load_plan, load_report
from services.planner.engine.calls import rewire
from shared import artifacts as kinds
from shared.errors import (
    GateNotPending,
    InputError,
    NotCancellable,
    NothingToReplay,
    ReplayLimit,
    WorkflowNotFound,
)
from shared.events import (
    Event,
    Phase,
    SwarmFailure,
    SwarmRequest,
    SwarmResult,
    msg_id,
    swarm_event,
    swarm_subject,
    utcnow,
)
from shared.gates import Gate
from shared.models.plan import ChartPlan
from shared.plan_edit import edit_plan

_log = logging.getLogger(__name__)

Graph = CompiledStateGraph[SupervisorState, Deps, SupervisorState, SupervisorState]


def _already_applied(values: Any, request: DecisionRequest, principal: str) -> bool:
    """Whether the gate was passed with this decision by this reviewer (by hand; an edit
    carries changes, so only an approve or a reject is a safe repeat)."""
    decisions = (values or {}).get("decisions") or {}
    done = decisions.get(request.gate) if isinstance(decisions, dict) else None
    return (
        isinstance(done, dict)
        and request.decision in ("approve", "reject")
        and done.get("decision") == request.decision
        and done.get("by") == principal
        and not done.get("auto")
    )


def _interrupts(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    """The pending interrupt values of the latest checkpoint."""
    return [i.value for i in snapshot.interrupts if isinstance(i.value, dict)]


def _answers(gate: dict[str, Any], request: DecisionRequest) -> str:
    """The reviewer's answers to the agent's questions (edit at error_review); InputError if not."""
    if not gate.get("questions"):
        raise InputError(
            "error_review accepts an edit only when the agent asked questions", field="decision"
        )
    changes = request.changes if isinstance(request.changes, dict) else {}
    answers = changes.get("answers")
    if set(changes) != {"answers"} or not isinstance(answers, str) or not answers.strip():
        raise InputError(
            'an edit at error_review needs \'changes\': {"answers": "<text>"}', field="changes"
        )
    return answers


def _parse_time(value: Any) -> datetime | None:
    """An ISO time from state, or None."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class Supervisor:
    """The gateway's workflow engine around the compiled supervisor graph."""

    def __init__(self, graph: Graph, deps: Deps, metrics: GatewayMetrics) -> None:
        self.graph = graph
        self.deps = deps
        self.metrics = metrics
        self.settings = deps.settings
        self.store = deps.store
        self._locks: dict[str, asyncio.Lock] = {}

    # ----------------------------------------------------------------- plumbing

    @staticmethod
    def config(workflow_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
        """The graph config of a workflow's thread (optionally at one checkpoint)."""
        configurable: dict[str, Any] = {"thread_id": workflow_id}
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        return {"configurable": configurable}

    @contextlib.asynccontextmanager
    async def locked(self, workflow_id: str) -> AsyncIterator[None]:
        """Exclusive access to one workflow: in this process, then across replicas."""
        lock = self._locks.setdefault(workflow_id, asyncio.Lock())
        async with lock, self.store.lock(workflow_id):
            yield

    async def emit(self, workflow_id: str, type_: str, data: dict[str, Any]) -> None:
        """Log an event (SSE reads it back by id), then publish it for taps; best effort on NATS."""
        stored = await self.store.add_event(workflow_id, type_, data)
        notice = Notice(workflow_id=workflow_id, event_id=stored.id, type=type_, data=data)
        subject = f"{self.settings.subject_prefix}.{type_}"
        event = Event[Notice](
            id=msg_id(type_, workflow_id, stored.id),
            type=subject,
            source=self.settings.source,
            subject=workflow_id,
            data=notice,
        )
        try:
            await self.deps.publisher.publish(subject, event)
        except Exception as exc:  # noqa: BLE001 - the Postgres log is the record; NATS is a tap
            _log.warning("could not publish %s for %s: %s", type_, workflow_id, exc)

    def initial_state(self, record: WorkflowRecord) -> SupervisorState:
        """The graph input of a new workflow."""
        return {
            "workflow_id": record.id,
            "input_kind": record.input_kind,
            "submitted_by": record.submitted_by,
            "tenant": record.tenant,
            "options": record.options,
            "phase": "intake",
            "fix_attempts": 0,
        }

    async def _run(
        self, workflow_id: str, payload: Any, config: RunnableConfig | None = None
    ) -> None:
        """Run the graph until it interrupts or ends; a crash is left for the reconciler."""
        try:
            async for chunk in self.graph.astream(
                payload,
                config or self.config(workflow_id),
                context=self.deps,
                stream_mode="updates",
            ):
                for node, update in chunk.items():
                    if node.startswith("__"):
                        continue
                    if isinstance(update, dict):
                        self._count_update(update)
                        await self._log_auto_decisions(workflow_id, update)
                    phase = update.get("phase") if isinstance(update, dict) else None
                    await self.emit(workflow_id, "workflow.step", {"node": node, "phase": phase})
        except Exception:
            _log.exception(
                "workflow %s: graph run failed; the reconciler will resume it", workflow_id
            )
            record = await self.store.get(workflow_id)
            if record is not None:
                retry = timedelta(seconds=self.settings.reconcile_interval_seconds)
                record.deadline = utcnow() + retry
                await self.store.save(record)
            return
        await self.sync(workflow_id)

    async def sync(self, workflow_id: str) -> WorkflowRecord | None:
        """Rewrite the workflow's row from its latest checkpoint and log what changed."""
        record = await self.store.get(workflow_id)
        if record is None:
            return None
        snapshot = await self.graph.aget_state(self.config(workflow_id))
        values: SupervisorState = snapshot.values or {}  # type: ignore[assignment]
        pending = _interrupts(snapshot)
        gate = next((v for v in pending if "gate" in v), None)
        awaiting = next((v for v in pending if "await" in v), None)
        before = record.model_copy()

        status = values.get("status") or (Status.WAITING_FOR_APPROVAL if gate else Status.RUNNING)
        record.status = Status(status).value
        record.phase = gate["gate"] if gate else values.get("phase") or record.phase
        record.name = values.get("name") or record.name
        record.validation = values.get("validation")
        record.chart_kind = values.get("chart_kind")
        record.published = values.get("published")
        record.decisions = values.get("decisions") or None
        comments = values.get("comments") or {}
        record.comment = comments.get(record.phase) or (
            list(comments.values())[-1] if comments else None
        )
        record.error = (
            values.get("last_error")
            if record.status == Status.FAILED
            else (gate.get("error") if gate and gate["gate"] == Gate.ERROR_REVIEW else None)
        )
        old_gate = (before.pending_gate or {}).get("gate")
        if gate:
            since = (
                before.gate_since if old_gate == gate["gate"] and before.gate_since else utcnow()
            )
            record.gate_since = since
            record.pending_gate = {**gate, "since": since.isoformat()}
        else:
            record.gate_since, record.pending_gate = None, None
        record.deadline = self._deadline(before, values, awaiting)
        if record.status in TERMINAL and before.status not in TERMINAL:
            record.finished_at = utcnow()
        # The decisions this checkpoint applied are logged with the row that shows them.
        await self.store.save(record, values.get("audit") or [])
        await self._log_changes(before, record)
        await self._observe_end(before, record, values)
        return record

    async def _log_auto_decisions(self, workflow_id: str, update: dict[str, Any]) -> None:
        """An auto-approval is a decision too: log it with who allowed it, like a reviewer's."""
        decisions = update.get("decisions")
        for gate, decision in (decisions if isinstance(decisions, dict) else {}).items():
            if isinstance(decision, dict) and decision.get("auto"):
                await self.emit(
                    workflow_id,
                    f"gate.{gate}.{decision.get('decision')}",
                    {
                        "gate": gate,
                        "decision": decision.get("decision"),
                        "by": decision.get("by"),
                        "auto": True,
                    },
                )

    def _count_update(self, update: dict[str, Any]) -> None:
        """Metrics a node's update shows: gate decisions (auto-approvals too), step retries."""
        # Counted from the graph's own updates, so a decision is counted once, when applied,
        # whether a reviewer sent it or an auto-approval (role or policy) made it.
        if isinstance(update.get("approvals"), dict):
            self.metrics.gate_decided(update["approvals"])
        if isinstance(update.get("retries"), dict):
            for step in update["retries"]:
                self.metrics.step_retries.labels(step).inc()

    async def _observe_end(
        self, before: WorkflowRecord, after: WorkflowRecord, values: SupervisorState
    ) -> None:
        """Fix-loop iterations of a finished workflow; pass rate and findings of its chart."""
        if after.status not in TERMINAL or before.status in TERMINAL:
            return
        if values.get("report_kind"):
            self.metrics.fix_iterations.observe(values.get("fix_attempts", 0))
        if after.status != Status.COMPLETED or not values.get("report_kind"):
            return
        try:
            report = await load_report(self.deps, values)
        except Exception as exc:  # noqa: BLE001 - metrics never fail a workflow
            _log.warning("workflow %s: no report for chart metrics: %s", after.id, exc)
            return
        self.metrics.chart_published(
            report.security.passRate, (f.severity.value for f in report.findings)
        )

    async def refresh_gauges(self) -> None:
        """Gate and JetStream gauges as of now; the /metrics endpoint calls this per scrape."""
        if not self.metrics.enabled:
            return
        waiting = await self.store.search(
            status=Status.WAITING_FOR_APPROVAL.value,
            input_kind=None,
            submitted_by=None,
            limit=10_000,
            before_seq=None,
        )
        self.metrics.set_gates(
            (((w.pending_gate or {}).get("gate") or w.phase, w.gate_since) for w in waiting),
            utcnow(),
        )
        await self.metrics.refresh_lag()

    def _deadline(
        self, before: WorkflowRecord, values: SupervisorState, awaiting: dict[str, Any] | None
    ) -> datetime | None:
        """When the reconciler should look again: only while a swarm step is in flight."""
        if awaiting is None:
            return None
        waiting = values.get("waiting") or {}
        fresh = _parse_time(waiting.get("deadline")) or utcnow() + timedelta(
            seconds=self.settings.swarm_deadline_seconds
        )
        # Keep a deadline the reconciler pushed back, unless a newer step started since.
        if before.deadline is not None and before.deadline > fresh:
            return before.deadline
        return fresh

    async def _log_changes(self, before: WorkflowRecord, after: WorkflowRecord) -> None:
        """Events and metrics for a gate that opened or a workflow that ended."""
        gate = (after.pending_gate or {}).get("gate")
        if gate and gate != (before.pending_gate or {}).get("gate"):
            await self.emit(after.id, f"gate.{gate}.pending", {"gate": gate, "phase": after.phase})
        if after.status in TERMINAL and before.status not in TERMINAL:
            seconds = (utcnow() - after.created_at).total_seconds()
            self.metrics.finished(after.status, after.input_kind, seconds)
            data: dict[str, Any] = {"status": after.status, "phase": after.phase}
            if after.comment:
                data["comment"] = after.comment
            if after.error:
                data["error"] = after.error
            if after.published:
                data["chart"] = after.published
            await self.emit(after.id, f"workflow.{after.status}", data)

    # ----------------------------------------------------------------- entry points

    async def submit(
        self,
        *,
        input_kind: str,
        files: dict[str, bytes],
        options: dict[str, Any],
        submitted_by: str,
        tenant: str | None = None,
    ) -> WorkflowRecord:
        """Store a validated input, record the workflow and run it to its first wait."""
        workflow_id = uuid.uuid4().hex
        await self.deps.artifacts.put_files(workflow_id, kinds.INPUT, files)
        deadline = utcnow() + timedelta(seconds=self.settings.swarm_deadline_seconds)
        record = await self.store.create(
            WorkflowRecord(
                id=workflow_id,
                status=Status.RUNNING.value,
                phase="intake",
                input_kind=input_kind,
                submitted_by=submitted_by,
                tenant=tenant or "",
                options=options,
                deadline=deadline,
            )
        )
        self.metrics.started.labels(input_kind).inc()
        await self.emit(
            workflow_id,
            "workflow.started",
            {"input_kind": input_kind, "submitted_by": submitted_by},
        )
        async with self.locked(workflow_id):
            await self._run(workflow_id, self.initial_state(record))
        return await self.store.get(workflow_id) or record

    async def on_swarm_event(self, phase: Phase, payload: SwarmResult | SwarmFailure) -> bool:
        """Resume the workflow with a swarm's answer if it waits for exactly that attempt."""
        workflow_id = payload.workflow_id
        async with self.locked(workflow_id):
            snapshot = await self.graph.aget_state(self.config(workflow_id))
            expected = {"await": payload.swarm.value, "attempt": payload.attempt}
            if not any({k: v.get(k) for k in expected} == expected for v in _interrupts(snapshot)):
                # A duplicate, a stale attempt, or another gateway's workflow already moved on.
                self.metrics.duplicates.labels(payload.swarm.value).inc()
                return False
            resume = {"phase": phase.value, **payload.model_dump(mode="json")}
            await self._run(workflow_id, Command(resume=resume))
        return True

    async def decide(
        self, workflow_id: str, request: DecisionRequest, reviewer: Principal
    ) -> WorkflowRecord:
        """Apply a reviewer's decision to the pending gate and run on."""
        principal = reviewer.id
        async with self.locked(workflow_id):
            record = await self.store.get(workflow_id)
            if record is None:
                raise WorkflowNotFound(workflow_id)
            snapshot = await self.graph.aget_state(self.config(workflow_id))
            gates = [v for v in _interrupts(snapshot) if "gate" in v]
            if not gates or gates[0]["gate"] != request.gate:
                if _already_applied(snapshot.values, request, principal):
                    # A retry of this reviewer's decision whose answer was lost (the database
                    # went away after the gate was passed): the same answer, not a 409. A run
                    # the failure cut short goes on from its last checkpoint.
                    if snapshot.next and not _interrupts(snapshot):
                        await self._run(workflow_id, None)
                    return await self.store.get(workflow_id) or record
                pending = gates[0]["gate"] if gates else None
                raise GateNotPending(
                    f"gate {request.gate} is not pending"
                    + (f" (pending: {pending})" if pending else " (no gate is pending)")
                )
            resume: dict[str, Any] = {
                "decision": request.decision,
                "comment": request.comment,
                "by": principal,
                "how": "human",
                "role": reviewer.top_role and reviewer.top_role.value,
                "principal_tenant": reviewer.tenant,
            }
            if request.decision == "edit" and request.gate == Gate.ERROR_REVIEW:
                resume["answers"] = _answers(gates[0], request)
            elif request.decision == "edit":
                values = cast(SupervisorState, snapshot.values)
                resume["plan"] = (await self._edited_plan(values, request)).dump()
            if record.gate_since is not None:
                waited = (utcnow() - record.gate_since).total_seconds()
                self.metrics.gate_wait.labels(request.gate).observe(max(waited, 0.0))
            await self.emit(
                workflow_id,
                f"gate.{request.gate}.{request.decision}",
                {
                    "gate": request.gate,
                    "decision": request.decision,
                    "comment": request.comment,
                    "by": principal,
                },
            )
            await self._run(workflow_id, Command(resume=resume))
        return await self.store.get(workflow_id) or record

    async def _edited_plan(self, values: SupervisorState, request: DecisionRequest) -> ChartPlan:
        """The plan with the reviewer's changes (JSON Patch or merge by name) applied and
        validated like a spec; state is not touched."""
        if request.gate != Gate.PLANNING_REVIEW:
            raise InputError("only planning_review accepts an edit", field="decision")
        plan = await load_plan(self.deps, values)
        # A reviewer's new serviceRef gets its Service port and NetworkPolicy rule.
        return rewire(edit_plan(plan, request.changes, prefix="changes"))

    async def reconcile_once(self, limit: int = 100) -> int:
        """Re-dispatch or resume every workflow past its deadline; returns how many were touched."""
        touched = 0
        for workflow_id in await self.store.due(utcnow(), limit):
            try:
                async with self.locked(workflow_id):
                    touched += await self._reconcile(workflow_id)
            except Exception:
                _log.exception("reconciling workflow %s failed; next round retries", workflow_id)
        return touched

    async def _reconcile(self, workflow_id: str) -> int:
        """One overdue workflow (caller holds its lock)."""
        record = await self.store.get(workflow_id)
        if record is None or record.deadline is None or record.deadline > utcnow():
            return 0  # another replica or a fresh answer got there first
        snapshot = await self.graph.aget_state(self.config(workflow_id))
        if not snapshot.values:
            # Accepted but the first run never checkpointed (crash right after submit).
            self.metrics.resumes.inc()
            await self._run(workflow_id, self.initial_state(record))
            return 1
        awaiting = next((v for v in _interrupts(snapshot) if "await" in v), None)
        if awaiting is not None:
            await self._redispatch(record, snapshot.values.get("waiting") or {}, awaiting)
            return 1
        if snapshot.next:
            self.metrics.resumes.inc()
            await self._run(workflow_id, None)
            return 1
        record.deadline = None  # at a gate or finished: nothing to chase
        await self.store.save(record)
        return 0

    async def _redispatch(
        self, record: WorkflowRecord, waiting: dict[str, Any], awaiting: dict[str, Any]
    ) -> None:
        """Publish the overdue request again, under a fresh message id so JetStream keeps it."""
        request = SwarmRequest.model_validate(waiting["request"])
        if request.attempt != awaiting.get("attempt"):
            raise RuntimeError(f"workflow {record.id}: waiting state and interrupt disagree")
        deadline = utcnow() + timedelta(seconds=self.settings.swarm_deadline_seconds)
        request = request.model_copy(update={"deadline": deadline})
        event = swarm_event(
            request, source=self.settings.source, prefix=self.settings.subject_prefix
        )
        # The same attempt (the swarm resumes or re-publishes its thread), a new dedupe id.
        event.id = msg_id(
            swarm_subject(request.swarm, Phase.REQUESTED),
            record.id,
            request.swarm.value,
            request.attempt,
            "redispatch",
            record.redispatches + 1,
        )
        await self.deps.publisher.publish(event.type, event)
        record.redispatches += 1
        record.deadline = deadline
        await self.store.save(record)
        self.metrics.redispatches.labels(request.swarm.value).inc()
        await self.emit(
            record.id,
            "workflow.redispatched",
            {"swarm": request.swarm.value, "attempt": request.attempt},
        )

    async def cancel(self, workflow_id: str, by: str) -> WorkflowRecord:
        """End a running or waiting workflow as cancelled: its gate closes, a swarm answer that
        comes back later finds nothing waiting for it, the reconciler has nothing to chase."""
        async with self.locked(workflow_id):
            record = await self.store.get(workflow_id)
            if record is None:
                raise WorkflowNotFound(workflow_id)
            if record.status in TERMINAL:
                raise NotCancellable(f"workflow {workflow_id} already ended ({record.status})")
            update = {
                "status": Status.CANCELLED.value,
                "phase": "cancelled",
                "waiting": None,
                "comments": {"cancelled": f"cancelled by {by}"},
            }
            # Written as the last node, whose edge ends a cancelled workflow: the new checkpoint
            # has nothing to run and no pending interrupt (gate or swarm wait) left.
            await self.graph.aupdate_state(self.config(workflow_id), update, as_node="publish")
            updated = await self.sync(workflow_id)
        return updated or record

    async def history(self, workflow_id: str) -> list[HistoryEntry]:
        """The workflow's checkpoints, newest first."""
        snaps = [s async for s in self.graph.aget_state_history(self.config(workflow_id))]
        entries = []
        for i, snap in enumerate(snaps):
            parent = snaps[i + 1] if i + 1 < len(snaps) else None
            meta = snap.metadata or {}
            values = snap.values if isinstance(snap.values, dict) else {}
            entries.append(
                HistoryEntry(
                    checkpoint_id=snap.config["configurable"]["checkpoint_id"],
                    parent_id=(parent.config["configurable"]["checkpoint_id"] if parent else None),
                    step=meta.get("step"),
                    source=meta.get("source"),
                    node=list(parent.next) if parent else [],
                    next=list(snap.next),
                    phase=values.get("phase"),
                    created_at=snap.created_at,
                )
            )
        return entries

    async def replay(self, workflow_id: str, checkpoint_id: str) -> WorkflowRecord:
        """Fork the thread at a checkpoint and run from there (LangGraph time travel)."""
        async with self.locked(workflow_id):
            record = await self.store.get(workflow_id)
            if record is None:
                raise WorkflowNotFound(workflow_id)
            snapshot = await self.graph.aget_state(self.config(workflow_id, checkpoint_id))
            if (
                snapshot.config["configurable"].get("checkpoint_id") != checkpoint_id
                or not snapshot.values
            ):
                raise WorkflowNotFound(f"no checkpoint {checkpoint_id} in workflow {workflow_id}")
            if (
                snapshot.next
                and all(n.startswith("await_") for n in snapshot.next)
                and snapshot.parent_config
            ):
                # The swarm already answered that attempt; re-run its dispatch for a fresh one.
                snapshot = await self.graph.aget_state(snapshot.parent_config)
            if not snapshot.next:
                raise NothingToReplay(f"checkpoint {checkpoint_id} has nothing left to run")
            if record.status == Status.CANCELLED.value:
                raise NothingToReplay(f"workflow {workflow_id} was cancelled; submit it again")
            # Counted outside the checkpoints, which a replay forks: every fork spends one.
            done = await self.store.next_attempt(workflow_id, "replay")
            if done > self.settings.max_replays:
                raise ReplayLimit(
                    f"workflow {workflow_id} was replayed {self.settings.max_replays} times, the "
                    "limit (AUTOPILOT_MAX_REPLAYS); submit it again instead"
                )
            # Terminal rows become live again; the fork's end rewrites them.
            record.status, record.finished_at = Status.RUNNING.value, None
            record.pending_gate, record.gate_since = None, None
            await self.store.save(record)
            await self.emit(
                workflow_id,
                "workflow.replayed",
                {"checkpoint_id": checkpoint_id, "next": list(snapshot.next)},
            )
            await self._run(workflow_id, None, config=snapshot.config)
        return await self.store.get(workflow_id) or record
