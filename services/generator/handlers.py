"""How the generator handles `generation.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from services.generator.config import GeneratorSettings
from services.generator.graph import build_graph
from services.validator.engine import warm_up
from shared.swarm.service import SwarmService

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def build_service(
    settings: GeneratorSettings | None = None, model: BaseChatModel | None = None
) -> SwarmService:
    """The generator service; warms the validator up for its self-check at start."""
    # The model is loaded once at process start (main), never per request.
    graph = functools.partial(build_graph, model)
    return SwarmService(settings or GeneratorSettings(), graph, warm_up=warm_up)
