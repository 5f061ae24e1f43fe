"""What swarm graph nodes use: run context, base state, the node decorator, artifact reads, file trees."""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Protocol, TypeVar

from langgraph.runtime import Runtime
from pydantic import BaseModel, ValidationError

from shared.errors import ArtifactError, InputError
from shared.events import (
    ArtifactRef,
    Swarm,
    SwarmRequest,
)
from shared.swarm.metrics import SwarmMetrics

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


class Artifacts(Protocol):
    """What nodes need of the artifact store (ArtifactStore, or a fake in unit tests)."""

    async def put_files(
        self, workflow_id: str, kind: str, files: dict[str, bytes]
    ) -> ArtifactRef: ...

    async def get_files(self, workflow_id: str, kind: str) -> dict[str, bytes]: ...


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


def safe_relpath(name: str) -> PurePosixPath:
    """A stored file name as a relative path that cannot leave its directory."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise InputError(f"unsafe file name {name!r} in a chart artifact", field="files")
    return path


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write `files` (relative path -> content) under root."""
    for name, content in files.items():
        target = root / safe_relpath(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def read_tree(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under root as text, by relative POSIX path, minus the `skip` prefixes."""
    files: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(skip):
            files[rel] = path.read_text(encoding="utf-8")
    return files
