"""The generation subgraph: load_plan -> generate -> [improve] -> self_check -> store.

`generate` renders the chart into a temporary directory and reads the files back into the
state, so a resumed thread needs no disk; with a chat model (`build_graph(model)`), `improve`
lets the generation Deep Agent edit those files and keeps the engine-vs-agent diff (offline the
step is not in the graph); `self_check` runs the proof that the chart runs (its defaults rendered under a
release name unlike the chart's, every call reaching its Service) and records a summary
without failing on findings: the validator swarm's full report (lint of every values set,
schemas, checkov) judges, so the self-check does not repeat it. The files go to `chart.{attempt}`, the diff to
`agent-diff.{attempt}/agent.diff` (beside the chart, so it is never packaged or validated).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from services.generator.engine import generate_chart
from services.generator.state import GeneratorState
from services.validator.engine import runs_proof
from shared import artifacts as kinds
from shared.errors import GenerationError, InputError
from shared.files import read_tree, write_tree
from shared.gates import Gate
from shared.models.plan import ChartPlan
from shared.models.reports import Severity
from shared.swarm.nodes import SwarmContext, first_ref, load_json, swarm_node

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# Generator bookkeeping (edit detection), not part of the chart.
PRIVATE_DIR = ".autopilot/"
# The gate whose reviewer sees the agent's diff (tracing metadata of the agent's runs).
NEXT_GATE = Gate.SECURITY_REVIEW.value


@swarm_node("load_plan")
async def load_plan(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Read the approved plan the request points at (or carries inline as `plan`)."""
    request = state.swarm_request()
    if request.input is not None and not request.input_refs:
        if "plan" not in request.input:
            raise InputError("inline input needs a 'plan'", field="input.plan")
        plan = ChartPlan.model_validate(request.input["plan"])
    else:
        plan = await load_json(
            runtime.context.artifacts,
            first_ref(request),
            kinds.RESULT_FILE,
            ChartPlan,
            field_name="input_refs",
        )
    return {
        "plan": plan.model_dump(mode="json", by_alias=True),
        "feedback": [f.model_dump(mode="json", by_alias=True) for f in request.feedback],
    }


def _render(plan: ChartPlan) -> dict[str, str]:
    """Write the chart to a temp dir with the real generator and read its files back."""
    with tempfile.TemporaryDirectory(prefix="autopilot-generate-") as tmp:
        result = generate_chart(plan, Path(tmp), force=True)
        try:
            return read_tree(result.chart_dir, skip=(PRIVATE_DIR,))
        except UnicodeDecodeError as exc:
            raise GenerationError(f"the chart has a non-UTF-8 file: {exc}") from exc


@swarm_node("generate")
async def generate(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Render the chart files from the plan."""
    plan = ChartPlan.model_validate(state.plan)
    # Rendering is CPU work; off the event loop so heartbeats and NATS pings keep going.
    return {"files": await asyncio.to_thread(_render, plan)}


def _improve(
    plan: ChartPlan, files: dict[str, str], model: BaseChatModel, workflow_id: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Let the agent edit a copy of the engine's files; its files and what it did."""
    from services.generator.agent import improve_chart

    with tempfile.TemporaryDirectory(prefix="autopilot-improve-") as tmp:
        chart_dir = Path(tmp) / plan.name
        write_tree(chart_dir, files)
        result = improve_chart(chart_dir, plan, model, workflow_id=workflow_id, gate=NEXT_GATE)
        try:
            improved = read_tree(result.chart_dir, skip=(PRIVATE_DIR,))
        except UnicodeDecodeError as exc:
            raise GenerationError(f"the agent left a non-UTF-8 file: {exc}") from exc
    agent = {
        "diff": result.diff,
        "accepted": list(result.accepted),
        "rolledBack": list(result.rolled_back),
    }
    return improved, agent


def make_improve(model: BaseChatModel) -> Any:
    """The `improve` node: the generation Deep Agent edits the engine's chart (LLM mode only)."""

    @swarm_node("improve")
    async def improve(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        """Run the agent on the engine's files."""
        plan = ChartPlan.model_validate(state.plan)
        workflow_id = state.swarm_request().workflow_id
        # The agent is sync and slow; a worker thread keeps heartbeats and NATS pings going.
        files, agent = await asyncio.to_thread(_improve, plan, state.files, model, workflow_id)
        return {"files": files, "agent": agent}

    return improve


@swarm_node("self_check")
async def self_check(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Prove the files run and record the summary; findings do not fail generation."""
    name = ChartPlan.model_validate(state.plan).name
    return {"self_check": await asyncio.to_thread(_self_check, name, state.files)}


def _self_check(name: str, files: dict[str, str]) -> dict[str, Any]:
    """The runs proof over the files in a temp dir named like the chart: passed, counts."""
    with tempfile.TemporaryDirectory(prefix="autopilot-self-check-") as tmp:
        chart_dir = Path(tmp) / name
        write_tree(chart_dir, files)
        findings = runs_proof(chart_dir)
    return {
        "check": "runs",
        "passed": not any(f.severity is Severity.ERROR for f in findings),
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
    }


@swarm_node("store")
async def store(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Store the files as `chart.{attempt}` and summarise them for the completion event."""
    request = state.swarm_request()
    plan = ChartPlan.model_validate(state.plan)
    ref = await runtime.context.artifacts.put_files(
        request.workflow_id,
        kinds.chart(request.attempt),
        {name: text.encode() for name, text in state.files.items()},
    )
    refs = [ref.model_dump(mode="json")]  # the chart first: the gateway reads refs[0] as it
    if state.agent:
        diff_ref = await runtime.context.artifacts.put_files(
            request.workflow_id,
            kinds.agent_diff(request.attempt),
            {kinds.AGENT_DIFF_FILE: str(state.agent.get("diff", "")).encode()},
        )
        refs.append(diff_ref.model_dump(mode="json"))
    agent_summary = (
        {
            "agent": {
                "accepted": len(state.agent.get("accepted", [])),
                "rolledBack": len(state.agent.get("rolledBack", [])),
            }
        }
        if state.agent
        else {}
    )
    return {
        "artifacts": refs,
        "summary": {
            "chart": plan.name,
            "version": plan.chartVersion,
            "files": len(state.files),
            "feedback": len(state.feedback),
            "selfCheck": state.self_check,
            **agent_summary,
        },
    }


def build_graph(
    model: BaseChatModel | None = None,
) -> StateGraph[GeneratorState, SwarmContext, Any, Any]:
    """The generation subgraph, uncompiled (the entry point compiles it with the checkpointer)."""
    graph = StateGraph(GeneratorState, context_schema=SwarmContext)
    graph.add_node("load_plan", load_plan)
    graph.add_node("generate", generate)
    graph.add_node("self_check", self_check)
    graph.add_node("store", store)
    graph.add_edge(START, "load_plan")
    graph.add_edge("load_plan", "generate")
    if model is None:
        # Offline there is no agent: no `improve` step (and no checkpoint written for one).
        graph.add_edge("generate", "self_check")
    else:
        graph.add_node("improve", make_improve(model))
        graph.add_edge("generate", "improve")
        graph.add_edge("improve", "self_check")
    graph.add_edge("self_check", "store")
    graph.add_edge("store", END)
    return graph
