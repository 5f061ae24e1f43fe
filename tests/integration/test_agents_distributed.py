"""LLM mode through the distributed system: `autopilot up` with AUTOPILOT_MODEL pointing at the
fake OpenAI server, prompts submitted over the gateway's HTTP API.

The fake runs in this process on 127.0.0.1; the planner and generator services are separate
processes that reach it over loopback, so each script decides its reply from the tools the
request offers (and the prompt it carries), never from a call count.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli.demo import scratch_dir, start_system, stop_system
from services.planner.engine import plan_chart
from shared.models.requirements import ChartRequirements
from tests import gateway_client
from tests.fakes.openai_server import FakeOpenAI, Reply, text, tool_call

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMPT = "A web app from image ghcr.io/acme/web:1.2 listening on 8080, and a redis cache."
SPEC: dict[str, Any] = {
    "name": "web",
    "components": [{"name": "web", "image": "ghcr.io/acme/web:1.2", "ports": [{"port": 8080}]}],
}
GATES = ["planning_review", "security_review", "deployment_approval"]
CLARIFY = "CLARIFY-ME"


def tools_of(request: dict[str, Any]) -> set[str]:
    """Names of the tools a chat-completions request offers."""
    return {t["function"]["name"] for t in request.get("tools", [])}


def happy(request: dict[str, Any], index: int) -> Reply:
    """The script of test_cli_generate_model_flag_drives_the_agents (test_agents.py)."""
    names = tools_of(request)
    if "ChartRequirements" in names:
        return tool_call("ChartRequirements", SPEC)
    if "ChartPlan" in names:
        return tool_call("ChartPlan", plan_chart(ChartRequirements.model_validate(SPEC)).dump())
    return text("clean")


def garbage_or_questions(request: dict[str, Any], index: int) -> Reply:
    """Questions for the prompt that asks for them, garbage for everything else."""
    if "ChartRequirements" in tools_of(request) and CLARIFY in str(request.get("messages")):
        return tool_call("AskForClarification", {"questions": ["Which image runs the web app?"]})
    return text("~~ lorem ipsum, no tool call at all ~~")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("autopilot-llm-up-") as path:
        yield path


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    yield server
    server.stop()


def model_env(fake: FakeOpenAI) -> dict[str, str]:
    """What `autopilot up` passes on to every service to use the fake."""
    return {
        "AUTOPILOT_MODEL": "openai:gpt-fake",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-dummy",
        "AUTOPILOT_MODEL_MAX_RETRIES": "1",
    }


def submit_prompt(url: str, prompt: str, auto_approve: list[str]) -> str:
    """POST a prompt; the workflow id."""
    body = {"prompt": prompt, "options": {"auto_approve": auto_approve}}
    response = httpx.post(f"{url}/v1/workflows", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_for(
    url: str, wf: str, check: Callable[[dict[str, Any]], bool], timeout: float = 240
) -> dict[str, Any]:
    """The workflow's state once `check` holds (model calls are slow: polled every 0.5 s)."""
    return gateway_client.wait_for(url, wf, check, timeout, interval=0.5)


