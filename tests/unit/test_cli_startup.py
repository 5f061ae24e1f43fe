"""The CLI starts light: `--version`, `--help` and `schema` import no scanner, agent or broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("checkov", "langgraph", "langchain", "langchain_core", "helm_python", "faststream")


def _imported(*argv: str) -> set[str]:
    """Top-level packages `python -X importtime -m services.cli ARGV` imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "services.cli", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".", 1)[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["schema"], ["generate", "--help"]])
def test_light_verbs_import_no_heavy_dependency(argv: list[str]) -> None:
    imported = _imported(*argv)
    assert "services" in imported  # the probe saw the CLI's own imports
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"autopilot {version('k8s-autopilot')}"
