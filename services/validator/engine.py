"""The chart validator: lint, render, values schema, Kubernetes schemas, checkov, own checks.

report = validate_chart(Path("charts/shop"))
report.passed, [r.step for r in report.results], report.security.passRate
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import helm_python

from services.validator import checks, helm, kube_schema, runs, security
from services.validator.helm import Rendered, ValuesSet
from services.validator.security import MIN_CHECKOV_PASS_RATE
from shared.errors import ValidationFailed
from shared.models.reports import (
    Finding,
    SecurityScanReport,
    Severity,
    ValidationReport,
    ValidationResult,
)

DEFAULT_NAMESPACE = "autopilot-validate"
FOREIGN_RELEASE = "rel"
"""The release name charts are validated under, on purpose not the chart's own name."""
_log = logging.getLogger(__name__)

STEPS = ("lint", "render", "values-schema", "schema", "checkov", "checks")
WORKERS = max(2, os.cpu_count() or 1)
"""Threads for Helm's Go calls, which run outside the GIL."""
_T = TypeVar("_T")

__all__ = [
    "DEFAULT_NAMESPACE",
    "MIN_CHECKOV_PASS_RATE",
    "STEPS",
    "render_objects",
    "validate_chart",
    "warm_up",
]


class _Step:
    """Collects one step's findings and times it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.findings: list[Finding] = []
        self.seconds = 0.0
        self.passed: bool | None = None

    def result(self) -> ValidationResult:
        """The step as a contract: passes unless told otherwise or an error was found."""
        passed = self.passed if self.passed is not None else not _has(self.findings, Severity.ERROR)
        return ValidationResult(
            step=self.name, passed=passed, seconds=self.seconds, findings=self.findings
        )


@contextmanager
def _timing(step: _Step) -> Iterator[_Step]:
    """Time the body into step.seconds."""
    start = time.perf_counter()
    try:
        yield step
    finally:
        step.seconds = time.perf_counter() - start


def _has(findings: Sequence[Finding], *severities: Severity) -> bool:
    """Whether any finding has one of the severities."""
    return any(f.severity in severities for f in findings)


def validate_chart(
    chart_dir: Path,
    *,
    kube_versions: Sequence[str] | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    release: str | None = None,
) -> ValidationReport:
    """Run every validation step over a chart directory and report what each found."""
    chart_dir = Path(chart_dir)
    if isinstance(kube_versions, str):
        kube_versions = [kube_versions]  # a lone "1.30" is one version, not four characters
    security.preload()
    sets, file_findings = helm.load_values_sets(chart_dir)
    # Helm's Go calls (lint, render, values) let other threads run: they go to a pool while
    # this thread does the Python work (checkov, schemas) as soon as its input is rendered.
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="validate") as pool:
        lints = [pool.submit(_timed, helm.lint_set, chart_dir, vs, namespace) for vs in sets]
        try:
            chart = helm_python.Chart.load(chart_dir)
        except helm_python.HelmError as exc:
            return _unloadable(chart_dir, exc, _lint_step(sets, lints))
        with chart:
            return _validate_loaded(
                pool,
                chart,
                chart_dir,
                sets,
                file_findings,
                lints,
                kube_versions=kube_versions,
                namespace=namespace,
                release=release,
            )


def _timed(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> tuple[_T, float]:
    """fn's result and the seconds it took."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _lint_step(
    sets: list[ValuesSet], lints: list[Future[tuple[list[helm.LintEntry], float]]]
) -> _Step:
    """The lint step from the per-set lint jobs (seconds: the jobs' own time, summed)."""
    done = [job.result() for job in lints]
    lint = _Step("lint")
    lint.findings = helm.lint_findings(sets, [entries for entries, _ in done])
    lint.seconds = sum(seconds for _, seconds in done)
    lint.passed = not _has(lint.findings, Severity.ERROR, Severity.WARNING)
    return lint


