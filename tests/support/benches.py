"""Running a bench/ script as a test does: in the checkout, its output checked by the caller."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, timeout: float) -> str:
    """The stdout of `python bench/<script> ARGS`; fails the test if it exits non-zero."""
    argv = [sys.executable, f"bench/{script}", *args]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout
