"""How the validator handles `validation.requested`: the shared swarm runtime around its graph."""

from __future__ import annotations

from services.validator.config import ValidatorSettings
from services.validator.engine import warm_up
from services.validator.graph import build_graph
from shared.swarm.service import SwarmService


def build_service(settings: ValidatorSettings | None = None) -> SwarmService:
    """The validator service; loads checkov and the schemas at start, not on the first chart."""
    return SwarmService(settings or ValidatorSettings(), build_graph, warm_up=warm_up)
