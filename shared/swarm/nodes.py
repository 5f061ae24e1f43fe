"""What swarm graph nodes use: run context, base state, the node decorator, artifact reads.

File trees on disk are shared/files.py; the artifact store's protocol is shared/artifacts.py.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

from langgraph.runtime import Runtime
from pydantic import BaseModel, ValidationError

from shared.artifacts import Artifacts
from shared.errors import ArtifactError, InputError
from shared.events import (
    ArtifactRef,
    Swarm,
    SwarmRequest,
)
from shared.files import read_tree, safe_relpath, write_tree
from shared.swarm.metrics import SwarmMetrics

# read_tree, safe_relpath and write_tree are re-exported for importers that predate
# shared/files.py (services/generator/graph.py, tests/integration/test_swarm_services.py,
# bench/system.py); new code imports them from shared.files. Drop them once those have moved.
__all__ = [
    "Node",
    "SwarmContext",
    "SwarmState",
    "first_ref",
    "load_files",
    "load_json",
    "read_tree",
    "safe_relpath",
    "swarm_node",
    "write_tree",
]

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


@dataclass(frozen=True)
class SwarmContext:
    """What a node may use besides its state (LangGraph run context, not checkpointed)."""

    artifacts: Artifacts
    swarm: Swarm
    metrics: SwarmMetrics | None = None


@dataclass
class SwarmState:
    """State every swarm graph has: the request in, the stored result out, a run log."""

    request: dict[str, Any] = field(default_factory=dict)
    """The SwarmRequest this thread runs, as JSON."""
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    """ArtifactRefs of the stored result (set by the `store` node)."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The few numbers the completion event carries."""
    node_runs: Annotated[list[str], operator.add] = field(default_factory=list)
    """`<node>@<pid>` per finished node run, checkpointed: shows which process ran what."""

    def swarm_request(self) -> SwarmRequest:
        """The request as its model."""
        return SwarmRequest.model_validate(self.request)


class Node(Protocol[S_contra]):
    """A swarm graph node: state in, update out, the run context as LangGraph injects it."""

    def __call__(
        self, state: S_contra, *, runtime: Runtime[SwarmContext]
    ) -> Awaitable[dict[str, Any]]: ...


def swarm_node(name: str) -> Callable[[Node[S]], Node[S]]:
    """Count a node's runs and record it in `node_runs`; every swarm node wears this."""

    def decorate(fn: Node[S]) -> Node[S]:
        @functools.wraps(fn)
        async def run(state: S, *, runtime: Runtime[SwarmContext]) -> dict[str, Any]:
            context = runtime.context
            # Counted before running, so a node that crashed still shows it started.
            if context.metrics is not None:
                context.metrics.node_runs.labels(context.swarm.value, name).inc()
            update = await fn(state, runtime=runtime)
            return {**update, "node_runs": [f"{name}@{os.getpid()}"]}

        return run

    return decorate


async def load_json(
    artifacts: Artifacts, ref: ArtifactRef, name: str, model: type[M], *, field_name: str
) -> M:
    """One JSON file of a referenced artifact as a model; InputError when missing or invalid."""
    files = await load_files(artifacts, ref, field_name=field_name)
    if name not in files:
        raise InputError(
            f"artifact {ref.kind!r} of workflow {ref.workflow_id} has no {name}"
            f" (files: {', '.join(sorted(files))})",
            field=field_name,
        )
    try:
        return model.model_validate_json(files[name])
    except ValidationError as exc:
        raise InputError.from_validation(exc, prefix=f"{ref.kind}/{name}") from exc


async def load_files(
    artifacts: Artifacts, ref: ArtifactRef, *, field_name: str
) -> dict[str, bytes]:
    """Every file of a referenced artifact; InputError when nothing is stored there."""
    try:
        files = await artifacts.get_files(ref.workflow_id, ref.kind)
    except ArtifactError as exc:
        raise InputError(str(exc), field=field_name) from exc
    if not files:
        raise InputError(
            f"no artifact {ref.kind!r} stored for workflow {ref.workflow_id}", field=field_name
        )
    return files


def first_ref(request: SwarmRequest) -> ArtifactRef:
    """The request's first input reference; InputError when it has none."""
    if not request.input_refs:
        raise InputError("this swarm needs its input as an artifact reference", field="input_refs")
    return request.input_refs[0]
