"""A human gate on the terminal: the summary, then a approve / e edit / r reject / ? detail.

An edit opens $EDITOR on the plan as YAML; the difference is turned into a merge patch keyed by
component name and applied by `shared.plan_edit.edit_plan`, the path the gateway takes, so it is
validated like a spec; an invalid edit names the field and lets the person edit again or abort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from services.cli.summaries import Style
from services.cli.terminal import Terminal
from services.planner.engine.calls import rewire
from shared.errors import InputError
from shared.models.plan import ChartPlan
from shared.plan_edit import edit_plan, plan_changes, validate_plan

__all__ = ["Answer", "edit_plan", "plan_yaml", "review", "validate_plan"]


@dataclass
class Answer:
    """A reviewer's decision; with edit, `plan` is the edited plan and `changes` the merge patch
    keyed by name that makes it from the reviewed one (what the gateway is sent)."""

    decision: Literal["approve", "edit", "reject"]
    comment: str | None = None
    plan: ChartPlan | None = None
    changes: dict[str, Any] | None = None


def plan_yaml(plan: ChartPlan) -> str:
    """The plan as the YAML a person edits."""
    head = (
        "# Edit the plan, save and quit. Decisions and notes are informational.\n"
        "# Components keep their names; an invalid plan is shown with the field to fix.\n"
    )
    return head + yaml.safe_dump(plan.dump(), sort_keys=False, width=100)


def edit_once(plan: ChartPlan, text: str) -> ChartPlan | None:
    """The plan as edited in `text` (YAML), through the gateway's edit path; None: no change."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"not YAML: {exc}", field="plan") from exc
    changes = plan_changes(plan.dump(), data)
    if not changes:
        return None
    return rewire(edit_plan(plan, changes, prefix=""))


def edit_loop(term: Terminal, plan: ChartPlan, style: Style) -> ChartPlan | None:
    """Edit until the plan is valid (the new plan), unchanged or aborted (None)."""
    text = plan_yaml(plan)
    while True:
        edited = term.edit(text)
        try:
            changed = edit_once(plan, edited)
            if changed is None:
                term.say("no change")
            return changed
        except InputError as exc:
            term.say(style(f"invalid edit: {exc}", "red", "bold"))
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
                    changes = plan_changes(plan.dump(), edited.dump()) if plan else None
                    return Answer("edit", plan=edited, changes=changes)
                return Answer("approve")
            if answer in ("r", "reject", "n", "no"):
                comment = term.ask("comment (why it is rejected): ")
                term.say(f"rejected at {gate}" + (f": {comment}" if comment else ""))
                return Answer("reject", comment=comment or None)
            if answer in ("?", "d", "detail") or answer.startswith("?"):
                term.page(detail(edited or plan))
            elif answer in ("e", "edit") and plan is not None:
                changed = edit_loop(term, edited or plan, style)
                if changed is not None:
                    edited = changed
                    term.say(style("edited plan:", "bold"))
                    term.say(summary(edited, term.colour))
            else:
                term.say(f"unknown answer {answer!r}")
    finally:
        if own:
            term.close()
