"""The exception tree every service raises, and how each maps to an ErrorCode.

AutopilotError
├── InputError          bad user input (spec, compose file, CLI args): names the field
├── PlanningError       the requirements cannot be planned as asked (policy, conflicts)
├── GenerationError     the generator could not write the chart
└── ValidationFailed    the chart did not pass validation (carries the report)
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.models.workflow import ErrorCode, ErrorContext


class AutopilotError(Exception):
    """Base of every error the project raises on purpose."""

    code: ErrorCode = ErrorCode.UNKNOWN

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
            retryable=self.code in (ErrorCode.TRANSIENT, ErrorCode.RATE_LIMIT),
            details=self.details,
        )


class InputError(AutopilotError):
    """The input is invalid; the message says which field and what would fix it."""

    code = ErrorCode.INVALID_INPUT

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


class PlanningError(AutopilotError):
    """The requirements break a standard or cannot be planned."""

    code = ErrorCode.POLICY


class GenerationError(AutopilotError):
    """The generator failed to write the chart."""

    code = ErrorCode.UNKNOWN


class ValidationFailed(AutopilotError):
    """The chart failed validation."""

    code = ErrorCode.VALIDATION_FAILED
