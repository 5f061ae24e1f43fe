"""The planning subgraph: load_input -> [read_prompt] -> validate -> plan -> store.

Each node does one thing, so after a crash the checkpoint history shows exactly which step
re-ran. Input comes from the `input` artifact (requirements.json, notes.json, standards.json,
or prompt.txt (+ answers.txt) in LLM mode) or inline in the request; the plan goes to `plan.{attempt}/result.json`.
With a chat model (`build_graph(model)`), `read_prompt` turns a prompt into requirements and
`plan` asks the planning Deep Agent; without one, a prompt is refused and the engine plans.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import TypeAdapter, ValidationError

from services.cli.agentic import OFFLINE_INPUTS
from services.planner.engine import plan_chart
from services.planner.intake import parse_requirements
from services.planner.state import PlannerState
from shared import artifacts as kinds
from shared.errors import InputError
from shared.gates import Gate
from shared.models.plan import ChartPlan, ImportNote
from shared.models.requirements import ChartRequirements, Standards
from shared.swarm.nodes import SwarmContext, first_ref, load_files, swarm_node

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.store.base import BaseStore

# The gate that reviews what this swarm produces (tracing metadata of the agent's runs).
NEXT_GATE = Gate.PLANNING_REVIEW.value

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
    if kinds.PROMPT_FILE in files and kinds.REQUIREMENTS_FILE not in files:
        answers = (
            files[kinds.ANSWERS_FILE].decode("utf-8", errors="replace")
            if kinds.ANSWERS_FILE in files
            else None
        )
        return {
            "prompt": files[kinds.PROMPT_FILE].decode("utf-8", errors="replace"),
            "answers": answers,
        }
    if kinds.REQUIREMENTS_FILE not in files:
        raise InputError(f"the input artifact has no {kinds.REQUIREMENTS_FILE}", field="input_refs")
    return {
        "raw_requirements": _json(kinds.REQUIREMENTS_FILE, files[kinds.REQUIREMENTS_FILE]),
        "raw_notes": _json(kinds.NOTES_FILE, files[kinds.NOTES_FILE])
        if kinds.NOTES_FILE in files
        else [],
        "raw_standards": _json(kinds.STANDARDS_FILE, files[kinds.STANDARDS_FILE])
        if kinds.STANDARDS_FILE in files
        else None,
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


def make_read_prompt(model: BaseChatModel | None) -> Any:
    """The `read_prompt` node: plain language to ChartRequirements through the model."""

    @swarm_node("read_prompt")
    async def read_prompt(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        """Ask the model for requirements; ClarificationNeeded when a required fact is missing."""
        if model is None:
            raise InputError(OFFLINE_INPUTS, field="input")
        from services.planner.agent import requirements_from_prompt

        workflow_id = state.swarm_request().workflow_id
        # The agent is sync and slow; a worker thread keeps heartbeats and NATS pings going.
        requirements: ChartRequirements = await asyncio.to_thread(
            requirements_from_prompt,
            state.prompt or "",
            model,
            answers=state.answers,
            workflow_id=workflow_id,
            gate=NEXT_GATE,
        )
        return {"raw_requirements": requirements.model_dump(mode="json", by_alias=True)}

    return read_prompt


def make_plan(model: BaseChatModel | None, memory: BaseStore | None = None) -> Any:
    """The `plan` node: the offline engine, or the planning Deep Agent when there is a model.

    `memory` holds /memories/ (the organisation's standards); the service passes its Postgres
    store, whose sync API works from the worker thread the agent runs in.
    """

    @swarm_node("plan")
    async def plan(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
        """Plan the chart (engine, or agent checked by the engine)."""
        requirements = parse_requirements(state.requirements)
        standards = Standards.model_validate(state.standards) if state.standards else None
        notes = _notes.validate_python(state.notes)
        if model is None:
            chart_plan = plan_chart(requirements, standards=standards, notes=notes)
        else:
            from services.planner.agent import plan_with_agent

            chart_plan = await asyncio.to_thread(
                plan_with_agent,
                requirements,
                model,
                standards=standards,
                notes=notes,
                store=memory,
                workflow_id=state.swarm_request().workflow_id,
                gate=NEXT_GATE,
            )
        return {"plan": chart_plan.model_dump(mode="json", by_alias=True)}

    return plan


def route_input(state: PlannerState) -> str:
    """A prompt goes through `read_prompt` first; structured input straight to `validate`."""
    return "read_prompt" if state.prompt is not None else "validate"


@swarm_node("store")
async def store(state: PlannerState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Store the plan as `plan.{attempt}` and summarise it for the completion event."""
    request = state.swarm_request()
    chart_plan = ChartPlan.model_validate(state.plan)
    ref = await runtime.context.artifacts.put_files(
        request.workflow_id,
        kinds.plan(request.attempt),
        {kinds.RESULT_FILE: chart_plan.model_dump_json(by_alias=True).encode()},
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


def build_graph(
    model: BaseChatModel | None = None, memory: BaseStore | None = None
) -> StateGraph[PlannerState, SwarmContext, Any, Any]:
    """The planning subgraph, uncompiled (the entry point compiles it with the checkpointer)."""
    graph = StateGraph(PlannerState, context_schema=SwarmContext)
    graph.add_node("load_input", load_input)
    graph.add_node("read_prompt", make_read_prompt(model))
    graph.add_node("validate", validate)
    graph.add_node("plan", make_plan(model, memory))
    graph.add_node("store", store)
    graph.add_edge(START, "load_input")
    graph.add_conditional_edges("load_input", route_input, ["read_prompt", "validate"])
    graph.add_edge("read_prompt", "validate")
    graph.add_edge("validate", "plan")
    graph.add_edge("plan", "store")
    graph.add_edge("store", END)
    return graph
