"""The gateway's HTTP payloads and its notification event; the OpenAPI document is built from these."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.gateway.state import Status
from shared.gates import AutoApprovable, Gate
from shared.models.workflow import ErrorContext

MAX_ENV_ENTRIES = 1_000
MAX_ENV_BYTES = 64 * 1024
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Text that ends up in Postgres (text and jsonb refuse NUL) or in JSON (a lone surrogate cannot
# be encoded): refused with a 422 naming the field instead of failing deep inside as a 500.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# What YAML itself forbids (a Compose file, `.env` text, values that land in values.yaml):
# C0 and C1 controls other than tab, LF, CR and NEL, the two noncharacters, lone surrogates.
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _bad_char(value: str, pattern: re.Pattern[str]) -> str | None:
    """Why `value` cannot be taken, or None."""
    found = pattern.search(value)
    if found is None:
        return None
    char = found.group()
    kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"holds {kind} (U+{ord(char):04X}) at position {found.start()}; remove it"


def _text(value: str) -> str:
    """The value unchanged, or ValueError naming a NUL or lone surrogate in it."""
    if why := _bad_char(value, _NOT_TEXT):
        raise ValueError(why)
    return value


def _yaml_text(value: str) -> str:
    """The value unchanged, or ValueError naming a character YAML text may not hold."""
    if why := _bad_char(value, _NOT_YAML):
        raise ValueError(why)
    return value


Text = Annotated[str, AfterValidator(_text)]
"""A string without NUL or lone surrogates."""
YamlText = Annotated[str, AfterValidator(_yaml_text)]
"""A string YAML can hold (no control characters but tab and line ends, no lone surrogate)."""


def clean_tree(value: Any, pattern: re.Pattern[str] = _NOT_YAML, path: str = "") -> Any:
    """`value` unchanged, or ValueError naming the first key or string that holds a bad char."""
    if isinstance(value, str):
        if why := _bad_char(value, pattern):
            raise ValueError(f"{path or 'value'}: {why}")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (why := _bad_char(key, pattern)):
                raise ValueError(f"key {where!r}: {why}")
            clean_tree(item, pattern, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            clean_tree(item, pattern, f"{path}.{i}" if path else str(i))
    return value


InputKindName = Literal["requirements", "compose", "prompt"]


class SubmitOptions(BaseModel):
    """How a workflow should run."""

    model_config = ConfigDict(extra="forbid")

    auto_approve: list[AutoApprovable] = Field(
        default_factory=list,
        description="Gates to approve without a reviewer: only for the approver or admin role "
        "(403 for a submitter); the admin's AUTOPILOT_AUTO_APPROVE policy needs no asking.",
    )
    name: Text | None = Field(
        default=None, max_length=40, description="Chart name for a Compose file (default: 'app')."
    )


def _exactly_one_input(schema: dict[str, Any]) -> None:
    """OpenAPI: exactly one of the three inputs, each of its own type (JSON Schema oneOf)."""
    schema["oneOf"] = [
        {"title": title, "required": [key], "properties": {key: {"type": kind}}}
        for key, kind, title in (
            ("requirements", "object", "A native spec"),
            ("compose", "string", "A Docker Compose file"),
            ("prompt", "string", "A plain-language prompt"),
        )
    ]
    schema["examples"] = [
        {
            "requirements": {
                "name": "shop",
                "components": [
                    {"name": "web", "image": "ghcr.io/acme/web:1.4.2", "ports": [{"port": 8080}]}
                ],
            }
        },
        {
            "compose": "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n",
            "name": "web",
        },
    ]


class SubmitRequest(BaseModel):
    """One input, exactly one of requirements, compose or prompt."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_input)

    requirements: dict[str, Any] | None = Field(default=None, description="A native spec.")
    compose: YamlText | None = Field(
        default=None, description="A Docker Compose file, as YAML text."
    )
    prompt: Text | None = Field(default=None, description="Plain language (needs a model).")
    name: Text | None = Field(default=None, max_length=40, description="Chart name for compose.")
    env: dict[str, YamlText] | None = Field(
        default=None,
        description="compose only: variables for `${VAR}` and bare `environment: [VAR]` "
        f"entries (at most {MAX_ENV_ENTRIES} entries, {MAX_ENV_BYTES // 1024} KiB in all). "
        "The gateway never reads its own environment for them: an unset variable becomes an "
        "empty string with a warning note, `${VAR:?message}` is a 422 naming it.",
    )
    dotenv: YamlText | None = Field(
        default=None,
        description="compose only: the text of the `.env` file beside the Compose file "
        f"(at most {MAX_ENV_BYTES // 1024} KiB); `env` wins over it, as a shell does over .env.",
    )
    options: SubmitOptions = Field(default_factory=SubmitOptions)

    @field_validator("requirements", "env")
    @classmethod
    def _clean(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Keys and strings a YAML file can hold (the spec becomes values.yaml and templates)."""
        clean_tree(value)
        return value

    @model_validator(mode="after")
    def _one_input(self) -> SubmitRequest:
        """Exactly one input, so there is never a doubt about what was planned."""
        given = [k for k in ("requirements", "compose", "prompt") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'requirements', 'compose' or 'prompt'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


def check_env(body: SubmitRequest) -> tuple[int, str, str] | None:
    """(status, field, reason) when `env`/`dotenv` break a limit (413) or a rule (422)."""
    for field in ("env", "dotenv"):
        if getattr(body, field) is not None and body.compose is None:
            return 422, field, f"'{field}' applies only to a 'compose' input; leave it out"
    if body.env is not None:
        if len(body.env) > MAX_ENV_ENTRIES:
            return 413, "env", f"{len(body.env)} entries is over the limit of {MAX_ENV_ENTRIES}"
        size = sum(len(k.encode()) + len(v.encode()) for k, v in body.env.items())
        if size > MAX_ENV_BYTES:
            return 413, "env", f"{size} bytes of names and values is over the {MAX_ENV_BYTES} limit"
        for key in body.env:
            if not ENV_NAME.fullmatch(key):
                return (
                    422,
                    f"env.{key}",
                    (
                        f"{key!r} is not a variable name; use letters, digits and `_`, "
                        "not starting with a digit"
                    ),
                )
    if body.dotenv is not None and (size := len(body.dotenv.encode())) > MAX_ENV_BYTES:
        return 413, "dotenv", f"the .env text is {size} bytes, over the {MAX_ENV_BYTES} limit"
    return None


class SubmitResponse(BaseModel):
    """A workflow was accepted."""

    id: str
    status: Status


class PendingGate(BaseModel):
    """A human gate waiting for a decision, with what the reviewer needs to see."""

    gate: Gate
    since: datetime | None = None
    plan: dict[str, Any] | None = Field(
        default=None, description="planning_review: the ChartPlan (decisions and notes inside)."
    )
    security: dict[str, Any] | None = Field(
        default=None, description="security_review: checkov summary and findings."
    )
    validation: dict[str, Any] | None = None
    agent_diff: str | None = Field(
        default=None,
        description="security_review in LLM mode: unified diff of the offline engine's chart "
        "against the generation agent's ('' when the agent changed nothing).",
    )
    diff: str | None = Field(
        default=None,
        description="deployment_approval: unified diff of the rendered default manifests "
        "against the previously published chart of the same name.",
    )
    previous: str | None = Field(default=None, description="Workflow that published that chart.")
    error: ErrorContext | None = Field(default=None, description="error_review: the error.")
    step: str | None = Field(default=None, description="error_review: the step approve re-runs.")
    questions: list[str] | None = Field(
        default=None, description="error_review: what the planning agent needs a person to answer."
    )


class PublishedChart(BaseModel):
    """The packaged chart."""

    name: str
    version: str
    archive: str
    chart_kind: str = Field(description="Artifact kind of the chart's files (chart.N).")
    sha256: str = ""


class WorkflowView(BaseModel):
    """A workflow as a client sees it."""

    id: str
    status: Status
    phase: str
    input_kind: InputKindName
    submitted_by: str
    name: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    pending_gate: PendingGate | None = None
    validation: dict[str, Any] | None = Field(
        default=None, description="passed, passRate, errors, warnings of the latest validation."
    )
    error: ErrorContext | None = None
    comment: str | None = Field(default=None, description="The reviewer's last comment.")
    decisions: dict[str, Any] | None = Field(
        default=None,
        description="Gate -> {decision, by, auto}: who decided, or who allowed an auto-approval "
        "('<principal> (auto-approve by role approver)' or 'policy (...)').",
    )
    chart: PublishedChart | None = None


class WorkflowList(BaseModel):
    """One page of workflows, newest first."""

    items: list[WorkflowView]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class DecisionRequest(BaseModel):
    """A reviewer's decision at a gate."""

    model_config = ConfigDict(extra="forbid")

    gate: Gate
    decision: Literal["approve", "edit", "reject"]
    changes: dict[str, Any] | list[dict[str, Any]] | None = Field(
        default=None,
        description="edit at planning_review, addressed by name, in either of two forms. "
        "RFC 6902 JSON Patch on the plan, where a path segment that is not a number selects "
        'the list item of that name: [{"op": "replace", "path": "/components/worker/replicas", '
        '"value": 3}] (`/secrets/<name>`, `/components/web/spec/ports/http/port` likewise; '
        "numbers and `-` still work). Or a JSON merge patch (RFC 7386) in which `components` and "
        '`secrets` are objects keyed by name: {"components": {"worker": {"replicas": 3}}}; '
        '`null` removes a key, a component ({"components": {"worker": null}}) or a secret. A '
        "whole `components` or `secrets` list is accepted only when it leaves none out. The "
        "edited plan is validated like a spec (the plan model, then references: a secret still "
        "referenced cannot be removed, a serviceRef or dependsOn must name a component); a "
        "refused edit is a 422 whose `loc` names the field (`changes.components.worker."
        "replicas`) and leaves the gate pending. "
        "edit at error_review when the planning agent asked questions (`pending_gate.questions`): "
        '{"answers": "<text>"}; the answers are stored beside the prompt (answers.txt of the '
        "input) and planning runs again with a new attempt.",
    )
    comment: Text | None = Field(default=None, max_length=4000)

    @field_validator("changes")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        """An edit lands in the plan, values.yaml and the event log: no NUL, no control chars."""
        return clean_tree(value)


class HistoryEntry(BaseModel):
    """One supervisor checkpoint (time travel)."""

    checkpoint_id: str
    parent_id: str | None = None
    step: int | None = None
    source: str | None = None
    node: list[str] = Field(default_factory=list, description="Node(s) that wrote it.")
    next: list[str] = Field(default_factory=list, description="Node(s) that run from it.")
    phase: str | None = None
    created_at: str | None = None


class History(BaseModel):
    """A workflow's checkpoints, newest first."""

    id: str
    checkpoints: list[HistoryEntry]


class ReplayRequest(BaseModel):
    """Re-run a workflow from one of its checkpoints."""

    model_config = ConfigDict(extra="forbid")

    checkpoint_id: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$", description="From /history."
    )


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the dependencies answer."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


