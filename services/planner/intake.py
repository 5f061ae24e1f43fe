"""Intake: read untrusted input, tell a native spec from a Compose file, return requirements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from services.planner.compose.common import Notes
from services.planner.compose.load import MAX_COMPOSE_BYTES, parse_yaml, project_environment
from shared.errors import InputError
from shared.models.plan import ImportNote
from shared.models.requirements import ChartRequirements, Standards

MAX_INPUT_BYTES = MAX_COMPOSE_BYTES


class InputKind(StrEnum):
    """What the user handed us."""

    REQUIREMENTS = "requirements"
    COMPOSE = "compose"


class Intake(BaseModel):
    """Requirements ready for planning, with the importer's notes."""

    kind: InputKind
    requirements: ChartRequirements
    notes: list[ImportNote] = []


def decode(data: bytes | str, *, source: str = "input") -> str:
    """Bytes to text, refusing what is too big, binary, or empty."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(
            f"{len(raw)} bytes is over the {MAX_INPUT_BYTES} byte limit; split the input",
            field=source,
        )
    if b"\x00" in raw:
        raise InputError("binary data, not a YAML or JSON document", field=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", field=source) from exc
    if not text.strip():
        raise InputError("empty document; give a requirements spec or a Compose file", field=source)
    return text


def load_yaml(text: str, *, source: str = "input") -> Any:
    """Parse one YAML (or JSON) document with the hardened loader (no alias bombs, no dup keys)."""
    return parse_yaml(text)


def parse_requirements(data: Any, *, source: str = "requirements") -> ChartRequirements:
    """Validate a native spec, naming every bad field."""
    try:
        return ChartRequirements.model_validate(data)
    except ValidationError as exc:
        raise InputError.from_validation(exc) from exc


def parse_standards(data: bytes | str, *, source: str = "standards") -> Standards:
    """Validate an organisation standards file."""
    doc = load_yaml(decode(data, source=source), source=source)
    if isinstance(doc, dict) and "standards" in doc and len(doc) == 1:
        doc = doc["standards"]
    try:
        return Standards.model_validate(doc)
    except ValidationError as exc:
        raise InputError.from_validation(exc, prefix=source) from exc


def intake(
    data: bytes | str,
    *,
    base_dir: Path | None = None,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: str | None = None,
    overrides: Sequence[str] = (),
    override_names: Sequence[str] = (),
    max_services: int | None = None,
) -> Intake:
    """Detect the input kind by content and return validated requirements.

    A Compose file's `${VAR}` and bare `environment: [VAR]` entries are filled from `environ`
    and `dotenv` only: None is an empty environment, never this process's (a service must not
    hand its own secrets to a submitter). The CLI on a user's machine passes `os.environ`.
    `overrides` are Compose override files merged over a Compose file (see import_compose).
    `max_services` refuses a bigger Compose file before the (slow) import, naming `services`.
    """
    text = decode(data)
    doc = load_yaml(text)
    if isinstance(doc, dict) and "components" in doc:
        return Intake(kind=InputKind.REQUIREMENTS, requirements=parse_requirements(doc))
    from services.planner.compose.importer import import_compose, looks_like_compose

    if looks_like_compose(doc):
        services = doc.get("services") if isinstance(doc, dict) else None
        if max_services is not None and isinstance(services, dict) and len(services) > max_services:
            raise InputError(
                f"{len(services)} services is over the limit of {max_services}; split the "
                "application into several charts",
                field="services",
            )
        env, notes = dict(environ or {}), Notes()
        if dotenv is not None:
            # The `.env` sent beside the file, overlaid by `environ` as a shell overlays it.
            env = project_environment(None, env, notes, dotenv)
        result = import_compose(
            text,
            name=name,
            base_dir=base_dir,
            environ=env,
            overrides=overrides,
            override_names=override_names,
        )
        return Intake(
            kind=InputKind.COMPOSE,
            requirements=result.requirements,
            notes=[*notes.items, *result.notes],
        )
    found = type(doc).__name__ if not isinstance(doc, dict) else f"keys {sorted(map(str, doc))[:5]}"
    raise InputError(
        f"neither a requirements spec (needs 'components') nor a Compose file (needs 'services'); found {found}",
        field="input",
    )
