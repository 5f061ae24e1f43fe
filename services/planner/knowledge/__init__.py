"""What a platform engineer knows about well-known images.

The facts live in `images.yaml` beside this file, one entry per image family: ports,
probes, writable paths, data directory, statefulness, the image's own user, whether it
needs root, and realistic requests and limits. The planner consults it only for what the
requirements left open; anything the user wrote wins. To add an image, add an entry there;
`tests/unit/planner/test_knowledge.py` checks that the file loads.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from services.planner.knowledge.loader import (
    DATA_FILE,
    ImageProfile,
    Knowledge,
    KnowledgeError,
    image_path,
    load,
    parse,
)
from services.planner.knowledge.model import KnownPort, KnownProbe, quantity
from shared.models.requirements import ProbeSpec, Resources

__all__ = [
    "DATA_FILE",
    "DEFAULT_RESOURCES",
    "ImageProfile",
    "Knowledge",
    "KnowledgeError",
    "KnownPort",
    "KnownProbe",
    "describe",
    "image_family",
    "image_path",
    "knowledge",
    "load",
    "parse",
    "probe",
    "profile_for",
    "quantity",
]

# For images nobody knows: requests sized for a quiet workload, limits leave room for a
# burst without letting one pod starve a node.
DEFAULT_RESOURCES = Resources.model_validate(
    {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
)


@cache
def knowledge() -> Knowledge:
    """The shipped knowledge base, loaded and validated once."""
    return load(DATA_FILE)


def profile_for(image: str) -> ImageProfile | None:
    """The profile of a well-known image, or None."""
    return knowledge().profile(image) if image else None


def image_family(image: str) -> str:
    """The family of an image ('postgres' for 'postgis/postgis'), else its repository path."""
    profile = profile_for(image)
    return profile.family if profile else image_path(image)


def probe(known: KnownProbe, **timing: int) -> ProbeSpec:
    """A ProbeSpec from a known handler plus timing fields."""
    return ProbeSpec.model_validate({**known.model_dump(exclude_none=True, mode="json"), **timing})


def describe(profile: ImageProfile) -> dict[str, Any]:
    """The profile's known facts as plain data (empty fields left out), for tools and people."""
    facts: dict[str, Any] = {
        "family": profile.label,
        "category": profile.category,
        "ports": [p.model_dump(mode="json") for p in profile.ports],
        "stateful": profile.stateful,
        "writable": list(profile.writable),
        "dataDir": profile.data_path,
        "dataEnv": profile.data_env,
        "readiness": profile.readiness.model_dump(mode="json", exclude_none=True)
        if profile.readiness
        else None,
        "liveness": profile.liveness.model_dump(mode="json", exclude_none=True)
        if profile.liveness
        else None,
        "startupSeconds": profile.startup_seconds,
        "resources": profile.resources.dump() if profile.resources else None,
        "uid": profile.uid,
        "gid": profile.gid,
        "needsRoot": profile.needs_root,
        "pinnedTag": profile.pinned_tag,
        "note": profile.note,
    }
    return {k: v for k, v in facts.items() if v not in (None, "", [], {})}
