"""Helpers every command shares: reading the input, standards, printing a report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.models.reports import ValidationReport
    from shared.models.requirements import Standards


def read_input(source: str) -> tuple[bytes, Path | None]:
    """Read a file, or stdin for '-'; return the bytes and the folder it came from."""
    from shared.errors import AutopilotError

    if source == "-":
        return sys.stdin.buffer.read(), None
    path = Path(source)
    if not path.is_file():
        raise AutopilotError(f"no such file: {source}", field="INPUT")
    return path.read_bytes(), path.resolve().parent


_COMPOSE_STEMS = ("docker-compose", "compose")


def compose_chart_name(source: str, data: bytes) -> str | None:
    """The chart name a Compose file gets from its file name, when it has no `name:`.

    `compose.yaml` or `docker-compose.yml` in folder `shop` -> `shop`; a variant such as
    `compose.prod.yaml` or `docker-compose-prod.yml` -> `shop-prod`; any other file name is
    the chart name itself (`wordpress-mysql.yaml` -> `wordpress-mysql`). None for stdin, a
    native spec, or a Compose file that names its project (the importer uses that name).
    """
    from services.planner.compose.importer import looks_like_compose
    from services.planner.intake import decode, load_yaml
    from shared.errors import AutopilotError

    if source == "-":
        return None
    try:
        doc = load_yaml(decode(data))
    except AutopilotError:
        return None  # intake reports it, with the line and column
    if not looks_like_compose(doc) or (isinstance(doc.get("name"), str) and doc["name"]):
        return None
    path = Path(source).resolve()
    stem = path.name
    for suffix in (".yaml", ".yml", ".json"):
        stem = stem.removesuffix(suffix)
    folder = path.parent.name or "app"
    for base in _COMPOSE_STEMS:
        if stem == base:
            return folder
        if stem.startswith(base) and stem[len(base)] in ".-_":
            return f"{folder}-{stem[len(base) + 1 :]}"
    return stem


def read_override(source: str, *, quiet: bool = False) -> tuple[list[str], list[str]]:
    """The override file `docker compose` would merge over the Compose file `source`, as
    (texts, names); saying so on stderr unless quiet. None for stdin or other file names."""
    from services.planner.compose.merge import override_file
    from services.planner.intake import decode

    found = None if source == "-" else override_file(Path(source))
    if found is None:
        return [], []
    if not quiet:
        print(
            f"merging {found.name} over {Path(source).name}, as docker compose does",
            file=sys.stderr,
        )
    return [decode(found.read_bytes(), source=found.name)], [found.name]


def read_standards(path: str | None) -> Standards | None:
    """The organisation standards file, when one was given."""
    from services.planner.intake import parse_standards
    from shared.errors import AutopilotError

    if path is None:
        return None
    if not Path(path).is_file():
        raise AutopilotError(f"no such file: {path}", field="--standards")
    try:
        return parse_standards(Path(path).read_bytes(), source=path)
    except AutopilotError as exc:
        if exc.field in (None, "<file>"):
            exc.field = f"--standards {path}"
        raise


def print_report(report: ValidationReport) -> None:
    """Human-readable findings and a one-line summary per step."""
    from shared.models.reports import Severity

    for result in report.results:
        mark = "ok  " if result.passed else "FAIL"
        print(
            f"  {mark} {result.step:<14} {result.seconds * 1000:7.1f} ms  {len(result.findings)} findings"
        )
    sec = report.security
    accepted = f", {len(sec.accepted)} accepted with a stated reason" if sec.accepted else ""
    if sec.notRun:
        print(f"  checkov: did not run ({sec.notRun})")
    else:
        print(f"  checkov: {sec.passed} passed, {sec.failed} failed ({sec.passRate:.1%}){accepted}")
    for finding in sec.accepted:
        print(f"  accepted {finding.check} [{finding.object}] {finding.message}")
    for finding in report.findings:
        if finding.severity == Severity.INFO:
            continue
        where = f" [{finding.object}]" if finding.object else ""
        hint = f" -> {finding.hint}" if finding.hint else ""
        print(
            f"  {finding.severity.value:<7} {finding.tool}:{finding.check}{where} {finding.message}{hint}"
        )
