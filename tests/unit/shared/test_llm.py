"""Model selection, startup errors, tracing, error classes, the fake server and the confined backend."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deepagents.backends import FilesystemBackend

from services.cli.agentic import OFFLINE_INPUTS, prompt_of, take_input
from shared.errors import (
    ClarificationNeeded,
    EscalationNeeded,
    InputError,
    ModelCallError,
    ModelConfigError,
)
from shared.events import Swarm
from shared.llm import (
    LLMSettings,
    classify_model_error,
    configure_tracing,
    init_model,
    load_model,
    run_config,
)
from shared.models.workflow import ErrorCode
from tests.fakes.openai_server import FakeOpenAI, status, text, tool_call

ENV_VARS = (
    "AUTOPILOT_MODEL",
    "AUTOPILOT_PLANNER_MODEL",
    "AUTOPILOT_GENERATOR_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "LANGSMITH_TRACING",
    "LANGSMITH_API_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No model variables leak in from the machine."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_is_the_default() -> None:
    assert LLMSettings().model == "offline"
    assert load_model(Swarm.PLANNING) is None
    assert load_model(Swarm.GENERATION) is None


def test_per_swarm_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_GENERATOR_MODEL", "anthropic:claude-x")
    settings = LLMSettings()
    assert settings.model_for(Swarm.PLANNING) == "offline"
    assert settings.model_for(Swarm.GENERATION) == "anthropic:claude-x"
    with pytest.raises(ModelConfigError) as info:
        load_model(Swarm.GENERATION)
    assert info.value.field == "ANTHROPIC_API_KEY"
    assert load_model(Swarm.PLANNING) is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_MODEL_TEMPERATURE", "0.3")
    monkeypatch.setenv("AUTOPILOT_MODEL_TIMEOUT", "9")
    monkeypatch.setenv("AUTOPILOT_MODEL_MAX_TOKENS", "1000")
    monkeypatch.setenv("AUTOPILOT_MODEL_MAX_RETRIES", "1")
    settings = LLMSettings()
    assert (settings.temperature, settings.timeout, settings.max_tokens, settings.max_retries) == (
        0.3,
        9,
        1000,
        1,
    )


def test_bad_model_string_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_MODEL", "gpt-4")
    with pytest.raises(ModelConfigError) as info:
        load_model(Swarm.PLANNING)
    assert info.value.field == "AUTOPILOT_MODEL"
    assert "provider:model" in str(info.value)


def test_missing_openai_key_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOPILOT_MODEL", "openai:gpt-4.1")
    with pytest.raises(ModelConfigError) as info:
        load_model(Swarm.PLANNING)
    assert info.value.field == "OPENAI_API_KEY"
    assert "OPENAI_API_KEY is not set" in str(info.value)


def test_missing_anthropic_key_is_a_startup_error() -> None:
    with pytest.raises(ModelConfigError, match="ANTHROPIC_API_KEY"):
        init_model("anthropic:claude-sonnet-4-5")


def test_missing_provider_package_names_it() -> None:
    with pytest.raises(ModelConfigError, match="langchain-nosuch"):
        init_model("nosuch:model")


def test_unreachable_base_url_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AUTOPILOT_MODEL", "openai:local-model")
    with pytest.raises(ModelConfigError) as info:
        load_model(Swarm.PLANNING)
    assert info.value.field == "OPENAI_BASE_URL"
    assert "unreachable" in str(info.value)


def test_base_url_model_against_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI([text("hello")]) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("AUTOPILOT_MODEL", "openai:gpt-fake")
        monkeypatch.setenv("AUTOPILOT_MODEL_MAX_RETRIES", "1")
        model = load_model(Swarm.PLANNING)  # no OPENAI_API_KEY needed for a compatible server
        assert model is not None
        assert model.max_retries == 1  # type: ignore[attr-defined]
        assert model.invoke("hi").content == "hello"
        assert fake.requests[0]["model"] == "gpt-fake"
        assert fake.requests[0]["temperature"] == 0.0


def test_fake_streams_tool_calls_and_usage() -> None:
    from langchain_openai import ChatOpenAI

    with FakeOpenAI([tool_call("lookup", {"image": "redis"})]) as fake:
        model = ChatOpenAI(
            model="gpt-fake",
            base_url=fake.base_url,
            api_key="k",  # type: ignore[arg-type]
            streaming=True,
            stream_usage=True,
        )
        reply = model.invoke("x")
        assert reply.tool_calls[0]["name"] == "lookup"
        assert reply.tool_calls[0]["args"] == {"image": "redis"}
        assert reply.usage_metadata and reply.usage_metadata["total_tokens"] > 0
        assert fake.requests[0]["stream"] is True


def test_fake_retry_after_is_honoured() -> None:
    from langchain_openai import ChatOpenAI

    with FakeOpenAI([status(429, retry_after=0), text("ok")]) as fake:
        model = ChatOpenAI(model="gpt-fake", base_url=fake.base_url, api_key="k", max_retries=2)  # type: ignore[arg-type]
        assert model.invoke("x").content == "ok"
        assert len(fake.requests) == 2


def test_tracing_needs_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure_tracing({}) is False
    assert configure_tracing({"LANGSMITH_TRACING": "true"}) is False
    assert configure_tracing({"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "k"}) is True
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    assert configure_tracing() is False
    assert os.environ["LANGSMITH_TRACING"] == "false"  # never required: switched off, not failed


def test_run_config_carries_workflow_swarm_and_gate() -> None:
    config = run_config(
        workflow_id="wf-1", swarm=Swarm.PLANNING, gate="planning_review", recursion_limit=50
    )
    assert config["metadata"] == {
        "workflow_id": "wf-1",
        "swarm": "planner",
        "gate": "planning_review",
    }
    assert {"workflow_id:wf-1", "swarm:planner", "gate:planning_review"} <= set(config["tags"])
    assert config["recursion_limit"] == 50


def test_error_classification() -> None:
    import httpx
    import openai

    request = httpx.Request("POST", "http://x/v1/chat/completions")
    limited = openai.RateLimitError(
        "slow down", response=httpx.Response(429, request=request), body=None
    )
    err = classify_model_error(limited)
    assert isinstance(err, ModelCallError) and err.code == ErrorCode.RATE_LIMIT
    assert err.context().retryable
    assert (
        classify_model_error(openai.APIConnectionError(request=request)).code == ErrorCode.TRANSIENT
    )
    from langgraph.errors import GraphRecursionError

    assert isinstance(classify_model_error(GraphRecursionError("loop")), EscalationNeeded)
    assert EscalationNeeded("x").code == ErrorCode.INVALID_OUTPUT
    assert ClarificationNeeded(["Which image?"]).questions == ["Which image?"]


def test_prompt_without_a_model_names_the_offline_inputs() -> None:
    with pytest.raises(InputError) as info:
        take_input(b'{"prompt": "a redis cache for my api"}', None)
    assert str(info.value).endswith(OFFLINE_INPUTS)
    assert "requirements spec" in str(info.value) and "Compose" in str(info.value)
    with pytest.raises(InputError, match="needs a model"):
        take_input(b"deploy nginx with two replicas please", None)


def test_structured_inputs_are_not_prompts() -> None:
    assert prompt_of(b"name: x\ncomponents: []\n") is None
    assert prompt_of(b"services:\n  web:\n    image: nginx\n") is None
    assert prompt_of(b'{"prompt": "redis"}') == "redis"


# --- the generation agent's backend cannot escape its workspace ------------------------------


@pytest.fixture
def confined(tmp_path: Path) -> tuple[FilesystemBackend, Path, Path]:
    """A FilesystemBackend on a chart workspace, with a secret file outside it."""
    root = tmp_path / "chart"
    root.mkdir()
    (root / "values.yaml").write_text("a: 1\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    return FilesystemBackend(root_dir=root, virtual_mode=True), root, outside


def refused(call: Callable[[], Any]) -> bool:
    """A backend refuses by raising ValueError/OSError or by returning an error."""
    try:
        result = call()
    except (ValueError, OSError):
        return True
    return bool(result.error)


def inside(root: Path) -> set[str]:
    """Every path under root (to prove nothing landed elsewhere)."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "/../outside.txt", "/templates/../../outside.txt", "..\\outside.txt/.."],
)
def test_backend_refuses_traversal(
    confined: tuple[FilesystemBackend, Path, Path], path: str
) -> None:
    backend, _, outside = confined
    assert refused(lambda: backend.write(path, "pwned"))
    assert refused(lambda: backend.read(path))
    assert refused(lambda: backend.edit(path, "secret", "pwned"))
    assert outside.read_text() == "secret\n"


