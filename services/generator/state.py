"""What the generation graph keeps between its nodes (checkpointed, JSON only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.swarm.nodes import SwarmState


@dataclass
class GeneratorState(SwarmState):
    """One generation attempt: the plan in, the chart files and a self-check out."""

    plan: dict[str, Any] = field(default_factory=dict)
    """The approved ChartPlan, as JSON."""
    feedback: list[dict[str, Any]] = field(default_factory=list)
    """Findings of the last validation (fix-loop attempts), as JSON."""
    files: dict[str, str] = field(default_factory=dict)
    """The chart's files by relative path (no `.autopilot/`)."""
    agent: dict[str, Any] = field(default_factory=dict)
    """LLM mode: the engine-vs-agent diff and the edits kept and rolled back; {} offline."""
    self_check: dict[str, Any] = field(default_factory=dict)
    """What our own validation run found; informational, the validator swarm judges."""
