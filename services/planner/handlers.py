"""How the planner handles `planning.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from langgraph.graph import StateGraph

from services.planner.config import PlannerSettings
from services.planner.graph import build_graph
from shared.infra.checkpoint import open_store
from shared.swarm.service import SwarmService

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.store.base import BaseStore


class PlannerService(SwarmService):
    """The planning swarm; with a model, /memories/ lives in the LangGraph Postgres store."""

    def __init__(self, settings: PlannerSettings, model: BaseChatModel | None = None) -> None:
        self.model = model
        self.memory: BaseStore | None = None
        super().__init__(settings, self._planning_graph)

    def _planning_graph(self) -> StateGraph[Any, Any, Any, Any]:
        """The graph, built once the store is open (resources opens it first)."""
        return build_graph(self.model, memory=self.memory)

    @asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        """The shared resources, plus the memory store when a model will read /memories/."""
        async with AsyncExitStack() as stack:
            if self.model is not None:
                # Standards saved once (put_standards) apply to every later workflow, across
                # restarts and replicas. Opened on this loop: the agent's worker thread calls
                # the store's sync API, which hands each call back to this loop.
                self.memory = await stack.enter_async_context(
                    open_store(self._database_url(), max_connections=self.settings.db_pool_size)
                )
            async with super().resources():
                yield


def build_service(
    settings: PlannerSettings | None = None, model: BaseChatModel | None = None
) -> SwarmService:
    """The planner service: durable consumer, planning graph, failure handling, metrics."""
    # The model is loaded once at process start (main), never per request.
    return PlannerService(settings or PlannerSettings(), model)
