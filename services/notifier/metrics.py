"""Prometheus metrics of the notifier; labels are bounded sets (format, outcome, reason), no ids."""

from __future__ import annotations

from typing import get_args

from services.notifier.delivery import Reason
from shared.infra.metrics import MetricSet
from shared.webhooks import WebhookFormat

OUTCOMES = ("delivered", "retried", "dead_lettered", "dropped")
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class NotifierMetrics:
    """Every metric the notifier exports, on its own registry."""

    def __init__(self, enabled: bool = True) -> None:
        metrics = MetricSet(enabled)
        self.registry = metrics.registry
        self.notifications = metrics.counter(
            "autopilot_notifications", "Notifications read from the stream, by kind.", ["kind"]
        )
        self.deliveries = metrics.counter(
            "autopilot_webhook_deliveries",
            "Webhook delivery attempts by format and outcome (delivered, retried, dead_lettered, "
            "dropped: the subscription was deleted).",
            ["format", "outcome"],
        )
        self.failures = metrics.counter(
            "autopilot_webhook_failures",
            "Failed webhook requests by format and reason (each attempt counts).",
            ["format", "reason"],
        )
        self.duration = metrics.histogram(
            "autopilot_webhook_request_duration_seconds",
            "One request to a receiver.",
            ["format"],
            buckets=REQUEST_BUCKETS,
        )
        # Present from the first scrape, so rate() and alerts see the first increment.
        for fmt in WebhookFormat:
            for outcome in OUTCOMES:
                self.deliveries.labels(fmt.value, outcome)
            for reason in get_args(Reason):
                if reason:
                    self.failures.labels(fmt.value, reason)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when never set); for tests and diagnostics."""
        return self.registry.get_sample_value(name, labels) or 0.0
