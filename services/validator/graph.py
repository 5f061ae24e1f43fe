"""The validation subgraph: load_chart -> validate -> store, one step per node.

The chart comes from the `chart.{n}` artifact the request points at; the report goes to
`report.{attempt}/result.json`. A chart that fails validation is a result (passed=false),
not an error: the gateway decides about the fix loop.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from services.validator.engine import validate_chart
from services.validator.state import ValidatorState
from shared import artifacts as kinds
from shared.errors import InputError
from shared.files import write_tree
from shared.models.reports import ValidationReport
from shared.swarm.nodes import SwarmContext, first_ref, load_files, swarm_node

_CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def chart_name(chart_yaml: str) -> str:
    """The chart's name from Chart.yaml; InputError when missing or not a DNS label."""
    try:
        meta = yaml.safe_load(chart_yaml)
    except yaml.YAMLError as exc:
        raise InputError(f"Chart.yaml is not valid YAML: {exc}", field="Chart.yaml") from exc
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not _CHART_NAME.match(name):
        raise InputError(f"Chart.yaml has no valid chart name: {name!r}", field="Chart.yaml.name")
    return name


@swarm_node("load_chart")
async def load_chart(state: ValidatorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Read the chart files the request points at."""
    request = state.swarm_request()
    stored = await load_files(
        runtime.context.artifacts, first_ref(request), field_name="input_refs"
    )
    try:
        files = {name: data.decode("utf-8") for name, data in stored.items()}
    except UnicodeDecodeError as exc:
        raise InputError(f"a chart file is not UTF-8 text: {exc}", field="input_refs") from exc
    if "Chart.yaml" not in files:
        raise InputError("the chart artifact has no Chart.yaml", field="input_refs")
    return {"chart": chart_name(files["Chart.yaml"]), "files": files}


def validate_files(name: str, files: dict[str, str]) -> ValidationReport:
    """Validate chart files in a temp dir named like the chart (helm lint checks the name)."""
    with tempfile.TemporaryDirectory(prefix="autopilot-validate-") as tmp:
        chart_dir = Path(tmp) / name
        write_tree(chart_dir, files)
        return validate_chart(chart_dir)


@swarm_node("validate")
async def validate(state: ValidatorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Lint, render, schema-check and security-scan the chart."""
    # CPU work off the event loop, so heartbeats and NATS pings keep going.
    report = await asyncio.to_thread(validate_files, state.chart, state.files)
    return {"report": report.model_dump(mode="json", by_alias=True)}


@swarm_node("store")
async def store(state: ValidatorState, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
    """Store the report as `report.{attempt}` and summarise it for the completion event."""
    request = state.swarm_request()
    report = ValidationReport.model_validate(state.report)
    ref = await runtime.context.artifacts.put_files(
        request.workflow_id,
        kinds.report(request.attempt),
        {kinds.RESULT_FILE: report.model_dump_json(by_alias=True).encode()},
    )
    return {"artifacts": [ref.model_dump(mode="json")], "summary": report.summary()}


def build_graph() -> StateGraph[ValidatorState, SwarmContext, Any, Any]:
    """The validation subgraph, uncompiled (the entry point compiles it with the checkpointer)."""
    graph = StateGraph(ValidatorState, context_schema=SwarmContext)
    graph.add_node("load_chart", load_chart)
    graph.add_node("validate", validate)
    graph.add_node("store", store)
    graph.add_edge(START, "load_chart")
    graph.add_edge("load_chart", "validate")
    graph.add_edge("validate", "store")
    graph.add_edge("store", END)
    return graph
