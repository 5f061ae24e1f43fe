"""Prometheus metrics of one swarm service."""

from __future__ import annotations

from shared.infra.metrics import MetricSet, checkpoint_histogram
from shared.infra.model_metrics import ModelMetrics


class SwarmMetrics:
    """Prometheus metrics on a registry of their own (one per service object, not global)."""

    def __init__(self, enabled: bool = True) -> None:
        metrics = MetricSet(enabled)
        self.registry = metrics.registry
        self.requests = metrics.counter(
            "autopilot_swarm_requests", "Swarm requests handled, by outcome.", ["swarm", "outcome"]
        )
        self.duration = metrics.histogram(
            "autopilot_swarm_duration_seconds",
            "Time from receiving a request to its ack or nak.",
            ["swarm"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.failures = metrics.counter(
            "autopilot_swarm_failures",
            "Exceptions while handling a request, by error class (retries included).",
            ["swarm", "error_class"],
        )
        self.retries = metrics.counter(
            "autopilot_swarm_retries",
            "Deliveries handed back to JetStream for a later retry, by error class.",
            ["swarm", "error_class"],
        )
        self.dead_letters = metrics.counter(
            "autopilot_dead_letters", "Messages published to the dead-letter subject.", ["swarm"]
        )
        self.node_runs = metrics.counter(
            "autopilot_swarm_node_runs",
            "Graph node executions (a resumed node that did not re-run is not counted).",
            ["swarm", "node"],
        )
        self.checkpoint_write = checkpoint_histogram(metrics)
        self.models = ModelMetrics(metrics)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never set); for tests and diagnostics."""
        return self.registry.get_sample_value(name, labels) or 0.0
