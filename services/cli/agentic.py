"""LLM mode end to end: input -> agent plan -> engine chart -> agent fixes -> report and diff.

    plan, chart_dir, report, diff = generate_with_model(data, Path("out"), model_name="openai:gpt-4.1")

Without a model, `take_input` answers a plain-language prompt with an error that names the
inputs the offline engine reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from services.cli.environment import shell_environment
from services.planner.intake import InputKind, Intake, decode, intake, load_yaml
from shared.errors import InputError
from shared.libyaml import SafeLoader
from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport
from shared.models.requirements import ChartRequirements, Standards

if TYPE_CHECKING:  # langchain costs a second at start-up; the offline path never needs it
    from langchain_core.language_models import BaseChatModel

OFFLINE_INPUTS = (
    "a plain-language prompt needs a model: set AUTOPILOT_MODEL=provider:model "
    "(e.g. openai:gpt-4.1, anthropic:claude-sonnet-4-5, ollama:llama3.1) or pass --model. "
    "Offline, give a requirements spec (YAML/JSON with 'components') or a Docker Compose file "
    "(with 'services')."
)


_DOCUMENT_START = re.compile(r"^(---|[{\[]|- |[A-Za-z_][\w.-]*:(\s|$))")


def looks_like_a_document(text: str) -> bool:
    """Whether text that is not valid YAML was meant as a YAML or JSON document, not prose.

    A document opens with a mapping key, a list item or a brace and runs over several lines;
    a prompt is a sentence or a paragraph.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return len(lines) > 1 and bool(_DOCUMENT_START.match(lines[0]))


def prompt_of(data: bytes | str) -> str | None:
    """The prompt if the input is `{"prompt": ...}` or free text, else None."""
    text = decode(data)
    try:
        doc: Any = yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if looks_like_a_document(text):
            # A spec or Compose file with a syntax error: say where, not "needs a model".
            load_yaml(text)
        return text.strip()  # prose with colons and quotes is often not YAML
    if isinstance(doc, dict) and set(doc) == {"prompt"} and isinstance(doc["prompt"], str):
        return str(doc["prompt"]).strip()
    if isinstance(doc, str) and " " in doc.strip():
        return doc.strip()
    return None


def renamed(requirements: ChartRequirements, name: str) -> ChartRequirements:
    """A native spec under the chart name --name gives, validated like the spec's own."""
    doc = requirements.model_dump(mode="json", by_alias=True, exclude_unset=True)
    try:
        return ChartRequirements.model_validate({**doc, "name": name})
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise InputError(f"{name!r} is not a chart name: {reason}", field="--name") from exc


def take_input(
    data: bytes | str,
    model: BaseChatModel | None,
    *,
    base_dir: Path | None = None,
    name: str | None = None,
    workflow_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    override_names: Sequence[str] = (),
) -> Intake:
    """Intake that also reads prompts (with a model) and refuses them clearly without one.

    `environ` fills a Compose file's `${VAR}`; None is the user's own environment, which is
    right here because this runs on the user's machine (a service passes only the request's).
    `overrides` are Compose override files merged over a Compose file (see read_override).
    """
    prompt = prompt_of(data)
    if prompt is None:
        env = shell_environment() if environ is None else environ
        taken = intake(
            data,
            base_dir=base_dir,
            name=name,
            environ=env,
            overrides=overrides,
            override_names=override_names,
        )
        if name and taken.kind is InputKind.REQUIREMENTS and taken.requirements.name != name:
            return taken.model_copy(update={"requirements": renamed(taken.requirements, name)})
        return taken
    if model is None:
        raise InputError(OFFLINE_INPUTS, field="input")
    from services.planner.agent import requirements_from_prompt

    req = requirements_from_prompt(prompt, model, workflow_id=workflow_id)
    if name:
        req = req.model_copy(update={"name": name})
    return Intake(kind=InputKind.REQUIREMENTS, requirements=req)


def generate_with_model(
    data: bytes,
    out_dir: Path,
    *,
    model_name: str,
    base_dir: Path | None = None,
    name: str | None = None,
    standards: Standards | None = None,
    model: BaseChatModel | None = None,
    workflow_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    override_names: Sequence[str] = (),
) -> tuple[ChartPlan, Path, ValidationReport, str]:
    """`autopilot generate --model`: the agents' plan and chart, its report, and the agent's diff."""
    from services.generator.agent import improve_chart
    from services.generator.engine import generate_chart
    from services.planner.agent import plan_with_agent
    from shared.llm import init_model

    chat = model or init_model(model_name, variable="--model")
    taken = take_input(
        data,
        chat,
        base_dir=base_dir,
        name=name,
        workflow_id=workflow_id,
        environ=environ,
        overrides=overrides,
        override_names=override_names,
    )
    plan = plan_with_agent(
        taken.requirements, chat, standards=standards, notes=taken.notes, workflow_id=workflow_id
    )
    generated = generate_chart(plan, Path(out_dir), force=True)
    result = improve_chart(generated.chart_dir, plan, chat, workflow_id=workflow_id)
    return plan, result.chart_dir, result.report, result.diff
