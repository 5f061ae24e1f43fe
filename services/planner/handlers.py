"""How the planner handles `planning.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

from services.planner.config import PlannerSettings
from services.planner.graph import build_graph
from shared.infra.swarm import SwarmService


def build_service(settings: PlannerSettings | None = None) -> SwarmService:
    """The planner service: durable consumer, planning graph, failure handling, metrics."""
    return SwarmService(settings or PlannerSettings(), build_graph)
