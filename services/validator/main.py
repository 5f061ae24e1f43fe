"""Validator entry point: `python -m services.validator.main` (or `autopilot serve validator`)."""

from __future__ import annotations

from services.validator.config import ValidatorSettings
from services.validator.handlers import build_service
from shared.swarm.app import run_service


def main() -> None:
    """Serve validation requests until SIGTERM."""
    run_service(build_service, ValidatorSettings())


if __name__ == "__main__":
    main()
