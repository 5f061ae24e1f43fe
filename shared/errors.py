"""The one exception tree of the project, how each class maps to HTTP and to an ErrorCode, and
how any exception is classified for retries.

```
AutopilotError                  status  ErrorCode
├── InputError                  422     invalid_input     bad input: names the field
│   └── (services' own: planner KnowledgeError, webhooks' WebhookError)
├── TooLarge                    413     invalid_input     a body or file over its limit
│   └── (gateway's BodyTooLarge)
├── ModelConfigError            422     invalid_input     model settings that cannot work
├── ClarificationNeeded         422     invalid_input     a prompt lacks a fact (escalates)
├── PlanningError               422     policy            cannot be planned as asked
├── GenerationError             500     unknown           the generator could not write the chart
├── ValidationFailed            422     validation_failed the chart did not pass validation
├── ModelCallError              502     (per call)        a model call failed after retries
├── EscalationNeeded            502     invalid_output    the model's output keeps failing
├── ArtifactError               500     invalid_input     an artifact is missing or unreadable
│   └── ArtifactNotFound        404     invalid_input     (also a LookupError)
├── EmbeddedServerError         500     unknown           a local Postgres/NATS did not start
├── NotFound                    404     invalid_input     no such workflow (WorkflowNotFound)
└── Conflict                    409     invalid_input     not possible in the current state
    ├── GateNotPending, NothingToReplay, ReplayLimit, NotCancellable
    └── (services' own: gateway keys' KeyError_)
```
`TABLE` is the mapping; each class reads its `status` and `code` from it, and the gateway's one
app-level handler answers with `status`. Services define their own subclasses beside their code
(planner `KnowledgeError`, generator `ChartConflict`, gateway `KeyError_` and `BodyTooLarge`,
CLI `Unavailable`, `shared/webhooks.py` `WebhookError`); no other class derives from Exception
(tests/unit/test_structure.py holds the few exceptions to that, with their reasons).

`FOREIGN` does the same for the libraries' exceptions the project meets, by name: which answer
503 at the gateway (Postgres or NATS away: retry) and which are transient.

`classify` turns any exception into the `ErrorContext` that failure events carry and the
gateway's error handler reads; `is_transient` is the one test of "worth retrying", used by the
swarm runtime (nak and redeliver) and the gateway's node retry policy.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from shared.models.workflow import ErrorCode, ErrorContext

if TYPE_CHECKING:
    from shared.events import Swarm


class AutopilotError(Exception):
    """Base of every error the project raises on purpose."""

    code: ErrorCode = ErrorCode.UNKNOWN
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def __str__(self) -> str:
        if self.field and not self.message.startswith(self.field):
            return f"{self.field}: {self.message}"
        return self.message

    def context(self, swarm: str | None = None, attempt: int = 1) -> ErrorContext:
        """The error as the contract that travels in failure events."""
        return ErrorContext(
            code=self.code,
            message=self.message,
            field=self.field,
            swarm=swarm,
            attempt=attempt,
            retryable=self.code in RETRYABLE_CODES,
            details=self.details,
        )


class InputError(AutopilotError):
    """The input is invalid; the message says which field and what would fix it."""

    @classmethod
    def from_validation(cls, exc: ValidationError, prefix: str = "") -> InputError:
        """Turn a pydantic error into one InputError naming the first bad field."""
        errors = exc.errors(include_url=False)
        lines = []
        for err in errors:
            loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
            lines.append(f"{loc or '<root>'}: {err['msg']}")
        first = ".".join(str(p) for p in (prefix, *errors[0]["loc"]) if p != "") if errors else None
        return cls("; ".join(lines), field=first or None, errors=lines)

    def under(self, source: str) -> InputError:
        """The same error with its field placed under `source` (a request body's field)."""
        field = source if not self.field or self.field == "input" else f"{source}.{self.field}"
        return InputError(self.message, field=field, **self.details)


class TooLarge(AutopilotError):
    """A body, file or list is over its configured limit; the message names the limit."""


class PlanningError(AutopilotError):
    """The requirements break a standard or cannot be planned."""


class GenerationError(AutopilotError):
    """The generator failed to write the chart."""


class ValidationFailed(AutopilotError):
    """The chart failed validation."""


# --------------------------------------------------------------------------- models


class ModelConfigError(AutopilotError):
    """The model settings cannot work: names the variable to set or the endpoint to start."""


class ModelCallError(AutopilotError):
    """A call to the model failed after the client's own retries (code says whether to retry)."""

    def __init__(self, message: str, *, code: ErrorCode, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class EscalationNeeded(AutopilotError):
    """The model kept answering with output that fails validation; a human has to decide."""

    def __init__(self, message: str, **details: Any) -> None:
        # `escalate` tells the gateway to open the error_review gate instead of retrying.
        super().__init__(message, **{"escalate": "invalid_output", **details})


class ClarificationNeeded(AutopilotError):
    """A required fact is missing from a plain-language request; ask instead of guessing."""

    def __init__(self, questions: list[str], **details: Any) -> None:
        super().__init__(
            "clarification needed: " + " ".join(questions),
            field="prompt",
            **{"escalate": "clarification", "questions": questions, **details},
        )
        self.questions = questions


# --------------------------------------------------------------------------- infrastructure


class ArtifactError(AutopilotError):
    """An artifact is missing, unreadable with the current key, or corrupted."""


class ArtifactNotFound(ArtifactError, LookupError):
    """No artifact at that address."""


class EmbeddedServerError(AutopilotError, RuntimeError):
    """An embedded server could not start or stop; the message carries its log tail."""


# --------------------------------------------------------------------------- workflows


class NotFound(AutopilotError, LookupError):
    """No such thing (or none the caller may see)."""


class WorkflowNotFound(NotFound):
    """No workflow with that id."""


class Conflict(AutopilotError):
    """The request is not possible in the current state."""


class GateNotPending(Conflict):
    """A decision for a gate the workflow is not waiting at."""


class NothingToReplay(Conflict):
    """The checkpoint has nothing left to run."""


class ReplayLimit(Conflict):
    """The workflow was replayed as often as `max_replays` allows."""


class NotCancellable(Conflict):
    """The workflow already ended."""


# --------------------------------------------------------------------------- the table

TABLE: dict[type[AutopilotError], tuple[int, ErrorCode]] = {
    AutopilotError: (500, ErrorCode.UNKNOWN),
    InputError: (422, ErrorCode.INVALID_INPUT),
    TooLarge: (413, ErrorCode.INVALID_INPUT),
    PlanningError: (422, ErrorCode.POLICY),
    GenerationError: (500, ErrorCode.UNKNOWN),
    ValidationFailed: (422, ErrorCode.VALIDATION_FAILED),
    ModelConfigError: (422, ErrorCode.INVALID_INPUT),
    ClarificationNeeded: (422, ErrorCode.INVALID_INPUT),
    ModelCallError: (502, ErrorCode.UNKNOWN),
    EscalationNeeded: (502, ErrorCode.INVALID_OUTPUT),
    # Unreadable input of a swarm; `classify` makes it bad output where the gateway reads it.
    ArtifactError: (500, ErrorCode.INVALID_INPUT),
    ArtifactNotFound: (404, ErrorCode.INVALID_INPUT),
    EmbeddedServerError: (500, ErrorCode.UNKNOWN),
    NotFound: (404, ErrorCode.INVALID_INPUT),
    Conflict: (409, ErrorCode.INVALID_INPUT),
}
"""Class -> (HTTP status, ErrorCode); a class not listed has its parent's row."""

for _cls, (_status, _code) in TABLE.items():
    _cls.status, _cls.code = _status, _code

# --------------------------------------------------------------------------- retries

RETRYABLE_CODES = frozenset({ErrorCode.TRANSIENT, ErrorCode.RATE_LIMIT})

UNAVAILABLE = 503
"""The status of a dependency that comes back by itself: the caller retries (Retry-After)."""

FOREIGN: dict[str, tuple[int, ErrorCode]] = {
    # Postgres or NATS away: the gateway answers 503, swarms and nodes retry.
    # (psycopg_pool.PoolTimeout is an OperationalError.)
    "psycopg.OperationalError": (UNAVAILABLE, ErrorCode.TRANSIENT),
    "nats.errors.TimeoutError": (UNAVAILABLE, ErrorCode.TRANSIENT),
    "nats.errors.ConnectionClosedError": (UNAVAILABLE, ErrorCode.TRANSIENT),
    "nats.errors.NoServersError": (UNAVAILABLE, ErrorCode.TRANSIENT),
    # A connection closed under a request: the caller may retry; a node retrying it would not help.
    "psycopg.InterfaceError": (UNAVAILABLE, ErrorCode.UNKNOWN),
    # Hiccups worth retrying in the background; a request that meets one is a plain 500.
    "nats.errors.NoRespondersError": (500, ErrorCode.TRANSIENT),
    "nats.errors.StaleConnectionError": (500, ErrorCode.TRANSIENT),
    "nats.errors.OutboundBufferLimitError": (500, ErrorCode.TRANSIENT),
    "nats.errors.ConnectionReconnectingError": (500, ErrorCode.TRANSIENT),
    "nats.js.errors.ServiceUnavailableError": (500, ErrorCode.TRANSIENT),
    "nats.js.errors.NoStreamResponseError": (500, ErrorCode.TRANSIENT),
    "builtins.ConnectionError": (500, ErrorCode.TRANSIENT),
    "builtins.TimeoutError": (500, ErrorCode.TRANSIENT),
}
"""`module.Name` of a library's exception -> (HTTP status, ErrorCode); subclasses share the row
of their nearest listed base. Named, not imported, so the CLI and the contracts load neither
psycopg nor nats (`foreign_classes` imports them, in the gateway)."""

TRANSIENT_ERRORS = frozenset(name for name, (_, code) in FOREIGN.items() if code in RETRYABLE_CODES)
"""Errors of the infrastructure, not of the request: the same work will likely succeed later."""


def _qualified(cls: type) -> str:
    """`module.Name` of a class, as listed in FOREIGN."""
    return f"{cls.__module__}.{cls.__qualname__}"


def http_status(exc: BaseException) -> int:
    """The HTTP status an exception answers with: its TABLE row, its FOREIGN row, else 500."""
    if isinstance(exc, AutopilotError):
        return exc.status
    for cls in type(exc).__mro__:
        if (row := FOREIGN.get(_qualified(cls))) is not None:
            return row[0]
    return 500


def foreign_classes(status: int) -> tuple[type[Exception], ...]:
    """The FOREIGN exceptions whose row answers `status`, imported (a library that is not
    installed has none), for a web framework that registers handlers by class."""
    found: list[type[Exception]] = []
    for name, (row_status, _) in FOREIGN.items():
        if row_status != status:
            continue
        module, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, Exception):
            found.append(cls)
    return tuple(found)


def is_transient(exc: BaseException) -> bool:
    """Whether an exception is worth retrying with back-off (infrastructure hiccups, rate limits)."""
    if isinstance(exc, AutopilotError):
        return exc.code in RETRYABLE_CODES
    return any(_qualified(cls) in TRANSIENT_ERRORS for cls in type(exc).__mro__)


def classify(
    exc: BaseException, *, swarm: Swarm | None = None, attempt: int = 1, step: str | None = None
) -> ErrorContext:
    """An exception as the ErrorContext failure events carry and the gateway's error handler
    reads: raised by a swarm (`swarm`, `attempt`) or by a gateway node (`step`).

    What a reader cannot load is the fault of whoever wrote it: a swarm's unreadable input is
    invalid input, a swarm's output the gateway cannot load is invalid output.
    """
    name = type(exc).__name__
    where = swarm.value if swarm is not None else None
    if step is not None:
        if isinstance(exc, ValidationError | ArtifactError | json.JSONDecodeError | KeyError):
            return ErrorContext(code=ErrorCode.INVALID_OUTPUT, message=f"{step}: {exc}")
        if isinstance(exc, AutopilotError):
            return exc.context(swarm=None).model_copy(update={"details": {"step": step}})
        return ErrorContext(code=ErrorCode.UNKNOWN, message=f"{step}: {name}: {exc}")
    if isinstance(exc, AutopilotError):
        return exc.context(where, attempt)
    transient = is_transient(exc)
    return ErrorContext(
        code=ErrorCode.TRANSIENT if transient else ErrorCode.UNKNOWN,
        message=f"{name}: {exc}" if str(exc) else name,
        swarm=where,
        attempt=attempt,
        retryable=transient,
        details={"exception": name},
    )