@pytest.mark.parametrize("path", ["~/outside.txt", "~root/.bashrc", "~"])
def test_backend_tilde_is_never_home(
    confined: tuple[FilesystemBackend, Path, Path], path: str
) -> None:
    backend, root, _ = confined
    bashrc = Path.home() / ".bashrc"
    before = bashrc.read_bytes() if bashrc.is_file() else None
    if not refused(lambda: backend.write(path + "x", "pwned")):
        assert any(p.endswith("x") for p in inside(root))  # a literal '~' folder in the workspace
    assert (bashrc.read_bytes() if bashrc.is_file() else None) == before
    assert not (Path.home() / "outside.txtx").exists()


def test_backend_maps_absolute_paths_into_the_root(
    confined: tuple[FilesystemBackend, Path, Path],
) -> None:
    backend, root, _ = confined
    result = backend.write("/etc/passwd", "pwned")
    assert result.error is None
    assert (root / "etc" / "passwd").read_text() == "pwned"  # inside the workspace, not /etc
    assert "pwned" not in Path("/etc/passwd").read_text()


def test_backend_refuses_symlinks_out(confined: tuple[FilesystemBackend, Path, Path]) -> None:
    backend, root, outside = confined
    (root / "link.txt").symlink_to(outside)
    (root / "linkdir").symlink_to(outside.parent)
    assert refused(lambda: backend.write("/link.txt", "pwned"))
    assert refused(lambda: backend.edit("/link.txt", "secret", "pwned"))
    assert refused(lambda: backend.write("/linkdir/outside.txt", "pwned"))
    assert refused(lambda: backend.read("/linkdir/outside.txt"))
    assert outside.read_text() == "secret\n"
