"""What the validation graph keeps between its nodes (checkpointed, JSON only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.swarm.nodes import SwarmState


@dataclass
class ValidatorState(SwarmState):
    """One validation attempt: the chart files in, the report out."""

    chart: str = ""
    """The chart's name, from its Chart.yaml."""
    files: dict[str, str] = field(default_factory=dict)
    """The chart's files by relative path."""
    report: dict[str, Any] = field(default_factory=dict)
    """The ValidationReport, as JSON."""
