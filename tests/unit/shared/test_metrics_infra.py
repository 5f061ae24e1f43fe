"""The metrics plumbing: the on/off switch, checkpoint write timing, model call counting."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import StateGraph
from prometheus_client import generate_latest

from services.gateway.metrics import GatewayMetrics
from shared.infra.checkpoint import time_writes
from shared.infra.metrics import MetricSet, checkpoint_histogram
from shared.infra.model_metrics import ModelMetrics
from shared.swarm.metrics import SwarmMetrics


class CountingModel(BaseChatModel):
    """A chat model that answers "ok" and reports 7 input and 2 output tokens."""

    model_name: str = "tiny-1"

    @property
    def _llm_type(self) -> str:
        return "counting"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        usage = {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
        message = AIMessage(content="ok", usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_disabled_metrics_are_no_ops_with_the_same_call_sites() -> None:
    off = SwarmMetrics(enabled=False)
    off.requests.labels("planning", "completed").inc()
    off.duration.labels("planning").observe(1.0)
    off.models.tokens.labels("planning", "m", "input").inc(3)
    assert generate_latest(off.registry) == b""
    gateway = GatewayMetrics(enabled=False)
    gateway.finished("completed", "requirements", 1.0)
    gateway.gate_decided({"planning_review": "approved"})
    assert gateway.render() == b""


def test_checkpoint_writes_are_timed_per_op() -> None:
    metrics = MetricSet()
    saver = time_writes(InMemorySaver(), checkpoint_histogram(metrics))
    graph: StateGraph[dict[str, Any]] = StateGraph(dict)
    graph.add_node("step", lambda state: {"x": 1})
    graph.set_entry_point("step")
    compiled = graph.compile(checkpointer=saver)
    asyncio.run(compiled.ainvoke({"x": 0}, {"configurable": {"thread_id": "t"}}))
    count = metrics.registry.get_sample_value
    assert (count("autopilot_checkpoint_write_seconds_count", {"op": "checkpoint"}) or 0) >= 2
    assert (count("autopilot_checkpoint_write_seconds_count", {"op": "writes"}) or 0) >= 1


def test_model_calls_and_tokens_are_counted_through_inherited_callbacks() -> None:
    models = ModelMetrics(MetricSet())
    model = CountingModel()

    async def node(text: str) -> str:
        # No config passed on: the callback arrives through LangChain's run context.
        return str((await model.ainvoke(text)).content)

    outer = RunnableLambda(node)
    config: Any = {"callbacks": [models.handler("planning")]}
    assert asyncio.run(outer.ainvoke("hi", config)) == "ok"
    asyncio.run(outer.ainvoke("again", config))
    value = models.calls._metrics  # noqa: SLF001 - label children, to show no other labels exist
    assert list(value) == [("planning", "tiny-1")]
    assert models.calls.labels("planning", "tiny-1")._value.get() == 2  # noqa: SLF001
    assert models.tokens.labels("planning", "tiny-1", "input")._value.get() == 14  # noqa: SLF001
    assert models.tokens.labels("planning", "tiny-1", "output")._value.get() == 4  # noqa: SLF001


def test_gate_gauges_count_waits_and_age_per_gate() -> None:
    from datetime import UTC, datetime, timedelta

    metrics = GatewayMetrics()
    now = datetime.now(UTC)
    metrics.set_gates(
        [("security_review", now - timedelta(seconds=30)), ("security_review", now)], now
    )
    value = metrics.registry.get_sample_value
    assert value("autopilot_gate_pending", {"gate": "security_review"}) == 2
    assert value("autopilot_gate_oldest_pending_seconds", {"gate": "security_review"}) == 30
    assert value("autopilot_gate_pending", {"gate": "planning_review"}) == 0
