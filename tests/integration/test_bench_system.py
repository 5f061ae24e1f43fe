"""bench/system.py keeps working: a reduced run prints every figure of issue 12's running system
as a number (latency ratio, in-process and submit -> published times, hops; charts per second,
p50, p95) and names a bottleneck.

The bench starts `autopilot up` twice (one process per service, then two generator and two
validator replicas) on embedded servers in fresh data dirs on free ports.
"""

from __future__ import annotations

import re

import pytest

from tests.support.benches import run_bench

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUMBER = r"(\d+(?:\.\d+)?)"


@pytest.mark.timeout(1200)
def test_a_reduced_bench_run_prints_every_figure_as_a_number() -> None:
    """One latency pair and three charts through the replicas: each figure parses as a number."""
    out = run_bench("system.py", "--runs", "1", "--charts", "3", "--concurrency", "2", timeout=1100)

    latency = re.search(
        rf"^\(e\) RATIO {NUMBER} LATENCY_MS {NUMBER} IN_PROCESS_MS {NUMBER} HOPS (\d+)$", out, re.M
    )
    assert latency, out
    ratio, measured, in_process, hops = (float(v) for v in latency.groups())
    assert ratio > 0 and measured > in_process > 0
    assert hops >= 3, "planning, generation and validation at least"
    assert re.search(r"^  ratio measured / \(1\.5 x in process \+ 100 ms x hops\)\s+\d", out, re.M)
    cpu = re.search(
        rf"^  CPU per chart .+: in process {NUMBER} ms, the system's processes {NUMBER} ms",
        out,
        re.M,
    )
    assert cpu and float(cpu.group(1)) > 0 and float(cpu.group(2)) > 0, out
    for swarm in ("planning", "generation", "validation"):
        assert re.search(rf"^    {swarm}\s+queue\s+-?\d+ ms", out, re.M), f"{swarm} hop timings"

    throughput = re.search(
        rf"^\(f\) CHARTS_PER_S {NUMBER} P50_MS {NUMBER} P95_MS {NUMBER} FAILED (\d+)$", out, re.M
    )
    assert throughput, out
    rate, p50, p95, failed = (float(v) for v in throughput.groups())
    assert rate > 0 and 0 < p50 <= p95 and failed == 0
    assert re.search(
        r"^  bottleneck: .+; the longest wait is .+; the longest step is \S+:\S+", out, re.M
    )
    assert "reproduce (from the repository root):" in out
