"""The last node: package the approved chart and register it as the name's latest."""

from __future__ import annotations

import asyncio

import yaml
from langgraph.runtime import Runtime

from services.gateway.charts import package_chart, replay_version
from services.gateway.state import Status, SupervisorState
from services.gateway.workflow.context import Deps, Update, guarded
from shared import artifacts as kinds
from shared.errors import ArtifactError


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
    published = {
        "name": name,
        "version": version,
        "archive": archive,
        "chart_kind": chart_kind,
        "sha256": ref.files.get(archive, ""),
    }
    return {
        "status": Status.COMPLETED.value,
        "phase": "published",
        "published": published,
        "refs": {kinds.CHART_TGZ: ref.model_dump(mode="json")},
    }
