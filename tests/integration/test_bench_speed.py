"""bench/speed.py keeps working: a reduced run prints (a), its floors, (b), its floor, (b')
and (d) as numbers, each a ratio of two positive times.

(c) is left out here: it generates the 57-service stack cold, three times over.
"""

from __future__ import annotations

import re

import pytest

from tests.support.benches import run_bench

pytestmark = [pytest.mark.slow]

ROW = r"\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d+)"


@pytest.mark.timeout(600)
def test_a_reduced_bench_run_prints_every_figure_as_a_number() -> None:
    out = run_bench("speed.py", "--only", "a,b,d", "--runs", "1", "--warm-runs", "1", timeout=500)
    labels = [
        r"\(a\) warm plan\+generate\+validate \(iterating\) / one render",
        r"    floor: the 5 required renders / one render",
        r"    the 5 renders on threads / one after another",
        r"\(a\) warm plan\+generate\+validate \(first sight\) / one render",
        r"\(b\) cold `autopilot generate shop` / `autopilot --version`",
        r"    floor: a process that only loads checkov / --version",
        r"\(b'\) generate shop, warm daemon \(started first\) / --version",
        r"\(d\) render µs per object: shop / `helm create` scaffold",
    ]
    for label in labels:
        row = re.search(rf"^{label}{ROW}", out, re.M)
        assert row, f"{label} missing from:\n{out}"
        a, b, ratio = (float(v) for v in row.groups())
        assert a > 0 and b > 0 and ratio > 0, row.group(0)
    assert "the figure is void" not in out, out  # the daemon served every timed run
    assert "reproduce (from the repository root; X is any empty folder):" in out
