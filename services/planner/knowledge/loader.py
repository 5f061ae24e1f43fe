"""Load images.yaml, refuse a broken entry by name, and find the entry for an image.

An image reference is matched on its repository path without registry, `library/`, tag
and digest, in three tiers: an exact path ('bitnami/postgresql'), then a glob
('*/timescaledb-ha'), then a bare name against the last path segment ('postgres' also
matches 'ghcr.io/acme/postgres'), unless the entry is `exactOnly`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.planner.knowledge.model import (
    Catalogue,
    ImageEntry,
    KnownPort,
    KnownProbe,
    Variant,
)
from shared.errors import InputError
from shared.models.requirements import Resources, split_image

DATA_FILE = Path(__file__).with_name("images.yaml")


class KnowledgeError(InputError):
    """The knowledge data file is broken; the message names the entry and the field."""


@dataclass(frozen=True)
class ImageProfile:
    """Facts about one image, resolved from its family entry and build variant."""

    family: str
    category: str = "app"
    variant: str = ""
    ports: tuple[KnownPort, ...] = ()
    stateful: bool = False
    writable: tuple[str, ...] = ()
    readiness: KnownProbe | None = None
    liveness: KnownProbe | None = None
    startup_seconds: int = 60
    resources: Resources | None = None
    pinned_tag: str = ""
    data_path: str = ""
    data_env: dict[str, str] = field(default_factory=dict)
    data_why: str = ""
    uid: int | None = None
    gid: int | None = None
    needs_root: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        """The family as a reviewer reads it: 'postgres', or 'postgres (bitnami build)'."""
        return f"{self.family} ({self.variant} build)" if self.variant else self.family

    def port_number(self, name: str) -> int | None:
        """The number of the profile's port with that name."""
        return next((p.port for p in self.ports if p.name == name), None)


def image_path(image: str) -> str:
    """The repository path of an image without registry, `library/`, tag and digest."""
    repo, _, _ = split_image(image)
    parts = repo.lower().split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def _resolve(entry: ImageEntry, variant: Variant | None, canonical: bool) -> ImageProfile:
    """Merge a variant over its family; layout facts are never inherited (see Variant)."""
    own: ImageEntry | Variant = variant or entry
    ports = variant.ports if variant and variant.ports is not None else entry.ports
    probes = variant.probes if variant and variant.probes is not None else entry.probes
    resources = variant.resources if variant and variant.resources else entry.resources
    stateful = variant.stateful if variant and variant.stateful is not None else entry.stateful
    data = own.data
    return ImageProfile(
        family=entry.family,
        category=entry.category,
        variant=variant.name if variant else "",
        ports=tuple(ports),
        stateful=stateful,
        writable=tuple(own.writable),
        readiness=probes.readiness,
        liveness=probes.liveness,
        startup_seconds=probes.startupSeconds,
        resources=resources,
        pinned_tag=own.pinnedTag if canonical else "",
        data_path=data.path.rstrip("/") if data else "",
        data_env=dict(data.env) if data else {},
        data_why=data.why if data else "",
        uid=own.user.uid if own.user else None,
        gid=own.user.gid if own.user else None,
        needs_root=own.needsRoot,
        note=" ".join(n for n in (entry.note, variant.note if variant else "") if n),
    )


_Target = tuple[ImageEntry, Variant | None]


class Knowledge:
    """A validated catalogue with its lookup index."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.entries = catalogue.images
        self._exact: dict[str, _Target] = {}
        self._bare: dict[str, _Target] = {}
        self._globs: list[tuple[str, _Target]] = []
        families: set[str] = set()
        for entry in self.entries:
            if entry.family in families:
                raise KnowledgeError(f"family {entry.family!r} appears twice", field=entry.family)
            families.add(entry.family)
            self._add(entry.image, (entry, None))
            for pattern in entry.match:
                self._add(pattern, (entry, None))
            for variant in entry.variants:
                for pattern in variant.match:
                    self._add(pattern, (entry, variant))

    def _add(self, pattern: str, target: _Target) -> None:
        entry = target[0]
        if any(c in pattern for c in "*?"):
            self._globs.append((pattern, target))
            return
        tables = [self._exact]
        if "/" not in pattern and not entry.exactOnly:
            tables.append(self._bare)
        for table in tables:
            other = table.get(pattern)
            if other and other[0].family != entry.family:
                raise KnowledgeError(
                    f"pattern {pattern!r} is claimed by {other[0].family!r} too",
                    field=f"{entry.family}.match",
                )
            table.setdefault(pattern, target)

    def profile(self, image: str) -> ImageProfile | None:
        """The profile of an image, or None when no entry matches."""
        path = image_path(image) if image else ""
        if not path:
            return None
        found = self._exact.get(path)
        canonical = False
        if found:
            entry, variant = found
            canonical = path == (variant.match[0] if variant else entry.image)
        else:
            found = next((t for p, t in self._globs if fnmatchcase(path, p)), None)
            found = found or self._bare.get(path.rsplit("/", 1)[-1])
        if found is None:
            return None
        return _resolve(found[0], found[1], canonical)


def _where(data: Any, loc: tuple[int | str, ...]) -> str:
    """Name the entry an error location falls in: 'images[3] (kafka).ports.0.port'."""
    if len(loc) >= 2 and loc[0] == "images" and isinstance(loc[1], int):
        try:
            family = data["images"][loc[1]].get("family", "?")
        except (KeyError, IndexError, TypeError, AttributeError):
            family = "?"
        rest = ".".join(str(p) for p in loc[2:])
        return f"images[{loc[1]}] ({family})" + (f".{rest}" if rest else "")
    return ".".join(str(p) for p in loc) or "<root>"


def parse(text: str, source: str = "images.yaml") -> Knowledge:
    """Validate the text of a data file; a broken entry raises KnowledgeError naming it."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"not valid YAML (in {source}): {exc}") from exc
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [f"{_where(data, tuple(e['loc']))}: {e['msg']}" for e in errors]
        raise KnowledgeError(
            "; ".join(lines) + f" (in {source})", field=_where(data, tuple(errors[0]["loc"]))
        ) from exc
    return Knowledge(catalogue)


def load(path: Path = DATA_FILE) -> Knowledge:
    """Load and validate a data file."""
    return parse(path.read_text(encoding="utf-8"), source=path.name)
