"""The supervisor graph: intake, one dispatch/await pair per swarm, the fix loop, the human gates,
publish, and an error handler every node can route to.

```
intake -> dispatch_planning -> await_planning -> planning_review
       -> dispatch_generation -> await_generation -> dispatch_validation -> await_validation
       -> check_validation -(findings, bounded)-> dispatch_generation
       -> security_review -> deployment_approval -> publish
any node -> error_handler -> retry the step | error_review gate | fail
```
A remote call is two nodes: `dispatch_x` publishes `x.requested` (a side effect, so it runs
once per checkpoint) and `await_x` only calls `interrupt()`; the subscriber resumes it with the
swarm's answer. Gates are interrupts too. Nodes reach their I/O through the run's context
(`Deps`), so the same graph runs against Postgres and NATS or against in-memory fakes.

Nodes: `nodes/swarms.py` (intake, dispatch/await, check_validation), `nodes/gates.py`, `nodes/publish.py`,
`nodes/errors.py` (error_handler); what they share is in `context.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from langgraph.graph import END, START, StateGraph

from services.gateway.config import GatewaySettings
from services.gateway.state import Status, SupervisorState
from services.gateway.workflow.context import RETRY_TARGETS, ROUTE_ERROR, Deps, retry_policy
from services.gateway.workflow.nodes.errors import error_handler
from services.gateway.workflow.nodes.gates import (
    deployment_approval,
    planning_review,
    security_review,
)
from services.gateway.workflow.nodes.publish import publish
from services.gateway.workflow.nodes.swarms import await_swarm, check_validation, dispatch, intake
from shared.events import Swarm

Router = Callable[[SupervisorState], str]


def _then(target: str) -> Router:
    """Route to `target` unless the node left an error or ended the workflow."""

    def route(state: SupervisorState) -> str:
        if state.get("error"):
            return ROUTE_ERROR
        if state.get("status") in (
            Status.REJECTED.value,
            Status.FAILED.value,
            Status.COMPLETED.value,
            Status.CANCELLED.value,
        ):
            return END
        return target

    route.__name__ = f"route_to_{target}"
    return route


def route_validation(
    state: SupervisorState,
) -> Literal["error_handler", "security_review", "dispatch_generation"]:
    """After check_validation: gates when it passed, generation again with the findings."""
    if state.get("error"):
        return "error_handler"
    if (state.get("validation") or {}).get("passed"):
        return "security_review"
    return "dispatch_generation"


def build_graph(
    settings: GatewaySettings,
) -> StateGraph[SupervisorState, Deps, SupervisorState, SupervisorState]:
    """The supervisor graph, uncompiled (the entry point compiles it with its checkpointer)."""
    retry = retry_policy(settings)
    graph = StateGraph(SupervisorState, context_schema=Deps)
    graph.add_node("intake", intake, retry_policy=retry)
    for swarm in Swarm:
        graph.add_node(f"dispatch_{swarm.value}", dispatch(swarm), retry_policy=retry)
        graph.add_node(f"await_{swarm.value}", await_swarm(swarm))
    graph.add_node("check_validation", check_validation, retry_policy=retry)
    graph.add_node("planning_review", planning_review, retry_policy=retry)
    graph.add_node("security_review", security_review, retry_policy=retry)
    graph.add_node("deployment_approval", deployment_approval, retry_policy=retry)
    graph.add_node("publish", publish, retry_policy=retry)
    graph.add_node("error_handler", error_handler, destinations=(*RETRY_TARGETS, END))

    graph.add_edge(START, "intake")
    steps = [
        ("intake", "dispatch_planning"),
        ("dispatch_planning", "await_planning"),
        ("await_planning", "planning_review"),
        ("planning_review", "dispatch_generation"),
        ("dispatch_generation", "await_generation"),
        ("await_generation", "dispatch_validation"),
        ("dispatch_validation", "await_validation"),
        ("await_validation", "check_validation"),
        ("security_review", "deployment_approval"),
        ("deployment_approval", "publish"),
        ("publish", END),
    ]
    for source, target in steps:
        graph.add_conditional_edges(source, _then(target), [target, ROUTE_ERROR, END])
    graph.add_conditional_edges(
        "check_validation",
        route_validation,
        ["error_handler", "security_review", "dispatch_generation"],
    )
    return graph