def unpack(archive: bytes) -> dict[str, bytes]:
    """The chart archive's files by path inside the chart, as test_system compares them."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.split("/", 1)[1]] = extracted.read()
    return {k: v for k, v in files.items() if _compared(Path(k))}


def _compared(rel: Path) -> bool:
    # helm package rewrites Chart.yaml and drops .helmignore'd files; compare what it keeps verbatim.
    return rel.parts[0] in ("templates", "ci") or rel.name in (
        "values.yaml",
        "values.schema.json",
        "README.md",
    )


def cli_chart(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """What `autopilot generate --model` writes for the same prompt and script."""
    from services.cli.main import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    source = tmp_path / "prompt.txt"
    source.write_text(PROMPT)
    out = tmp_path / "cli"
    assert (
        main(
            [
                "generate",
                str(source),
                "-o",
                str(out),
                "--yes",
                "--json",
                "--model",
                "openai:gpt-fake",
            ]
        )
        == 0
    )
    chart = out / "web"
    return {
        str(p.relative_to(chart)): p.read_bytes()
        for p in chart.rglob("*")
        if p.is_file() and _compared(p.relative_to(chart))
    }


@pytest.mark.timeout(420)
def test_prompt_through_the_system_gives_the_cli_chart(
    data_dir: Path,
    tmp_path: Path,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.script = happy
    expected = cli_chart(fake, tmp_path, monkeypatch)
    capsys.readouterr()
    cli_calls = fake.stats.calls
    system = start_system(data_dir, **model_env(fake))
    try:
        wf = submit_prompt(
            system.url, PROMPT, auto_approve=["planning_review", "deployment_approval"]
        )
        body = wait_for(
            system.url,
            wf,
            lambda b: (
                b.get("pending_gate") is not None
                or b["status"] in ("completed", "failed", "rejected")
            ),
        )
        assert (body.get("pending_gate") or {}).get("gate") == "security_review", body
        assert body["pending_gate"]["agent_diff"] == "", "the agent answered 'clean': no edits"
        decision = {"gate": "security_review", "decision": "approve", "comment": "agent diff read"}
        assert (
            httpx.post(
                f"{system.url}/v1/workflows/{wf}/decisions", json=decision, timeout=30
            ).status_code
            == 200
        )
        body = wait_for(
            system.url, wf, lambda b: b["status"] in ("completed", "failed", "rejected")
        )
        assert body["status"] == "completed", body
        assert body["validation"]["passed"] is True
        archive = httpx.get(f"{system.url}/v1/workflows/{wf}/chart.tgz", timeout=30)
        assert archive.status_code == 200
        assert unpack(archive.content) == expected
        assert fake.stats.calls > cli_calls, "the services called the model"
        # Model calls and tokens are counted per swarm and model (issue 5's metrics).
        from tests.integration.test_metrics import metrics_urls, scrape, value

        planner = scrape(metrics_urls(system)["planner"])
        assert value(planner, "autopilot_model_calls_total", swarm="planning") >= 1
        assert value(planner, "autopilot_model_tokens_total", swarm="planning") > 0
    finally:
        stop_system(system)


@pytest.mark.timeout(420)
def test_garbage_and_clarification_end_at_error_review(data_dir: Path, fake: FakeOpenAI) -> None:
    fake.script = garbage_or_questions
    system = start_system(data_dir, **model_env(fake))
    try:
        garbage = submit_prompt(system.url, PROMPT, auto_approve=GATES)
        question = submit_prompt(system.url, f"{CLARIFY}: a web app on 8080", auto_approve=GATES)

        def at_review(b: dict[str, Any]) -> bool:
            gate = (b.get("pending_gate") or {}).get("gate")
            return gate == "error_review" or b["status"] in ("completed", "failed", "rejected")

        body = wait_for(system.url, garbage, at_review)
        assert body["status"] == "waiting_for_approval", body
        error = body["pending_gate"]["error"]
        assert (
            error["code"] == "invalid_output" and error["details"]["escalate"] == "invalid_output"
        )
        body = wait_for(system.url, question, at_review)
        assert body["status"] == "waiting_for_approval", body
        assert body["pending_gate"]["questions"] == ["Which image runs the web app?"]
        reject = {
            "gate": "error_review",
            "decision": "reject",
            "comment": "resubmit with the image",
        }
        assert (
            httpx.post(
                f"{system.url}/v1/workflows/{question}/decisions", json=reject, timeout=30
            ).status_code
            == 200
        )
        body = wait_for(
            system.url, question, lambda b: b["status"] in ("completed", "failed", "rejected")
        )
        assert body["status"] == "failed"
    finally:
        stop_system(system)


ANSWER = "The web app runs ghcr.io/acme/web:1.2."


def questions_until_answered(request: dict[str, Any], index: int) -> Reply:
    """Asks which image until the answers name it, then plans as `happy` does."""
    if "ChartRequirements" in tools_of(request) and ANSWER not in str(request.get("messages")):
        return tool_call("AskForClarification", {"questions": ["Which image runs the web app?"]})
    return happy(request, index)


@pytest.mark.timeout(420)
def test_answers_at_error_review_reach_the_planner_and_the_workflow_completes(
    data_dir: Path, fake: FakeOpenAI
) -> None:
    fake.script = questions_until_answered
    system = start_system(data_dir, **model_env(fake))
    try:
        wf = submit_prompt(system.url, "a web app on 8080", auto_approve=GATES)
        body = wait_for(
            system.url,
            wf,
            lambda b: (
                b.get("pending_gate") is not None
                or b["status"] in ("completed", "failed", "rejected")
            ),
        )
        assert body["pending_gate"]["questions"] == ["Which image runs the web app?"], body
        answer = {"gate": "error_review", "decision": "edit", "changes": {"answers": ANSWER}}
        response = httpx.post(f"{system.url}/v1/workflows/{wf}/decisions", json=answer, timeout=30)
        assert response.status_code == 200, response.text
        body = wait_for(
            system.url, wf, lambda b: b["status"] in ("completed", "failed", "rejected")
        )
        assert body["status"] == "completed", body
        assert body["validation"]["passed"] is True
    finally:
        stop_system(system)
