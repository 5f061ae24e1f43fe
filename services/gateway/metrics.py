"""Prometheus metrics of the gateway; one registry per app so tests can build many apps.

Labels are bounded sets (input kind, gate, decision, swarm): never workflow ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class GatewayMetrics:
    """Every metric the gateway exports, on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        kind = ["input_kind"]
        self.started = Counter(
            "autopilot_workflows_started_total", "Workflows accepted.", kind, registry=self.registry
        )
        self.completed = Counter(
            "autopilot_workflows_completed_total", "Workflows that published a chart.", kind,
            registry=self.registry,
        )  # fmt: skip
        self.failed = Counter(
            "autopilot_workflows_failed_total",
            "Workflows that failed.",
            kind,
            registry=self.registry,
        )
        self.rejected = Counter(
            "autopilot_workflows_rejected_total", "Workflows a reviewer rejected.", kind,
            registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "autopilot_workflow_duration_seconds", "Submit to completed/failed/rejected.",
            ["input_kind", "status"], buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.decisions = Counter(
            "autopilot_gate_decisions_total", "Decisions taken at human gates.",
            ["gate", "decision"], registry=self.registry,
        )  # fmt: skip
        self.gate_wait = Histogram(
            "autopilot_gate_wait_seconds", "How long a gate waited for its decision.",
            ["gate"], buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.redispatches = Counter(
            "autopilot_reconciler_redispatches_total", "Overdue swarm steps re-dispatched.",
            ["swarm"], registry=self.registry,
        )  # fmt: skip
        self.resumes = Counter(
            "autopilot_reconciler_resumes_total", "Stalled graph runs resumed by the reconciler.",
            registry=self.registry,
        )  # fmt: skip
        self.duplicates = Counter(
            "autopilot_duplicate_swarm_events_total", "Swarm results ignored as duplicates or stale.",
            ["swarm"], registry=self.registry,
        )  # fmt: skip
        self.http = Histogram(
            "autopilot_http_request_duration_seconds", "API latency by route template.",
            ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=self.registry,
        )  # fmt: skip

    def finished(self, status: str, input_kind: str, seconds: float) -> None:
        """Count a workflow that reached a terminal status."""
        counter = {"completed": self.completed, "failed": self.failed, "rejected": self.rejected}
        if status in counter:
            counter[status].labels(input_kind).inc()
            self.duration.labels(input_kind, status).observe(max(seconds, 0.0))

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
