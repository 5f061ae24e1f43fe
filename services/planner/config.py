"""Planner settings: the shared swarm settings, named for the planning swarm."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.events import Swarm
from shared.swarm.settings import SwarmSettings


class PlannerSettings(SwarmSettings):
    """One planner process (env: AUTOPILOT_*, LANGGRAPH_AES_KEY)."""

    SWARM: ClassVar[Swarm] = Swarm.PLANNING

    http_port: int = Field(default=8101, ge=0, le=65535, description="/health, /readyz, /metrics.")
