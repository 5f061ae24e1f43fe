"""Reading a workflow's artifacts from the graph's nodes (kinds and file names: shared/artifacts.py)."""

from __future__ import annotations

from services.gateway.state import SupervisorState
from services.gateway.workflow.context import Deps
from shared import artifacts as kinds
from shared.errors import ArtifactError
from shared.events import ArtifactRef
from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport


def ref(state: SupervisorState, kind: str) -> ArtifactRef:
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
