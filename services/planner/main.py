"""Planner entry point: `python -m services.planner.main` (or `autopilot serve planner`)."""

from __future__ import annotations

from services.planner.config import PlannerSettings
from services.planner.handlers import build_service
from shared.infra.swarm import run_service


def main() -> None:
    """Serve planning requests until SIGTERM."""
    run_service(build_service, PlannerSettings())


if __name__ == "__main__":
    main()
