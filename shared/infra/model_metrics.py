"""Model calls and tokens as Prometheus counters, through a LangChain callback handler.

Attach `ModelMetrics.handler(swarm)` to the config of whatever invokes a model or an agent:

    await agent.ainvoke(inputs, config={"callbacks": [metrics.models.handler("planning")]})

`SwarmService.run` already puts it in its graph config, and LangChain hands a parent run's
callbacks down to every child run, so a model called from inside a swarm node is counted
without anything else. Labels are the swarm and the model name, both bounded sets.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from prometheus_client import Counter

from shared.infra.metrics import MetricSet

_MODEL_NAME_MAX = 64
TOKEN_KINDS = ("input", "output")


class ModelMetrics:
    """`autopilot_model_calls_total{swarm,model}` and `autopilot_model_tokens_total{swarm,model,kind}`."""

    def __init__(self, metrics: MetricSet) -> None:
        self.calls: Counter = metrics.counter(
            "autopilot_model_calls",
            "Chat model calls that returned (LLM mode), by swarm and model.",
            ["swarm", "model"],
        )
        self.tokens: Counter = metrics.counter(
            "autopilot_model_tokens",
            "Tokens the model reported, by swarm, model and kind (input, output).",
            ["swarm", "model", "kind"],
        )
        self.errors: Counter = metrics.counter(
            "autopilot_model_errors",
            "Chat model calls that raised, by swarm and model.",
            ["swarm", "model"],
        )

    def handler(self, swarm: str) -> ModelMetricsHandler:
        """A callback handler counting into these metrics under `swarm`."""
        return ModelMetricsHandler(self, swarm)


def _model_name(*candidates: Any) -> str:
    """The first non-empty model name, bounded in length; `unknown` when none is given."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()[:_MODEL_NAME_MAX]
    return "unknown"


def _usage(response: LLMResult) -> tuple[int, int, str | None]:
    """Input and output tokens summed over the generations, and a model name if reported."""
    tokens_in = tokens_out = 0
    model: str | None = None
    for generation in (g for gens in response.generations for g in gens):
        if not isinstance(generation, ChatGeneration):
            continue
        message = generation.message
        usage = getattr(message, "usage_metadata", None) or {}
        tokens_in += int(usage.get("input_tokens", 0))
        tokens_out += int(usage.get("output_tokens", 0))
        meta = message.response_metadata or {}
        model = model or meta.get("model_name") or meta.get("model")
    if not tokens_in and not tokens_out:
        # Older integrations report usage only in llm_output (OpenAI style).
        usage = (response.llm_output or {}).get("token_usage") or {}
        tokens_in = int(usage.get("prompt_tokens", 0))
        tokens_out = int(usage.get("completion_tokens", 0))
    model = model or (response.llm_output or {}).get("model_name")
    return tokens_in, tokens_out, model


class ModelMetricsHandler(BaseCallbackHandler):
    """Counts each chat model call and its tokens when it ends (or its error)."""

    # Counting is a few dict updates: run it inline instead of in LangChain's thread pool.
    run_inline = True

    def __init__(self, metrics: ModelMetrics, swarm: str) -> None:
        self.metrics = metrics
        self.swarm = swarm
        self._models: dict[UUID, str] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the model name LangChain announces for this run."""
        params = kwargs.get("invocation_params") or {}
        self._models[run_id] = _model_name(
            (metadata or {}).get("ls_model_name"), params.get("model"), params.get("model_name")
        )

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Plain (non-chat) models: remember the name the same way."""
        self.on_chat_model_start(serialized, [], run_id=run_id, **kwargs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Count the call and its reported tokens."""
        tokens_in, tokens_out, reported = _usage(response)
        known = self._models.pop(run_id, None)
        model = _model_name(known if known != "unknown" else None, reported)
        self.metrics.calls.labels(self.swarm, model).inc()
        if tokens_in:
            self.metrics.tokens.labels(self.swarm, model, "input").inc(tokens_in)
        if tokens_out:
            self.metrics.tokens.labels(self.swarm, model, "output").inc(tokens_out)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a failed call."""
        model = self._models.pop(run_id, None) or "unknown"
        self.metrics.errors.labels(self.swarm, model).inc()
