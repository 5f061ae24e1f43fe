"""The planning subgraph: load_input -> validate -> plan -> store, one step per node.

Each node does one thing, so after a crash the checkpoint history shows exactly which step
re-ran. Input comes from the `input` artifact (requirements.json, notes.json, standards.json)
or inline in the request; the plan goes to `plan.{attempt}/result.json`.
"""

from __future__ import annotations

import json
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import TypeAdapter, ValidationError

from services.planner.engine import plan_chart
from services.planner.intake import parse_requirements
from services.planner.state import PlannerState
from shared.errors import InputError
from shared.infra.swarm import SwarmContext, first_ref, load_files, swarm_node
from shared.models.plan import ChartPlan, ImportNote
from shared.models.requirements import Standards

REQUIREMENTS = "requirements.json"
NOTES = "notes.json"
STANDARDS = "standards.json"
RESULT = "result.json"

_notes = TypeAdapter(list[ImportNote])


def _json(name: str, data: bytes) -> Any:
    """One stored JSON file, or an InputError naming it."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", field=f"input/{name}") from exc


@swarm_node("load_input")
async def load_input(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Read the requirements, notes and standards the request points at (or carries)."""
    request = state.swarm_request()
    if request.input is not None and not request.input_refs:
        inline = request.input
        return {
            "raw_requirements": inline.get("requirements") or {},
            "raw_notes": inline.get("notes") or [],
            "raw_standards": inline.get("standards"),
        }
    files = await load_files(runtime.context.artifacts, first_ref(request), field_name="input_refs")
    if REQUIREMENTS not in files:
        raise InputError(f"the input artifact has no {REQUIREMENTS}", field="input_refs")
    return {
        "raw_requirements": _json(REQUIREMENTS, files[REQUIREMENTS]),
        "raw_notes": _json(NOTES, files[NOTES]) if NOTES in files else [],
        "raw_standards": _json(STANDARDS, files[STANDARDS]) if STANDARDS in files else None,
    }


@swarm_node("validate")
async def validate(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Check the input against its models, naming the first bad field."""
    requirements = parse_requirements(state.raw_requirements)
    try:
        notes = _notes.validate_python(state.raw_notes)
        standards = (
            Standards.model_validate(state.raw_standards)
            if state.raw_standards is not None
            else None
        )
    except ValidationError as exc:
        raise InputError.from_validation(exc) from exc
    return {
        "requirements": requirements.model_dump(mode="json", by_alias=True),
        "notes": _notes.dump_python(notes, mode="json", by_alias=True),
        "standards": standards.model_dump(mode="json", by_alias=True) if standards else None,
    }


@swarm_node("plan")
async def plan(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Plan the chart with the offline engine."""
    requirements = parse_requirements(state.requirements)
    chart_plan = plan_chart(
        requirements,
        standards=Standards.model_validate(state.standards) if state.standards else None,
        notes=_notes.validate_python(state.notes),
    )
    return {"plan": chart_plan.model_dump(mode="json", by_alias=True)}


@swarm_node("store")
async def store(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Store the plan as `plan.{attempt}` and summarise it for the completion event."""
    request = state.swarm_request()
    chart_plan = ChartPlan.model_validate(state.plan)
    ref = await runtime.context.artifacts.put_files(
        request.workflow_id,
        f"plan.{request.attempt}",
        {RESULT: chart_plan.model_dump_json(by_alias=True).encode()},
    )
    return {
        "artifacts": [ref.model_dump(mode="json")],
        "summary": {
            "chart": chart_plan.name,
            "components": len(chart_plan.components),
            "decisions": len(chart_plan.decisions),
            "notes": len(chart_plan.notes),
        },
    }


def build_graph() -> StateGraph[PlannerState, SwarmContext, Any, Any]:
    """The planning subgraph, uncompiled (the entry point compiles it with the checkpointer)."""
    graph = StateGraph(PlannerState, context_schema=SwarmContext)
    graph.add_node("load_input", load_input)
    graph.add_node("validate", validate)
    graph.add_node("plan", plan)
    graph.add_node("store", store)
    graph.add_edge(START, "load_input")
    graph.add_edge("load_input", "validate")
    graph.add_edge("validate", "plan")
    graph.add_edge("plan", "store")
    graph.add_edge("store", END)
    return graph
