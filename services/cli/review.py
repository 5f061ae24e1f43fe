"""A human gate on the terminal: the summary, then a approve / e edit / r reject / ? detail.

An edit opens $EDITOR on the plan as YAML and validates the result like a spec (the same
pydantic models); an invalid edit names the field and lets the person edit again or abort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from services.cli.summaries import Style
from services.cli.terminal import Terminal
from shared.errors import InputError
from shared.models.plan import ChartPlan
from shared.models.requirements import ChartRequirements


@dataclass
class Answer:
    """A reviewer's decision; `plan` is the edited plan when the decision is edit."""

    decision: Literal["approve", "edit", "reject"]
    comment: str | None = None
    plan: ChartPlan | None = None


def _field(loc: tuple[Any, ...], data: Any) -> str:
    """A pydantic location as a path, components named instead of numbered."""
    parts: list[str] = []
    node = data
    for part in loc:
        name = None
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            spec = item.get("spec") if isinstance(item, dict) else None
            name = (spec or item).get("name") if isinstance(spec or item, dict) else None
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{name if name else part}]"]
        else:
            parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def validate_plan(data: Any) -> ChartPlan:
    """An edited plan, checked by the plan model and, component by component, the spec's rules."""
    if not isinstance(data, dict):
        raise InputError("the edited plan must be a YAML mapping", field="plan")
    try:
        plan = ChartPlan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = _field(tuple(err["loc"]), data) or "plan"
        raise InputError(f"{field}: {err['msg']}", field=field) from exc
    spec = {
        "name": plan.name,
        "chartVersion": plan.chartVersion,
        "components": [c.spec.dump() for c in plan.components],
        "secrets": [s.dump() for s in plan.secrets],
    }
    try:
        ChartRequirements.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = _field(tuple(err["loc"]), spec) or "components"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"{field}: {message}", field=field) from exc
    return plan


def plan_yaml(plan: ChartPlan) -> str:
    """The plan as the YAML a person edits."""
    head = (
        "# Edit the plan, save and quit. Decisions and notes are informational.\n"
        "# Components keep their names; an invalid plan is shown with the field to fix.\n"
    )
    return head + yaml.safe_dump(plan.dump(), sort_keys=False, width=100)


def _edit(term: Terminal, plan: ChartPlan, style: Style) -> ChartPlan | None:
    """Edit until the plan is valid (the new plan), unchanged or aborted (None)."""
    text = plan_yaml(plan)
    while True:
        edited = term.edit(text)
        if edited == text and text == plan_yaml(plan):
            term.say("no change")
            return None
        try:
            return validate_plan(yaml.safe_load(edited))
        except yaml.YAMLError as exc:
            term.say(style(f"invalid edit: not YAML: {exc}", "red", "bold"))
        except InputError as exc:
            term.say(style(f"invalid edit: {exc.message}", "red", "bold"))
        text = edited
        again = term.ask("[e] edit again  [x] abort the edit > ").lower()
        if not again.startswith("e"):
            term.say("edit aborted; the plan is unchanged")
            return None


def review(
    gate: str,
    summary: Callable[[ChartPlan | None, bool], str],
    detail: Callable[[ChartPlan | None], str],
    *,
    plan: ChartPlan | None = None,
    term: Terminal | None = None,
) -> Answer:
    """Show a gate and read the decision; `plan` makes edits possible (planning_review)."""
    own = term is None
    term = term or Terminal.open()
    style = Style(term.colour)
    edited: ChartPlan | None = None
    try:
        term.say(style(f"== {gate} ==", "bold", "cyan"))
        term.say(summary(plan, term.colour))
        options = "[a] approve  " + ("[e] edit  " if plan is not None else "")
        options += "[r] reject  [?] full detail > "
        while True:
            answer = term.ask(options).lower()
            if answer in ("a", "approve", "y", "yes"):
                if edited is not None:
                    return Answer("edit", plan=edited)
                return Answer("approve")
            if answer in ("r", "reject", "n", "no"):
                comment = term.ask("comment (why it is rejected): ")
                term.say(f"rejected at {gate}" + (f": {comment}" if comment else ""))
                return Answer("reject", comment=comment or None)
            if answer in ("?", "d", "detail") or answer.startswith("?"):
                term.page(detail(edited or plan))
            elif answer in ("e", "edit") and plan is not None:
                changed = _edit(term, edited or plan, style)
                if changed is not None:
                    edited = changed
                    term.say(style("edited plan:", "bold"))
                    term.say(summary(edited, term.colour))
            else:
                term.say(f"unknown answer {answer!r}")
    finally:
        if own:
            term.close()
