"""Declared security exceptions as a reviewer sees them: who needs what, why, and which scanner
checks the chart fails on purpose because of it. The gateway's security gate and `generate
--json` both list these."""

from __future__ import annotations

from typing import Any

from shared.models.plan import ChartPlan
from shared.models.reports import ValidationReport


def accepted_exceptions(plan: ChartPlan, report: ValidationReport) -> list[dict[str, Any]]:
    """Each exception of the plan: component, setting, reason, and the checks it accepted."""
    out: list[dict[str, Any]] = []
    for comp in plan.components:
        for exc in comp.spec.security.exceptions:
            # The validator's accepted finding says "<check>: accepted, <setting>: <reason>".
            checks = {
                f.check
                for f in report.security.accepted
                if f.object.endswith(f"-{comp.spec.name}") and f"{exc.setting}: " in f.message
            }
            out.append(
                {
                    "component": comp.spec.name,
                    "setting": exc.setting,
                    "reason": exc.reason,
                    "checks": sorted(checks),
                }
            )
    return out
