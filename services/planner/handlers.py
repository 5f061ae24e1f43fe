"""How the planner handles `planning.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from services.planner.config import PlannerSettings
from services.planner.graph import build_graph
from shared.infra.swarm import SwarmService

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def build_service(
    settings: PlannerSettings | None = None, model: BaseChatModel | None = None
) -> SwarmService:
    """The planner service: durable consumer, planning graph, failure handling, metrics."""
    # The model is loaded once at process start (main), never per request.
    graph = functools.partial(build_graph, model)
    return SwarmService(settings or PlannerSettings(), graph)
