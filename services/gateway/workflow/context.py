"""What every node of the workflow graph shares: its dependencies (`Deps`), the node names an
error may be retried at, the retry policy, and `guarded`, which turns a node's error into state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy

from services.gateway.config import GatewaySettings
from services.gateway.state import SupervisorState
from services.gateway.store import Store
from shared.artifacts import Artifacts
from shared.errors import classify, is_transient
from shared.events import Event

_log = logging.getLogger(__name__)


NodeName = Literal[
    "intake",
    "dispatch_planning",
    "await_planning",
    "planning_review",
    "dispatch_generation",
    "await_generation",
    "dispatch_validation",
    "await_validation",
    "check_validation",
    "security_review",
    "deployment_approval",
    "publish",
    "error_handler",
]


# Nodes an error may be retried at (error_handler's Command destinations).
RETRY_TARGETS: tuple[str, ...] = (
    "intake",
    "dispatch_planning",
    "planning_review",
    "dispatch_generation",
    "dispatch_validation",
    "check_validation",
    "security_review",
    "deployment_approval",
    "publish",
)


ROUTE_ERROR = "error_handler"


Update = dict[str, Any]


class Publisher(Protocol):
    """Puts one event on the bus (JetStream in the service, a fake in unit tests)."""

    async def publish(self, subject: str, event: Event[Any]) -> None: ...  # noqa: D102


@dataclass
class Deps:
    """What nodes reach through `runtime.context`; not checkpointed, given on every run."""

    settings: GatewaySettings
    publisher: Publisher
    artifacts: Artifacts
    store: Store


def retry_policy(settings: GatewaySettings) -> RetryPolicy:
    """Exponential back-off with jitter for the nodes that do I/O, transient errors only."""
    return RetryPolicy(
        initial_interval=settings.node_retry_initial_seconds,
        backoff_factor=2.0,
        max_interval=10.0,
        max_attempts=settings.node_retry_attempts,
        jitter=True,
        retry_on=is_transient,
    )


# Any: LangGraph's node protocols do not accept a plain (state, runtime) coroutine function.
NodeFn = Any


def guarded(name: str) -> Callable[[NodeFn], NodeFn]:
    """Turn a node's non-transient exception into state the error handler routes on."""

    def wrap(fn: NodeFn) -> NodeFn:
        @functools.wraps(fn)
        async def node(state: SupervisorState, runtime: Runtime[Deps]) -> Any:
            try:
                return await fn(state, runtime)
            except GraphBubbleUp:
                raise  # interrupts are control flow, not errors
            except Exception as exc:
                if is_transient(exc):
                    raise  # RetryPolicy backs off; if it gives up, the reconciler resumes later
                _log.warning("workflow %s: node %s failed: %s", state.get("workflow_id"), name, exc)
                return {"error": classify(exc, step=name).dump(), "failed_step": name}

        return node

    return wrap
