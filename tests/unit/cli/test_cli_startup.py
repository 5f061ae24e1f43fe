"""The CLI starts light: `--version`, `--help` and `schema` import no scanner, agent or broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("checkov", "langgraph", "langchain", "langchain_core", "helm_python", "faststream")
# What only the agents (--model), the services or a gateway verb use: offline generate and
# validate load none of it.
SERVICE_ONLY = (
    "langgraph",
    "langchain",
    "langchain_core",
    "deepagents",
    "fastapi",
    "starlette",
    "uvicorn",
    "faststream",
    "nats",
    "psycopg",
    "httpx",
)
# Building the parser needs none of these: no models, no settings, no HTTP client.
NOT_AT_START = ("pydantic", "pydantic_settings", "httpx", "yaml", "asyncio", "shared.models")


def _imported(*argv: str, timeout: float = 60, codes: tuple[int, ...] = (0,)) -> set[str]:
    """Packages `python -X importtime -m services.cli ARGV` imported: each top-level name,
    and `services.x`/`shared.x` as two parts."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "services.cli", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode in codes, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.rsplit("|", 1)[1].strip().split(".")
            names.add(parts[0])
            if parts[0] in ("services", "shared") and len(parts) > 1:
                names.add(".".join(parts[:2]))
    return names


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["schema"], ["generate", "--help"]])
def test_light_verbs_import_no_heavy_dependency(argv: list[str]) -> None:
    imported = _imported(*argv)
    assert "services" in imported  # the probe saw the CLI's own imports
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["list", "--help"]])
def test_the_parser_alone_imports_no_models_settings_or_http(argv: list[str]) -> None:
    imported = _imported(*argv)
    assert not imported & set(NOT_AT_START), sorted(imported & set(NOT_AT_START))


def test_offline_generate_loads_no_agent_service_or_gateway_code(tmp_path: Path) -> None:
    argv = ["generate", "examples/shop.yaml", "-o", str(tmp_path), "--yes", "-q"]
    imported = _imported(*argv, timeout=600, codes=(0, 1))
    assert "services.validator" in imported  # it did generate and validate
    unwanted = imported & {*SERVICE_ONLY, "services.gateway", "services.notifier"}
    assert not unwanted, sorted(unwanted)


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
