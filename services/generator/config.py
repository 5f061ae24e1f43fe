"""Generator settings: the shared swarm settings, named for the generation swarm."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.events import Swarm
from shared.swarm.settings import SwarmSettings


class GeneratorSettings(SwarmSettings):
    """One generator process (env: AUTOPILOT_*, LANGGRAPH_AES_KEY)."""

    SWARM: ClassVar[Swarm] = Swarm.GENERATION

    http_port: int = Field(default=8102, ge=0, le=65535, description="/health, /readyz, /metrics.")
