"""Generator entry point: `python -m services.generator.main` (or `autopilot serve generator`)."""

from __future__ import annotations

from services.generator.config import GeneratorSettings
from services.generator.handlers import build_service
from shared.infra.swarm import run_service


def main() -> None:
    """Serve generation requests until SIGTERM."""
    run_service(build_service, GeneratorSettings())


if __name__ == "__main__":
    main()
