"""How the generator handles `generation.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

from services.generator.config import GeneratorSettings
from services.generator.graph import build_graph
from services.validator.engine import warm_up
from shared.infra.swarm import SwarmService


def build_service(settings: GeneratorSettings | None = None) -> SwarmService:
    """The generator service; warms the validator up for its self-check at start."""
    return SwarmService(settings or GeneratorSettings(), build_graph, warm_up=warm_up)
