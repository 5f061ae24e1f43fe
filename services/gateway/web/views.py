"""What the pages show, built from the API's JSON: plain data for the templates, no markup.

A gate is turned into what its reviewer needs (components, decisions and risks; findings by
severity and accepted exceptions; the diff's lines classified); the terminal's summaries
(`services.cli.summaries`) give the same risks, changes and exclusions, so both say one thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from pydantic import ValidationError

from services.cli.summaries import EXCLUDED_WHY, changes, replicas_text, resources_text, risks
from shared.models.plan import ChartPlan

SEVERITIES = ("error", "warning", "info")
STATUSES = ("running", "waiting_for_approval", "completed", "failed", "rejected", "cancelled")
PLAN_HEAD = (
    "# The plan as YAML: change values, save with Edit. Components and secrets keep their names;\n"
    "# decisions and notes are informational. The gateway validates the edit like a spec.\n"
)


@dataclass(frozen=True)
class FieldError:
    """One refused field: where (a dotted path with names, as the API's `loc`) and why."""

    field: str
    message: str
    line: int | None = None
    path: str = ""
    """Inside a field holding a document (the plan, the source): the path in it."""


# --------------------------------------------------------------------------- workflows


def age(value: str | None, now: datetime | None = None) -> str:
    """'42s', '5m', '3h', '2d' since an ISO time ('-' when unknown)."""
    if not value:
        return "-"
    try:
        then = datetime.fromisoformat(value)
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(int(((now or datetime.now(UTC)) - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --------------------------------------------------------------------------- planning


def plan_view(data: dict[str, Any]) -> dict[str, Any]:
    """The planning gate: components, decisions with reasons, risks, changes, the YAML."""
    try:
        plan = ChartPlan.model_validate(data)
    except ValidationError as exc:
        return {"invalid": str(exc), "yaml": plan_text(data)}
    return {
        "name": plan.name,
        "chart_version": plan.chartVersion,
        "app_version": plan.appVersion,
        "components": [
            {
                "name": c.spec.name,
                "kind": str(c.kind),
                "image": c.spec.image,
                "replicas": replicas_text(c),
                "ports": ", ".join(str(p.port) for p in c.spec.ports) or "-",
                "resources": resources_text(c),
                "exceptions": [(e.setting, e.reason) for e in c.spec.security.exceptions],
            }
            for c in plan.components
        ],
        "secrets": [s.name for s in plan.secrets],
        "decisions": [
            {
                "component": d.component or "(chart)",
                "topic": d.topic,
                "choice": d.choice,
                "reason": d.reason,
            }
            for d in plan.decisions
        ],
        "risks": risks(plan),
        "changes": changes(plan),
        "yaml": plan_text(plan.dump()),
    }


def plan_text(plan: dict[str, Any]) -> str:
    """The plan as the YAML a reviewer edits."""
    return PLAN_HEAD + yaml.safe_dump(plan, sort_keys=False, width=100, allow_unicode=True)


def _named(node: yaml.Node, token: str) -> yaml.Node | None:
    """The child of a YAML node a path token names: a key, a list index, or an item's name."""
    items: list[Any] = node.value if isinstance(node, yaml.CollectionNode) else []
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in items if getattr(k, "value", None) == token), None)
    if isinstance(node, yaml.SequenceNode):
        if token.isdigit():
            found: yaml.Node | None = items[int(token)] if int(token) < len(items) else None
            return found
        for item in items:
            spec = _named(item, "spec") if isinstance(item, yaml.MappingNode) else None
            name = _named(spec, "name") if spec is not None else None
            name = name if name is not None else _named(item, "name")
            if isinstance(name, yaml.ScalarNode) and name.value == token:
                return item  # type: ignore[no-any-return]
    return None


def field_line(text: str, field: str) -> int | None:
    """The 1-based line of the YAML text that holds `field` (or its nearest parent found)."""
    try:
        node: yaml.Node | None = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for token in [t for t in field.split(".") if t]:
        child = _named(node, token) if node is not None else None
        if child is None:
            break
        if isinstance(node, yaml.MappingNode):
            key = next(k for k, v in node.value if v is child)
            line = key.start_mark.line + 1
        else:
            line = child.start_mark.line + 1
        node = child
    return line


def yaml_error(exc: yaml.YAMLError) -> FieldError:
    """A YAML syntax error, at its line."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return FieldError("plan", f"not valid YAML: {problem}", line)


def problem_errors(status: int, body: Any, source: str, text: str = "") -> list[FieldError]:
    """The API's refusal as field errors: a 422's `loc` without `body.<source>`, at its line."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if status != 422 or not isinstance(detail, list):
        message = detail if isinstance(detail, str) else f"the gateway answered {status}"
        return [FieldError("", message)]
    out = []
    for err in detail:
        loc = [str(p) for p in err.get("loc", [])]
        if loc[:1] == ["body"]:
            loc = loc[1:]
        if loc[:1] == [source]:
            loc = loc[1:]
        field = ".".join(loc)
        line = field_line(text, field) if text and field else None
        out.append(FieldError(field, str(err.get("msg", "invalid")), line))
    return out


# --------------------------------------------------------------------------- security


def security_view(sec: dict[str, Any]) -> dict[str, Any]:
    """The security gate: checkov's score, findings by severity, exclusions and exceptions."""
    checkov = sec.get("checkov") or {}
    passed, failed = int(checkov.get("passed") or 0), int(checkov.get("failed") or 0)
    rate = checkov.get("passRate")
    if rate is None:
        rate = passed / (passed + failed) if passed + failed else 1.0
    unique: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in sec.get("findings") or []:
        if isinstance(f, dict):
            unique.setdefault((str(f.get("check")), str(f.get("object")), str(f.get("message"))), f)
    groups = [
        (severity, [f for f in unique.values() if f.get("severity") == severity])
        for severity in SEVERITIES
    ]
    return {
        "score": f"{float(rate):.1%}",
        "passed": passed,
        "failed": failed,
        "excluded": [(c, EXCLUDED_WHY.get(c, "")) for c in checkov.get("excluded") or []],
        "groups": [(s, fs) for s, fs in groups if fs],
        "count": len(unique),
        "exceptions": [e for e in sec.get("exceptions") or [] if isinstance(e, dict)],
        "accepted": [f for f in sec.get("accepted") or [] if isinstance(f, dict)],
    }


# --------------------------------------------------------------------------- deployment


def diff_lines(text: str) -> list[tuple[str, str]]:
    """(class, line) of a unified diff: add, remove, hunk, file or context."""
    out = []
    for line in text.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "context"
        out.append((kind, line))
    return out


def diff_counts(lines: list[tuple[str, str]]) -> tuple[int, int]:
    """Lines added and removed."""
    return sum(k == "add" for k, _ in lines), sum(k == "remove" for k, _ in lines)