def _validate_loaded(
    pool: ThreadPoolExecutor,
    chart: helm_python.Chart,
    chart_dir: Path,
    sets: list[ValuesSet],
    file_findings: list[Finding],
    lints: list[Future[tuple[list[helm.LintEntry], float]]],
    *,
    kube_versions: Sequence[str] | None,
    namespace: str,
    release: str | None,
) -> ValidationReport:
    """The steps after lint, for a chart that loaded.

    The Go-bound steps (lint, render, values-schema) report the time of their own calls,
    which overlap each other and the rest; the Python steps report their wall time.
    """
    metadata = chart.metadata
    name = str(metadata.get("name") or chart_dir.name)
    # A release name unlike the chart's: links written for one release name show up broken.
    release_name = release or (FOREIGN_RELEASE if name != FOREIGN_RELEASE else "other")
    renders_jobs = [
        pool.submit(_timed, helm.render, chart, vs, release=release_name, namespace=namespace)
        for vs in sets
    ]
    # The gate renders without the placeholders the defaults were rendered with.
    gate_job = (
        pool.submit(
            _timed, _required_secrets_gate, chart, sets[0].values, release=release_name,
            namespace=namespace,
        )
        if sets and sets[0].label == helm.DEFAULT_LABEL and sets[0].values
        else None
    )  # fmt: skip
    has_schema = chart.schema is not None
    values_jobs = [pool.submit(_timed, _values_check, chart, vs, has_schema) for vs in sets]

    scan = _Step("checkov")
    with _timing(scan):
        default, _ = renders_jobs[0].result()
        security_report = _scan(default[0])
        scan.findings = list(security_report.failedChecks)
        if security_report.notRun:
            scan.findings.append(
                Finding(
                    severity=Severity.ERROR,
                    tool="checkov",
                    check="not-run",
                    object=default[0].label,
                    message=f"checkov did not run: {security_report.notRun}",
                    hint="fix what stops the chart rendering with its defaults; the scan runs "
                    "on that render",
                )
            )
        critical = [f for f in scan.findings if f.severity == Severity.ERROR]
        scan.passed = (
            default[0].ok and not critical and security_report.passRate >= MIN_CHECKOV_PASS_RATE
        )

    render = _Step("render")
    render.findings = list(file_findings)
    renders: list[Rendered] = []
    for job in renders_jobs:
        (rendered, findings), seconds = job.result()
        renders.append(rendered)
        render.findings += findings
        render.seconds += seconds
    # When the defaults do not render, that error is the finding; the gate would repeat it.
    if gate_job is not None:
        gate_findings, seconds = gate_job.result()
        render.seconds += seconds
        if renders[0].ok:
            render.findings += gate_findings
    render.findings = _merge_sets(render.findings, [vs.label for vs in sets])

    schema = _Step("schema")
    with _timing(schema):
        versions, note = _versions(metadata, kube_versions)
        if note:
            schema.findings.append(
                Finding(
                    severity=Severity.INFO,
                    tool="kube-schema",
                    check="kube-version",
                    object="Chart.yaml",
                    message=note,
                )
            )
        schema.findings += kube_schema.validate_rendered(
            [(r.label, r.objects, r.sources) for r in renders if r.ok], versions
        )

    values_schema = _Step("values-schema")
    merged: dict[str, dict[str, Any]] = {}
    schema_findings: list[Finding] = [] if has_schema else [_NO_VALUES_SCHEMA]
    for vs, values_job in zip(sets, values_jobs, strict=True):
        (values, finding), seconds = values_job.result()
        merged[vs.label] = values
        values_schema.seconds += seconds
        schema_findings += [finding] if finding else []
    values_schema.findings = _merge_sets(schema_findings, list(merged))

    own = _Step("checks")
    with _timing(own):
        own.findings = _merge_by_values(
            [
                (r.label, _own_checks(r.objects, namespace, merged[r.label], release_name))
                for r in renders
                if r.ok
            ]
        )

    lint = _lint_step(sets, lints)
    results = [s.result() for s in (lint, render, values_schema, schema, scan, own)]
    return ValidationReport(
        chart=name,
        passed=all(r.passed for r in results),
        results=results,
        security=security_report,
        kubeVersions=versions,
    )


def _scan(default: Rendered) -> SecurityScanReport:
    """Checkov over the default render, or a report saying why it did not run."""
    if not default.ok:
        return SecurityScanReport(
            notRun=f"the chart did not render with {default.label}",
            excluded=list(security.EXCLUDED_CHECKS),
        )
    try:
        return security.scan(default.objects)
    except Exception as exc:  # noqa: BLE001 - a scanner crash is a finding, not a lost report
        _log.warning("checkov failed", exc_info=True)
        return SecurityScanReport(notRun=f"checkov failed: {type(exc).__name__}: {exc}")


