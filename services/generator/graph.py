"""The generation subgraph: load_plan -> generate -> self_check -> store, one step per node.

`generate` renders the chart into a temporary directory and reads the files back into the
state, so a resumed thread needs no disk; `self_check` validates them and records a summary
without failing on findings (the validator swarm judges). The files go to `chart.{attempt}`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from services.generator.engine import generate_chart
from services.generator.state import GeneratorState
from services.validator.graph import report_summary, validate_files
from shared.errors import GenerationError, InputError
from shared.infra.swarm import (
    SwarmContext,
    first_ref,
    load_json,
    read_tree,
    swarm_node,
)
from shared.models.plan import ChartPlan

PLAN_FILE = "result.json"
# Generator bookkeeping (edit detection), not part of the chart.
PRIVATE_DIR = ".autopilot/"


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
            runtime.context.artifacts, first_ref(request), PLAN_FILE, ChartPlan,
            field_name="input_refs",
        )  # fmt: skip
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


@swarm_node("self_check")
async def self_check(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Validate the files once and record the summary; findings do not fail generation."""
    name = ChartPlan.model_validate(state.plan).name
    report = await asyncio.to_thread(validate_files, name, state.files)
    return {"self_check": report_summary(report)}


@swarm_node("store")
async def store(state: GeneratorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Store the files as `chart.{attempt}` and summarise them for the completion event."""
    request = state.swarm_request()
    plan = ChartPlan.model_validate(state.plan)
    ref = await runtime.context.artifacts.put_files(
        request.workflow_id,
        f"chart.{request.attempt}",
        {name: text.encode() for name, text in state.files.items()},
    )
    return {
        "artifacts": [ref.model_dump(mode="json")],
        "summary": {
            "chart": plan.name,
            "version": plan.chartVersion,
            "files": len(state.files),
            "feedback": len(state.feedback),
            "selfCheck": state.self_check,
        },
    }


def build_graph() -> StateGraph[GeneratorState, SwarmContext, Any, Any]:
    """The generation subgraph, uncompiled (the entry point compiles it with the checkpointer)."""
    graph = StateGraph(GeneratorState, context_schema=SwarmContext)
    graph.add_node("load_plan", load_plan)
    graph.add_node("generate", generate)
    graph.add_node("self_check", self_check)
    graph.add_node("store", store)
    graph.add_edge(START, "load_plan")
    graph.add_edge("load_plan", "generate")
    graph.add_edge("generate", "self_check")
    graph.add_edge("self_check", "store")
    graph.add_edge("store", END)
    return graph
