"""Generator entry point: `python -m services.generator.main` (or `autopilot serve generator`)."""

from __future__ import annotations

import functools

from services.generator.config import GeneratorSettings
from services.generator.handlers import build_service
from shared.errors import ModelConfigError
from shared.events import Swarm
from shared.llm import load_model
from shared.swarm.app import run_service


def main() -> None:
    """Serve generation requests until SIGTERM."""
    try:
        # Before any server starts: a misconfigured model is one clear line naming the variable.
        model = load_model(Swarm.GENERATION)
    except ModelConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    run_service(functools.partial(build_service, model=model), GeneratorSettings())


if __name__ == "__main__":
    main()