def _required_secrets_gate(
    chart: helm_python.Chart, placeholders: dict[str, Any], *, release: str, namespace: str
) -> list[Finding]:
    """The defaults were rendered with placeholders: prove an install without them fails."""
    keys = sorted(placeholders.get("secrets", {}).get("values", {}))
    names = ", ".join(f"secrets.values.{k}" for k in keys)
    try:
        chart.render(None, name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        unnamed = [k for k in keys if f"secrets.values.{k}" not in str(exc)]
        if not unnamed:
            return [
                Finding(
                    severity=Severity.INFO,
                    tool="helm",
                    check="required-secrets",
                    object=helm.DEFAULT_LABEL,
                    message=f"{names} must be set at install (an install without them fails "
                    f"and names them); the defaults were rendered and scanned with the "
                    f"placeholder {helm.PLACEHOLDER!r} for them",
                )
            ]
        message = f"an install without {names} fails without naming {', '.join(unnamed)}"
    else:
        message = f"an install without {names} succeeds and leaves them empty"
    return [
        Finding(
            severity=Severity.ERROR,
            tool="helm",
            check="required-secrets",
            object="templates/secret.yaml",
            message=message,
            hint="fail the install with a message naming every secret value that must be set",
        )
    ]


def _own_checks(
    objects: list[dict[str, Any]], namespace: str, values: Any, release: str
) -> list[Finding]:
    """The cross-object checks and the runs check over one render."""
    idx = checks.build_index(objects, namespace)
    return checks.run_checks(objects, namespace, values) + runs.check_runs(idx, release)


_NO_VALUES_SCHEMA = Finding(
    severity=Severity.WARNING,
    tool="values-schema",
    check="values-schema",
    object="values.schema.json",
    message="no values.schema.json",
    hint="ship a JSON schema for values.yaml so bad values fail before rendering",
)


def _values_check(
    chart: helm_python.Chart, vs: ValuesSet, has_schema: bool
) -> tuple[dict[str, Any], Finding | None]:
    """The values an install with this set would use, and how they violate the chart's schema."""
    try:
        values = chart.merge_values(vs.values)
    except helm_python.HelmError:
        values = chart.values
    if not has_schema:
        return values, None
    try:
        chart.validate_schema(values)
    except helm_python.HelmError as exc:
        return values, Finding(
            severity=Severity.ERROR,
            tool="values-schema",
            check="values-schema",
            object=vs.label,
            message=f"{vs.label} violates values.schema.json: {exc}",
            hint="fix the value, or the schema if the value is legitimate",
        )
    return values, None


def _versions(
    metadata: dict[str, Any], requested: Sequence[str] | None
) -> tuple[list[str], str | None]:
    """Kubernetes versions to validate against: the override, else Chart.yaml's kubeVersion."""
    if requested:
        return kube_schema.resolve_override(requested), None
    constraint = metadata.get("kubeVersion")
    return kube_schema.versions_for_constraint(str(constraint) if constraint else None)


def _merge_by_values(per_set: list[tuple[str, list[Finding]]]) -> list[Finding]:
    """Report a finding once, naming every values set it occurred with."""
    merged: dict[tuple[str, str, str], tuple[Finding, list[str]]] = {}
    for label, findings in per_set:
        for f in findings:
            key = (f.check, f.object, f.message)
            merged.setdefault(key, (f, []))[1].append(label)
    return [
        f.model_copy(update={"message": f"{f.message} (values: {', '.join(labels)})"})
        for f, labels in merged.values()
    ]


def _merge_sets(findings: list[Finding], labels: list[str]) -> list[Finding]:
    """One finding for an error every values set meets alike (one bad default fails them all).

    A finding about a values set names it as its object and in its message; findings that
    differ only in that name become one, naming every set it occurred with.
    """
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    order: list[tuple[str, str, str, str]] = []
    for f in findings:
        label = f.object if f.object in labels else None
        text = f.message.replace(label, "\0", 1) if label else f.message
        key = (f.tool, f.check, f.severity.value, text if label else f"{f.object}\1{text}")
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(f)
    merged = []
    for key in order:
        group = groups[key]
        first = group[0]
        if len(group) == 1:
            merged.append(first)
            continue
        names = ", ".join(str(f.object) for f in group)
        text = key[3]
        message = text.replace("\0", names, 1) if "\0" in text else f"{text} (values: {names})"
        merged.append(first.model_copy(update={"message": message}))
    return merged


def _unloadable(chart_dir: Path, exc: Exception, lint: _Step) -> ValidationReport:
    """The report for a directory Helm cannot load as a chart: later steps cannot run."""
    render = _Step("render")
    render.findings = [
        Finding(
            severity=Severity.ERROR,
            tool="helm",
            check="render",
            object=str(chart_dir),
            message=f"chart cannot be loaded: {exc}",
            hint="fix Chart.yaml and the chart layout",
        )
    ]
    skipped = []
    for step in STEPS[2:]:
        s = _Step(step)
        s.passed = False
        s.findings = [
            Finding(
                severity=Severity.INFO,
                tool="autopilot",
                check="skipped",
                message="not run: the chart did not load",
            )
        ]
        skipped.append(s)
    results = [s.result() for s in (lint, render, *skipped)]
    return ValidationReport(chart=chart_dir.name, passed=False, results=results)


def render_objects(
    chart_dir: Path,
    values: dict[str, Any] | None = None,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    release: str | None = None,
) -> list[dict[str, Any]]:
    """Render a chart offline to parsed Kubernetes objects (NOTES.txt and empty docs skipped).

    Secrets the chart needs at install and `values` leaves unset get the validator's labelled
    placeholder, as in the default render. Raises ValidationFailed when the chart does not
    load or render.
    """
    values = helm.with_placeholders(Path(chart_dir), values)
    try:
        chart = helm_python.Chart.load(Path(chart_dir))
    except helm_python.HelmError as exc:
        raise ValidationFailed(f"chart cannot be loaded: {exc}", field=str(chart_dir)) from exc
    with chart:
        rendered, findings = helm.render(
            chart, ValuesSet("values", values), release=release or chart.name, namespace=namespace
        )
    if findings:
        raise ValidationFailed("; ".join(f.message for f in findings), field=str(chart_dir))
    return rendered.objects


def warm_up(kube_versions: Sequence[str] = ()) -> None:
    """Import checkov and load schema definitions now, not during the first validation."""
    security.warm_up()
    versions = (
        kube_schema.resolve_override(kube_versions)
        if kube_versions
        else (kube_schema.versions_for_constraint(None)[0])
    )
    for version in versions:
        kube_schema.validator_for(version, "Deployment", "apps/v1")
