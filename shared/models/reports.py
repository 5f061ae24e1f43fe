"""Validation and security-scan reports: what the validator found, where, and how to fix it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, computed_field, model_validator

from shared.models.requirements import SpecModel


class Severity(StrEnum):
    """How bad a finding is. Errors fail validation; warnings fail strict lint only."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(SpecModel):
    """One problem found in a chart."""

    severity: Severity
    tool: str = Field(examples=["helm-lint", "kube-schema", "checkov", "autopilot"])
    check: str = Field(default="", description="Check id, e.g. CKV_K8S_20 or selector-match.")
    object: str = Field(default="", description="Kind/name of the object, or a file path.")
    message: str
    hint: str = Field(default="", description="How to fix it.")


class ValidationResult(SpecModel):
    """The outcome of one validation step."""

    step: str = Field(examples=["lint", "render", "schema", "values-schema", "checkov", "checks"])
    passed: bool
    seconds: float = Field(default=0.0, ge=0)
    findings: list[Finding] = Field(default_factory=list)


class SecurityScanReport(SpecModel):
    """Checkov's Kubernetes checks over every rendered object."""

    passed: int = 0
    failed: int = 0
    excluded: list[str] = Field(
        default_factory=list, description="Check ids counted as neither pass nor fail."
    )
    failedChecks: list[Finding] = Field(default_factory=list)
    accepted: list[Finding] = Field(
        default_factory=list,
        description="Checks the chart fails on purpose, each with the reason it declares "
        "(checkov.io/skip annotations); counted as neither pass nor fail.",
    )
    notRun: str | None = Field(
        default=None,
        description="Why checkov did not run (the defaults did not render, or the scan failed); "
        "nothing was counted then and passRate is 0.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        """Accept a dump of this model: passRate is derived, so it is read back as nothing."""
        if isinstance(data, dict) and "passRate" in data:
            data = {k: v for k, v in data.items() if k != "passRate"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passRate(self) -> float:
        """Share of counted checks that passed (1.0 when nothing was counted, 0 if not run)."""
        if self.notRun:
            return 0.0
        total = self.passed + self.failed
        return 1.0 if total == 0 else self.passed / total


class ValidationReport(SpecModel):
    """Everything the validator ran against one chart."""

    chart: str
    passed: bool
    results: list[ValidationResult] = Field(default_factory=list)
    security: SecurityScanReport = Field(default_factory=SecurityScanReport)
    kubeVersions: list[str] = Field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """All findings of all steps."""
        return [f for r in self.results for f in r.findings]

    def summary(self) -> dict[str, Any]:
        """The few numbers a validation's completion event and a workflow's status carry:
        passed, passRate, errors, warnings (the validator, the gateway and its test double
        all summarise with this)."""
        findings = self.findings
        return {
            "passed": self.passed,
            "passRate": self.security.passRate,
            "errors": sum(f.severity is Severity.ERROR for f in findings),
            "warnings": sum(f.severity is Severity.WARNING for f in findings),
        }
