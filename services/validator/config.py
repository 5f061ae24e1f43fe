"""Validator settings: the shared swarm settings, named for the validation swarm."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.events import Swarm
from shared.swarm.settings import SwarmSettings


class ValidatorSettings(SwarmSettings):
    """One validator process (env: AUTOPILOT_*, LANGGRAPH_AES_KEY)."""

    SWARM: ClassVar[Swarm] = Swarm.VALIDATION

    http_port: int = Field(default=8103, ge=0, le=65535, description="/health, /readyz, /metrics.")
