"""Prometheus metrics of the gateway; one registry per app so tests can build many apps.

Labels are bounded sets (input kind, status, gate, decision, swarm, step, severity): never
workflow ids. The gauges (gates waiting now, JetStream backlog) are refreshed when scraped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import generate_latest

from shared.events import Swarm
from shared.gates import Gate
from shared.infra.metrics import MetricSet, checkpoint_histogram

_log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
PASS_RATE_BUCKETS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0)
FIX_BUCKETS = (0, 1, 2, 3, 5, 10)
DECISIONS = {"approved": "approve", "edited": "edit", "rejected": "reject"}
SEVERITIES = ("error", "warning", "info")
LAG_TIMEOUT_SECONDS = 1.0

ConsumerLag = Callable[[str], Awaitable[tuple[int, int]]]
"""Durable consumer name -> (num_pending, num_ack_pending)."""


class GatewayMetrics:
    """Every metric the gateway exports, on its own registry."""

    def __init__(self, enabled: bool = True) -> None:
        metrics = MetricSet(enabled)
        self.enabled = enabled
        self.registry = metrics.registry
        kind = ["input_kind"]
        self.started = metrics.counter(
            "autopilot_workflows_started", "Workflows accepted, by input kind.", kind
        )
        self.completed = metrics.counter(
            "autopilot_workflows_completed", "Workflows that published a chart.", kind
        )
        self.failed = metrics.counter("autopilot_workflows_failed", "Workflows that failed.", kind)
        self.rejected = metrics.counter(
            "autopilot_workflows_rejected", "Workflows a reviewer rejected.", kind
        )
        self.duration = metrics.histogram(
            "autopilot_workflow_duration_seconds",
            "Submit to completed/failed/rejected.",
            ["input_kind", "status"],
            buckets=DURATION_BUCKETS,
        )
        self.decisions = metrics.counter(
            "autopilot_gate_decisions",
            "Decisions taken at human gates (auto-approvals included).",
            ["gate", "decision"],
        )
        self.gate_wait = metrics.histogram(
            "autopilot_gate_wait_seconds",
            "How long a gate waited for a reviewer's decision.",
            ["gate"],
            buckets=DURATION_BUCKETS,
        )
        self.gate_pending = metrics.gauge(
            "autopilot_gate_pending", "Workflows waiting at each gate now.", ["gate"]
        )
        self.gate_oldest = metrics.gauge(
            "autopilot_gate_oldest_pending_seconds",
            "Age of the longest wait at each gate now (0 when none waits).",
            ["gate"],
        )
        self.redispatches = metrics.counter(
            "autopilot_reconciler_redispatches", "Overdue swarm steps re-dispatched.", ["swarm"]
        )
        self.resumes = metrics.counter(
            "autopilot_reconciler_resumes", "Stalled graph runs resumed by the reconciler."
        )
        self.duplicates = metrics.counter(
            "autopilot_duplicate_swarm_events",
            "Swarm results ignored as duplicates or stale.",
            ["swarm"],
        )
        self.step_retries = metrics.counter(
            "autopilot_workflow_retries",
            "Swarm steps the supervisor re-dispatched after a failure event, by step.",
            ["step"],
        )
        self.jetstream_pending = metrics.gauge(
            "autopilot_jetstream_pending",
            "Messages not yet delivered to the swarm's consumer.",
            ["swarm"],
        )
        self.jetstream_ack_pending = metrics.gauge(
            "autopilot_jetstream_ack_pending",
            "Messages delivered to the swarm's consumer, unacked.",
            ["swarm"],
        )
        self.pass_rate = metrics.histogram(
            "autopilot_chart_checkov_pass_rate",
            "Checkov pass rate (0..1) of each published chart.",
            buckets=PASS_RATE_BUCKETS,
        )
        self.findings = metrics.counter(
            "autopilot_chart_findings",
            "Validator findings in published charts, by severity.",
            ["severity"],
        )
        self.fix_iterations = metrics.histogram(
            "autopilot_validation_fix_iterations",
            "Generation re-runs on validator findings per finished workflow.",
            buckets=FIX_BUCKETS,
        )
        self.checkpoint_write = checkpoint_histogram(metrics)
        self.http = metrics.histogram(
            "autopilot_http_request_duration_seconds",
            "API latency by route template.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
        )
        self.consumer_lag: ConsumerLag | None = None
        for severity in SEVERITIES:  # present from the first scrape, so rate() sees the first one
            self.findings.labels(severity)

    def finished(self, status: str, input_kind: str, seconds: float) -> None:
        """Count a workflow that reached a terminal status."""
        counter = {"completed": self.completed, "failed": self.failed, "rejected": self.rejected}
        if status in counter:
            counter[status].labels(input_kind).inc()
            self.duration.labels(input_kind, status).observe(max(seconds, 0.0))

    def gate_decided(self, approvals: dict[str, Any]) -> None:
        """Count the decisions a gate node just applied (gate -> approved/edited/rejected)."""
        for gate, status in approvals.items():
            self.decisions.labels(gate, DECISIONS.get(str(status), str(status))).inc()

    def chart_published(self, pass_rate: float, severities: Iterable[str]) -> None:
        """Observe a published chart's checkov pass rate and count its findings."""
        self.pass_rate.observe(pass_rate)
        for severity in severities:
            self.findings.labels(severity).inc()

    def set_gates(self, waiting: Iterable[tuple[str, datetime | None]], now: datetime) -> None:
        """The gate gauges from the workflows waiting now: (gate, since) pairs."""
        count = dict.fromkeys(map(str, Gate), 0)
        oldest = dict.fromkeys(map(str, Gate), 0.0)
        for gate, since in waiting:
            count[gate] = count.get(gate, 0) + 1
            age = (now - since).total_seconds() if since is not None else 0.0
            oldest[gate] = max(oldest.get(gate, 0.0), age)
        for gate in count:
            self.gate_pending.labels(gate).set(count[gate])
            self.gate_oldest.labels(gate).set(oldest[gate])

    async def refresh_lag(self) -> None:
        """JetStream pending / ack-pending of every swarm's consumer, each with a short timeout."""
        if self.consumer_lag is None or not self.enabled:
            return
        for swarm in Swarm:
            # Each swarm's durable consumer is named after its service (SwarmService).
            durable = swarm.service
            try:
                pending, ack_pending = await asyncio.wait_for(
                    self.consumer_lag(durable), LAG_TIMEOUT_SECONDS
                )
            except Exception as exc:  # noqa: BLE001 - no consumer yet, or NATS down: keep last
                _log.debug("consumer info of %s unavailable: %s", durable, exc)
                continue
            self.jetstream_pending.labels(swarm.value).set(pending)
            self.jetstream_ack_pending.labels(swarm.value).set(ack_pending)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
