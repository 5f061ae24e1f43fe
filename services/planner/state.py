"""What the planning graph keeps between its nodes (checkpointed, JSON only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.swarm.nodes import SwarmState


@dataclass
class PlannerState(SwarmState):
    """One planning attempt: raw input, checked requirements, the plan."""

    prompt: str | None = None
    """prompt.txt: a plain-language request (LLM mode), before it becomes requirements."""
    answers: str | None = None
    """answers.txt: a reviewer's answers to the agent's clarifying questions (error_review)."""
    raw_requirements: dict[str, Any] = field(default_factory=dict)
    """requirements.json as stored at intake, not yet validated."""
    raw_notes: list[Any] = field(default_factory=list)
    """notes.json: the importer's notes (list of ImportNote)."""
    raw_standards: dict[str, Any] | None = None
    """standards.json, when the organisation gave standards."""
    requirements: dict[str, Any] = field(default_factory=dict)
    """ChartRequirements after validation, as JSON."""
    notes: list[dict[str, Any]] = field(default_factory=list)
    """ImportNotes after validation, as JSON."""
    standards: dict[str, Any] | None = None
    """Standards after validation, as JSON."""
    plan: dict[str, Any] = field(default_factory=dict)
    """The ChartPlan, as JSON."""