class Problem(BaseModel):
    """An error response."""

    detail: str


class Notice(BaseModel):
    """A progress notification, stored for SSE and published on workflow.* / gate.*."""

    workflow_id: str
    event_id: int
    type: str
    data: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- keys and audit

KeyRole = Literal["submitter", "approver", "admin"]
PRINCIPAL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class KeyRequest(BaseModel):
    """A key to create: the principal it authenticates."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PRINCIPAL_NAME, description="The principal id the key stands for.")
    role: KeyRole = Field(
        description="submitter; approver (may also submit); admin (everything, in its tenant "
        "when it has one)."
    )
    tenant: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The tenant; null for none (a global admin when the role is admin).",
    )


class KeyView(BaseModel):
    """A stored key as listed: never the key, never its hash."""

    id: str
    name: str
    role: KeyRole
    tenant: str | None = None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class KeyCreated(KeyView):
    """A key just created; `key` is shown this once and never stored."""

    key: str = Field(description="Send as `Authorization: Bearer <key>`; it cannot be shown again.")


class KeyList(BaseModel):
    """Stored keys, oldest first."""

    items: list[KeyView]


class AuditView(BaseModel):
    """One gate decision in the audit log."""

    seq: int
    id: str
    time: datetime
    workflow_id: str
    tenant: str
    gate: str
    decision: str
    principal: str = Field(description="Who decided, or who allowed the auto-approval.")
    principal_tenant: str | None = None
    role: str | None = None
    how: Literal["human", "role", "policy"] = Field(
        description="human: a reviewer decided; role: auto-approved by the submitter's approver "
        "or admin role; policy: auto-approved by the admin's AUTOPILOT_AUTO_APPROVE."
    )
    comment: str | None = None


class AuditList(BaseModel):
    """Audit entries, newest first."""

    items: list[AuditView]
    next_cursor: str | None = None
