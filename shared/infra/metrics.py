"""Prometheus metric factories with one switch: `AUTOPILOT_METRICS_ENABLED=false` makes them no-ops.

Every service builds its metrics through `MetricSet`, so turning metrics off costs one Python
call per update and nothing else (the benchmark in bench/observability.py measures both ways).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class _Noop:
    """Stands in for a Counter, Gauge or Histogram (and their children) when metrics are off."""

    def labels(self, *args: Any, **kwargs: Any) -> _Noop:
        """The same no-op, whatever the labels."""
        return self

    def inc(self, amount: float = 1) -> None:
        """Nothing."""

    def dec(self, amount: float = 1) -> None:
        """Nothing."""

    def set(self, value: float) -> None:
        """Nothing."""

    def observe(self, amount: float) -> None:
        """Nothing."""


_NOOP = _Noop()


class MetricSet:
    """Builds metrics on one registry, or no-ops that keep the same call sites when disabled."""

    def __init__(self, enabled: bool = True, registry: CollectorRegistry | None = None) -> None:
        self.enabled = enabled
        self.registry = registry or CollectorRegistry(auto_describe=True)

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        """A counter (its name scrapes with `_total`), or a no-op."""
        if not self.enabled:
            return cast(Counter, _NOOP)  # duck-typed: only labels()/inc() are ever called
        return Counter(name, doc, list(labels), registry=self.registry)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge, or a no-op."""
        if not self.enabled:
            return cast(Gauge, _NOOP)
        return Gauge(name, doc, list(labels), registry=self.registry)

    def histogram(
        self, name: str, doc: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
    ) -> Histogram:
        """A histogram with explicit buckets, or a no-op."""
        if not self.enabled:
            return cast(Histogram, _NOOP)
        return Histogram(name, doc, list(labels), buckets=list(buckets), registry=self.registry)


# Seconds a checkpoint write takes: Postgres round trips, a few ms when healthy.
CHECKPOINT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def checkpoint_histogram(metrics: MetricSet) -> Histogram:
    """`autopilot_checkpoint_write_seconds{op}`: every service that checkpoints exposes it."""
    return metrics.histogram(
        "autopilot_checkpoint_write_seconds",
        "Seconds one LangGraph checkpoint write took (op: checkpoint = aput, writes = aput_writes).",
        ["op"],
        buckets=CHECKPOINT_BUCKETS,
    )
