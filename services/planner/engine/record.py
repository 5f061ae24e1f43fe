"""Decisions and notes recorded while one plan is built."""

from __future__ import annotations

from shared.models.plan import (
    Decision,
    ImportNote,
)


class Recorder:
    """Collects decisions and notes while one plan is built."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.notes: list[ImportNote] = []

    def decide(self, component: str | None, topic: str, choice: str, reason: str) -> None:
        self.decisions.append(
            Decision(component=component, topic=topic, choice=choice, reason=reason)
        )

    def note(self, source: str, message: str, severity: str = "warning") -> None:
        self.notes.append(
            ImportNote.model_validate({"source": source, "message": message, "severity": severity})
        )
