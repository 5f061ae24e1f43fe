"""Artifact kinds and file names every service agrees on (the store is shared/infra/artifacts.py).

A workflow's artifacts are addressed by (workflow id, kind, file name). Kinds of a swarm's output
carry the attempt that wrote them (`plan.2`); the others are written once per workflow.

| kind | written by | files |
| --- | --- | --- |
| `input` | gateway (submit; error_review adds answers) | requirements.json or prompt.txt (+ answers.txt), notes.json, standards.json |
| `plan.{n}` | planner | result.json (a ChartPlan) |
| `plan.approved` | gateway (planning_review) | result.json |
| `chart.{n}` | generator | the chart's files |
| `agent-diff.{n}` | generator, LLM mode | agent.diff |
| `report.{n}` | validator | result.json (a ValidationReport) |
| `chart.tgz` | gateway (publish) | the packaged chart |
"""

from __future__ import annotations

from typing import Protocol

from shared.events import ArtifactRef, Swarm


class Artifacts(Protocol):
    """What services need of the artifact store (`shared.infra.artifacts.ArtifactStore`, or
    `MemoryArtifacts` and other fakes in tests): a kind's files written whole, read whole."""

    async def put_files(self, workflow_id: str, kind: str, files: dict[str, bytes]) -> ArtifactRef:
        """Store every file of a kind, replacing what the kind held; its reference."""
        ...

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]:
        """Every file of a kind by name ({} when nothing is stored there)."""
        ...


INPUT = "input"
APPROVED_PLAN = "plan.approved"
CHART_TGZ = "chart.tgz"

RESULT_FILE = "result.json"
"""The one JSON file of plan.{n}, plan.approved and report.{n}."""
REQUIREMENTS_FILE = "requirements.json"
NOTES_FILE = "notes.json"
STANDARDS_FILE = "standards.json"
PROMPT_FILE = "prompt.txt"
ANSWERS_FILE = "answers.txt"
"""A reviewer's answers to the planning agent's questions (error_review), beside prompt.txt."""
AGENT_DIFF_FILE = "agent.diff"


def plan(attempt: int) -> str:
    """The planner's plan of one attempt."""
    return f"plan.{attempt}"


def chart(attempt: int) -> str:
    """The generator's chart files of one attempt."""
    return f"chart.{attempt}"


def report(attempt: int) -> str:
    """The validator's report of one attempt."""
    return f"report.{attempt}"


def agent_diff(attempt: int | str) -> str:
    """LLM mode: the engine-vs-agent diff written beside `chart.{attempt}` (never packaged)."""
    return f"agent-diff.{attempt}"


def attempt_of(kind: str) -> str:
    """The attempt part of a per-attempt kind (`chart.3` -> `3`)."""
    return kind.rpartition(".")[2]


OUTPUT = {Swarm.PLANNING: plan, Swarm.GENERATION: chart, Swarm.VALIDATION: report}
"""The kind each swarm's attempt writes its main output to."""
