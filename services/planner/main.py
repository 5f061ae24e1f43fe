"""Planner entry point: `python -m services.planner.main` (or `autopilot serve planner`)."""

from __future__ import annotations

import functools

from services.planner.config import PlannerSettings
from services.planner.handlers import build_service
from shared.errors import ModelConfigError
from shared.events import Swarm
from shared.llm import load_model
from shared.swarm.app import run_service


def main() -> None:
    """Serve planning requests until SIGTERM."""
    try:
        # Before any server starts: a misconfigured model is one clear line naming the variable.
        model = load_model(Swarm.PLANNING)
    except ModelConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    run_service(functools.partial(build_service, model=model), PlannerSettings())


if __name__ == "__main__":
    main()
