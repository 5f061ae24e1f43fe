"""Shared pieces of the Compose importer: the note collector, type checks and name rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shared.errors import InputError
from shared.models.plan import ImportNote
from shared.models.requirements import ConfigFile, EnvValue, SecretFile, Volume

if TYPE_CHECKING:
    from services.planner.compose.secrets import SecretRegistry
    from shared.hosts import HostFinder

Severity = Literal["info", "warning", "error"]
NAME_MAX = 40


class Notes:
    """Collects ImportNotes in order, without duplicates."""

    def __init__(self) -> None:
        self.items: list[ImportNote] = []
        self._seen: set[tuple[str, str, str]] = set()

    def add(self, severity: Severity, source: str, message: str) -> None:
        """Record one note unless the same note was already recorded."""
        key = (severity, source, message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(ImportNote(severity=severity, source=source, message=message))

    def info(self, source: str, message: str) -> None:
        """Record an info note."""
        self.add("info", source, message)

    def warning(self, source: str, message: str) -> None:
        """Record a warning note."""
        self.add("warning", source, message)

    def error(self, source: str, message: str) -> None:
        """Record an error note (something the chart deliberately does not do)."""
        self.add("error", source, message)


def type_name(value: object) -> str:
    """A YAML-ish name for the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def wrong_type(path: str, value: object, expected: str, example: str) -> InputError:
    """An InputError saying the field has the wrong type and how to write it."""
    return InputError(
        f"expected {expected}, got {type_name(value)}; write it like `{example}`", field=path
    )


def expect_mapping(value: object, path: str, example: str) -> Mapping[str, Any]:
    """The value as a mapping with string keys, or an InputError naming the field."""
    if not isinstance(value, Mapping):
        raise wrong_type(path, value, "a mapping", example)
    for key in value:
        if not isinstance(key, str):
            raise InputError(f"keys must be strings, got {key!r}; quote the key", field=path)
    return value


def expect_list(value: object, path: str, example: str) -> list[Any]:
    """The value as a list, or an InputError naming the field."""
    if not isinstance(value, list):
        raise wrong_type(path, value, "a list", example)
    return value


def scalar_text(value: object, path: str, example: str) -> str:
    """A string, number or boolean as the text Compose would use; anything else is an error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise wrong_type(path, value, "a string", example)


def str_list(value: object, path: str, example: str) -> list[str]:
    """A string or a list of strings as a list of strings."""
    if isinstance(value, str):
        return [value]
    items = expect_list(value, path, example)
    return [scalar_text(item, f"{path}[{i}]", example) for i, item in enumerate(items)]


def key_values(value: object, path: str, example: str) -> dict[str, str | None]:
    """A Compose `KEY=VALUE` list or `KEY: value` mapping as a dict; bare `KEY` maps to None."""
    result: dict[str, str | None] = {}
    if isinstance(value, Mapping):
        for key, item in expect_mapping(value, path, example).items():
            result[key] = None if item is None else scalar_text(item, f"{path}.{key}", example)
        return result
    for i, item in enumerate(expect_list(value, path, example)):
        text = scalar_text(item, f"{path}[{i}]", example)
        key, sep, rest = text.partition("=")
        result[key] = rest if sep else None
    return result


_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str, *, fallback: str = "app", max_len: int = NAME_MAX) -> str:
    """A DNS-1123 label made from free text: lower-case, `[a-z0-9-]`, trimmed, bounded."""
    label = _NOT_LABEL.sub("-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)[:max_len].strip("-")
    return label or fallback


def unique_label(base: str, taken: set[str], *, max_len: int = NAME_MAX) -> str:
    """`base`, or `base-2`, `base-3`... the first one not in `taken` (which is updated)."""
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = base[: max_len - len(suffix)].rstrip("-") + suffix
    taken.add(candidate)
    return candidate


@dataclass
class ImportContext:
    """Everything the per-service mappers share during one import.

    `components` maps Compose service names to component names.
    """

    chart: str
    notes: Notes
    base_dir: Path | None
    environ: Mapping[str, str]
    registry: SecretRegistry
    hosts: HostFinder
    components: Mapping[str, str] = field(default_factory=dict)
    top_volumes: Mapping[str, Any] = field(default_factory=dict)
    top_secrets: Mapping[str, Any] = field(default_factory=dict)
    top_configs: Mapping[str, Any] = field(default_factory=dict)
    volume_users: dict[str, list[str]] = field(default_factory=dict)
    compose_secrets: dict[str, str] = field(default_factory=dict)
    # callee component -> {dependent component: depends_on condition}
    awaits: dict[str, dict[str, str]] = field(default_factory=dict)
    # `volume:<name>` or `bind:<dir>` -> every (component, Volume) mounting it
    data_mounts: dict[str, list[tuple[str, Volume]]] = field(default_factory=dict)


Mount = Volume | ConfigFile | str  # a str is a tmpfs path


@dataclass
class Draft:
    """A component under construction: Component fields plus its mounts keyed by path."""

    service: str
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    env: dict[str, EnvValue] = field(default_factory=dict)
    env_files: dict[str, str] = field(default_factory=dict)
    secret_files: list[SecretFile] = field(default_factory=list)
    mounts: dict[str, tuple[str, Mount]] = field(default_factory=dict)
    restart: str | None = None  # Compose `restart:`, judged with the other facts at the end
    profiles: list[str] = field(default_factory=list)
    optional_deps: set[str] = field(default_factory=set)
    aliases: list[str] = field(default_factory=list)
    """Service names siblings' images have built in (see importer._built_in_names)."""
    """Dependencies marked `required: false`: they do not pull in a disabled profile."""
    build_context: str | None = None
    workdir: str | None = None
    code_targets: list[str] = field(default_factory=list)  # dropped source-code bind mounts
    anonymous: set[str] = field(default_factory=set)  # targets of anonymous volumes

    @property
    def path(self) -> str:
        """The service's field path in the Compose file."""
        return f"services.{self.service}"

    def mount(self, target: str, source: str, item: Mount, notes: Notes) -> None:
        """Add a mount; a second mount at the same path replaces the first, as Compose merges."""
        if target in self.mounts:
            earlier = self.mounts.pop(target)[0]
            notes.warning(
                source,
                f"{target} is also mounted by {earlier}; a container path can hold one mount, "
                "so this later mount replaced the earlier one",
            )
        self.mounts[target] = (source, item)

    def volume_names(self) -> set[str]:
        """Names of the volumes mounted so far."""
        return {m.name for _, m in self.mounts.values() if isinstance(m, Volume)}


# Annotation keys: an optional DNS-subdomain prefix and a name of at most 63 characters.
_ANNOTATION_KEY = re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def add_annotations(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """`labels`/`annotations` -> component annotations (values are free text)."""
    annotations: dict[str, str] = draft.fields.setdefault("annotations", {})
    for key, text in key_values(value, where, "[com.example.team=web]").items():
        if not _ANNOTATION_KEY.match(key):
            ctx.notes.warning(
                f"{where}.{key}", f"{key!r} is not a valid Kubernetes annotation key; dropped"
            )
            continue
        annotations[key] = text or ""
