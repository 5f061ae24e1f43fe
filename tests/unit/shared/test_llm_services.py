"""LLM mode in the services, in memory: the planner's prompt and agent branches, the generator's
agent step and its stored diff, and how the gateway shows escalations and the diff to people.

The agents themselves are replaced by stubs here (tests/integration/test_agents*.py drive the
real ones against a fake OpenAI server); these tests pin the graph branches around them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_gateway import SPEC, approve, at_gate, ended, submit, wait_for
from test_gateway import settings as gateway_settings
from test_swarms import REQUIREMENTS, failure, harness, planning, result, settings

import tests.fakes.gateway_world as gateway_testing
from services.cli.agentic import OFFLINE_INPUTS
from services.gateway.main import create_app
from services.generator.agent import ChartResult, snapshot, unified_diff
from services.generator.config import GeneratorSettings
from services.generator.graph import build_graph as generator_graph
from services.generator.handlers import build_service as build_generator
from services.planner.config import PlannerSettings
from services.planner.engine import plan_chart
from services.planner.graph import build_graph as planner_graph
from services.planner.handlers import build_service as build_planner
from services.planner.intake import parse_requirements
from services.validator.engine import validate_chart
from shared.errors import ClarificationNeeded, EscalationNeeded
from shared.events import ArtifactRef, Swarm, SwarmRequest, SwarmResult
from shared.models.plan import ChartPlan
from shared.models.workflow import ErrorCode, ErrorContext
from tests.fakes.gateway_world import MemoryWorld

MODEL: Any = object()  # the nodes only pass the model on to the (stubbed) agents
PROMPT = "a web server from ghcr.io/acme/web:1.2 on port 8080"


def run_request(h: Any, request: SwarmRequest) -> None:
    """Deliver one request to a harnessed service."""

    async def run() -> None:
        async with h.broker() as broker:
            await h.send(broker, request)

    asyncio.run(run())


def prompt_planner(tmp_path: Path, model: Any) -> Any:
    """A planner whose `input` artifact is a prompt, as the gateway stores it."""
    h = harness(build_planner(settings(PlannerSettings, data_dir=tmp_path)), planner_graph(model))
    h.artifacts.files[("wf-1", "input")] = {"prompt.txt": PROMPT.encode()}
    return h


# --------------------------------------------------------------------------- planner


def test_planner_turns_a_prompt_into_requirements_and_plans_with_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def from_prompt(prompt: str, model: Any, **kw: Any) -> Any:
        calls.append(("prompt", kw))
        assert prompt == PROMPT and model is MODEL
        return parse_requirements(REQUIREMENTS)

    def with_agent(requirements: Any, model: Any, **kw: Any) -> ChartPlan:
        calls.append(("plan", kw))
        return plan_chart(requirements, standards=kw["standards"], notes=kw["notes"])

    monkeypatch.setattr("services.planner.agent.requirements_from_prompt", from_prompt)
    monkeypatch.setattr("services.planner.agent.plan_with_agent", with_agent)
    h = prompt_planner(tmp_path, MODEL)
    run_request(h, planning())
    payload = result(h.on("completed")[0])
    stored = ChartPlan.model_validate_json(h.artifacts.files[("wf-1", "plan.1")]["result.json"])
    assert stored.name == "demo" and payload.summary["components"] == 1
    # Tracing metadata: the workflow and the gate that reviews the result.
    assert [c[0] for c in calls] == ["prompt", "plan"]
    assert all(kw["workflow_id"] == "wf-1" and kw["gate"] == "planning_review" for _, kw in calls)


def test_planner_offline_refuses_a_prompt_naming_the_inputs_that_work(tmp_path: Path) -> None:
    h = prompt_planner(tmp_path, None)
    run_request(h, planning())
    error = failure(h.on("failed")[0]).error
    assert error.code is ErrorCode.INVALID_INPUT and error.message == OFFLINE_INPUTS
    assert not h.on("completed")


def test_planner_structured_input_with_a_model_uses_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []

    def with_agent(requirements: Any, model: Any, **kw: Any) -> ChartPlan:
        used.append(requirements.name)
        return plan_chart(requirements)

    monkeypatch.setattr("services.planner.agent.plan_with_agent", with_agent)
    h = harness(build_planner(settings(PlannerSettings, data_dir=tmp_path)), planner_graph(MODEL))
    h.artifacts.files[("wf-1", "input")] = {"requirements.json": json.dumps(REQUIREMENTS).encode()}
    run_request(h, planning())
    assert used == ["demo"] and h.on("completed")
    assert h.runs("read_prompt") == 0


@pytest.mark.parametrize(
    ("raised", "code", "escalate"),
    [
        (
            ClarificationNeeded(["Which image runs the web server?"]),
            ErrorCode.INVALID_INPUT,
            "clarification",
        ),
        (
            EscalationNeeded("the model gave 3 invalid plan answers", errors=["x"]),
            ErrorCode.INVALID_OUTPUT,
            "invalid_output",
        ),
    ],
)
def test_planner_agent_refusals_become_failures_with_their_codes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    code: ErrorCode,
    escalate: str,
) -> None:
    def refuse(*args: Any, **kw: Any) -> Any:
        raise raised

    monkeypatch.setattr("services.planner.agent.requirements_from_prompt", refuse)
    h = prompt_planner(tmp_path, MODEL)
    run_request(h, planning())
    error = failure(h.on("failed")[0]).error
    assert error.code is code and error.details["escalate"] == escalate
    # A question for a human is an answer, not poison: failed, never dead-lettered.
    assert not h.on("deadletter") and h.count("failed") == 1
    if isinstance(raised, ClarificationNeeded):
        assert error.details["questions"] == ["Which image runs the web server?"]


# --------------------------------------------------------------------------- generator


def _edit_values(chart_dir: Path, plan: ChartPlan, model: Any, **kw: Any) -> ChartResult:
    """A stand-in agent: one harmless edit to values.yaml, reported with the real diff."""
    before = snapshot(chart_dir)
    report = validate_chart(chart_dir)
    values = chart_dir / "values.yaml"
    values.write_text(values.read_text() + "# tuned by the agent\n")
    return ChartResult(
        chart_dir=chart_dir,
        engine_report=report,
        report=report,
        diff=unified_diff(before, snapshot(chart_dir)),
        accepted=["values.yaml"],
    )


def generation_request(h: Any) -> SwarmRequest:
    """A generation request with the approved plan stored."""
    plan = plan_chart(parse_requirements(REQUIREMENTS))
    h.artifacts.files[("wf-g", "plan.approved")] = {"result.json": plan.model_dump_json().encode()}
    return SwarmRequest(
        workflow_id="wf-g",
        swarm=Swarm.GENERATION,
        input_refs=[ArtifactRef(workflow_id="wf-g", kind="plan.approved")],
    )


@pytest.mark.slow
def test_generator_stores_the_agents_chart_and_the_engine_vs_agent_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def agent(chart_dir: Path, plan: ChartPlan, model: Any, **kw: Any) -> ChartResult:
        seen.update(kw)
        return _edit_values(chart_dir, plan, model)

    monkeypatch.setattr("services.generator.agent.improve_chart", agent)
    h = harness(
        build_generator(settings(GeneratorSettings, data_dir=tmp_path)), generator_graph(MODEL)
    )
    run_request(h, generation_request(h))
    payload = result(h.on("completed")[0])
    assert [a.kind for a in payload.artifacts] == ["chart.1", "agent-diff.1"]
    chart = h.artifacts.files[("wf-g", "chart.1")]
    assert chart["values.yaml"].endswith(b"# tuned by the agent\n")
    assert "agent.diff" not in chart, "the diff is not part of the chart"
    diff = h.artifacts.files[("wf-g", "agent-diff.1")]["agent.diff"].decode()
    assert "+# tuned by the agent" in diff and "values.yaml" in diff
    assert payload.summary["agent"] == {"accepted": 1, "rolledBack": 0}
    assert seen == {"workflow_id": "wf-g", "gate": "security_review"}


@pytest.mark.slow
def test_generator_offline_stores_no_diff(tmp_path: Path) -> None:
    h = harness(build_generator(settings(GeneratorSettings, data_dir=tmp_path)), generator_graph())
    run_request(h, generation_request(h))
    assert [a.kind for a in result(h.on("completed")[0]).artifacts] == ["chart.1"]
    assert h.runs("improve") == 0 and ("wf-g", "agent-diff.1") not in h.artifacts.files


# --------------------------------------------------------------------------- gateway


def fail_planning_once(error: ErrorContext) -> Callable[[SwarmRequest], ErrorContext | None]:
    """An intercept that fails the first planning request with `error`."""
    sent: list[int] = []

    def intercept(request: SwarmRequest) -> ErrorContext | None:
        if request.swarm is Swarm.PLANNING and not sent:
            sent.append(request.attempt)
            return error
        return None

    return intercept


def test_clarification_opens_error_review_with_the_questions(tmp_path: Path) -> None:
    error = ClarificationNeeded(["Which image runs the web server?"]).context("planning", 1)
    world = MemoryWorld(fail_planning_once(error))
    app = create_app(gateway_settings(tmp_path, model="openai:gpt-fake"), resources=world)
    with TestClient(app) as client:
        wf = submit(client, prompt="a web server on 8080")
        body = wait_for(client, wf, at_gate("error_review"))
        gate = body["pending_gate"]
        assert gate["questions"] == ["Which image runs the web server?"]
        assert gate["error"]["code"] == "invalid_input" and gate["step"] == "dispatch_planning"
        client.post(
            f"/v1/workflows/{wf}/decisions",
            json={
                "gate": "error_review",
                "decision": "reject",
                "comment": "resubmit with the image",
            },
        )
        body = wait_for(client, wf, ended)
        assert body["status"] == "failed" and body["error"]["details"]["questions"]


def test_invalid_output_escalation_opens_error_review_at_once_and_approve_replans(
    tmp_path: Path,
) -> None:
    error = EscalationNeeded(
        "the model gave 3 invalid plan answers", errors=["components: missing"]
    )
    world = MemoryWorld(fail_planning_once(error.context("planning", 1)))
    with TestClient(create_app(gateway_settings(tmp_path), resources=world)) as client:
        wf = submit(client, requirements=SPEC)
        body = wait_for(client, wf, at_gate("error_review"))
        assert body["pending_gate"]["error"]["code"] == "invalid_output"
        assert body["pending_gate"]["error"]["details"]["errors"] == ["components: missing"]
        assert len([r for r in world.swarms.requests if r.swarm is Swarm.PLANNING]) == 1, (
            "no silent retry"
        )
        approve(client, wf, "error_review", comment="try again")
        wait_for(client, wf, at_gate("planning_review"))


def test_security_review_shows_the_agents_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_answer = gateway_testing.answer
    diff = "--- engine/values.yaml\n+++ agent/values.yaml\n+# tuned\n"

    async def with_diff(request: SwarmRequest, artifacts: Any) -> Any:
        payload = await real_answer(request, artifacts)
        if request.swarm is Swarm.GENERATION and isinstance(payload, SwarmResult):
            ref = await artifacts.put_files(
                request.workflow_id, f"agent-diff.{request.attempt}", {"agent.diff": diff.encode()}
            )
            payload = payload.model_copy(update={"artifacts": [*payload.artifacts, ref]})
        return payload

    monkeypatch.setattr(gateway_testing, "answer", with_diff)
    world = MemoryWorld()
    with TestClient(create_app(gateway_settings(tmp_path), resources=world)) as client:
        wf = submit(client, requirements=SPEC, options={"auto_approve": ["planning_review"]})
        body = wait_for(client, wf, at_gate("security_review"))
        assert body["pending_gate"]["agent_diff"] == diff
        approve(client, wf, "security_review")
        wait_for(client, wf, at_gate("deployment_approval"))
        approve(client, wf, "deployment_approval")
        assert wait_for(client, wf, ended)["status"] == "completed"


def test_security_review_offline_has_no_agent_diff(tmp_path: Path) -> None:
    with TestClient(create_app(gateway_settings(tmp_path), resources=MemoryWorld())) as client:
        wf = submit(client, requirements=SPEC, options={"auto_approve": ["planning_review"]})
        body = wait_for(client, wf, at_gate("security_review"))
        assert body["pending_gate"]["agent_diff"] is None


def test_answers_to_a_clarification_reach_the_planner_and_planning_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, dict[str, bytes]]] = []

    async def planner(request: SwarmRequest, artifacts: Any) -> Any:
        files = await artifacts.get_files(request.workflow_id, "input")
        seen.append((request.attempt, files))
        plan = plan_chart(parse_requirements(REQUIREMENTS))  # what the planner makes of the answers
        ref = await artifacts.put_files(
            request.workflow_id,
            f"plan.{request.attempt}",
            {"result.json": plan.model_dump_json().encode()},
        )
        return SwarmResult(
            workflow_id=request.workflow_id,
            attempt=request.attempt,
            swarm=request.swarm,
            artifacts=[ref],
        )

    monkeypatch.setattr(gateway_testing, "answer", planner)
    error = ClarificationNeeded(["Which image runs the web server?"]).context("planning", 1)
    world = MemoryWorld(fail_planning_once(error))
    app = create_app(gateway_settings(tmp_path, model="openai:gpt-fake"), resources=world)
    with TestClient(app) as client:
        wf = submit(client, prompt="a web server on 8080")
        wait_for(client, wf, at_gate("error_review"))
        url = f"/v1/workflows/{wf}/decisions"
        bad = client.post(
            url, json={"gate": "error_review", "decision": "edit", "changes": {"plan": {}}}
        )
        assert bad.status_code == 422 and "answers" in bad.text
        client.post(
            url,
            json={
                "gate": "error_review",
                "decision": "edit",
                "changes": {"answers": "ghcr.io/acme/web:1.2"},
            },
        ).raise_for_status()
        wait_for(client, wf, at_gate("planning_review"))
    attempts = [r.attempt for r in world.swarms.requests if r.swarm is Swarm.PLANNING]
    assert attempts == [1, 2], "planning runs again with a new attempt"
    [(attempt, files)] = seen
    assert attempt == 2 and files["prompt.txt"] == b"a web server on 8080"
    assert files["answers.txt"] == b"ghcr.io/acme/web:1.2"


def test_planner_passes_the_reviewers_answers_with_the_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: list[tuple[str, str | None]] = []

    def from_prompt(prompt: str, model: Any, *, answers: str | None = None, **kw: Any) -> Any:
        got.append((prompt, answers))
        return parse_requirements(REQUIREMENTS)

    monkeypatch.setattr("services.planner.agent.requirements_from_prompt", from_prompt)
    monkeypatch.setattr(
        "services.planner.agent.plan_with_agent",
        lambda requirements, model, **kw: plan_chart(requirements),
    )
    h = prompt_planner(tmp_path, MODEL)
    h.artifacts.files[("wf-1", "input")]["answers.txt"] = b"ghcr.io/acme/web:1.2"
    run_request(h, planning(attempt=2))
    assert got == [(PROMPT, "ghcr.io/acme/web:1.2")]
    assert h.on("completed") and ("wf-1", "plan.2") in h.artifacts.files
