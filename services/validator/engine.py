"""The chart validator: lint, render, values schema, Kubernetes schemas, checkov, own checks.

report = validate_chart(Path("charts/shop"))
report.passed, [r.step for r in report.results], report.security.passRate

Each values set (the defaults and every ci/*-values.yaml) is rendered once by Helm; the lint
step applies `helm lint --strict`'s rules to that render (lint.py, Helm's own lint only where
Python cannot be sure), and the values-schema step reads Helm's schema check from it.
Byte-identical content validated again with the same arguments returns the stored report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import helm_python

from services.validator import checks, helm, kube_schema, lint, runs, security
from services.validator.cache import LRU
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
    "clear_caches",
    "render_objects",
    "runs_proof",
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
    """Run every validation step over a chart directory and report what each found.

    Byte-identical chart content validated again with the same arguments (and the same
    validator) returns the stored report (see `_Memo`).
    """
    chart_dir = Path(chart_dir)
    if isinstance(kube_versions, str):
        kube_versions = [kube_versions]  # a lone "1.30" is one version, not four characters
    key = _memo_key(chart_dir, kube_versions, namespace, release)
    stored = _MEMO.get(key, chart_dir)
    if stored is not None:
        return stored
    report = _validate(chart_dir, kube_versions=kube_versions, namespace=namespace, release=release)
    _MEMO.put(key, chart_dir, report)
    return report


def _validate(
    chart_dir: Path,
    *,
    kube_versions: Sequence[str] | None,
    namespace: str,
    release: str | None,
) -> ValidationReport:
    """validate_chart without the memo."""
    security.preload()
    sets, file_findings = helm.load_values_sets(chart_dir)
    # Helm's Go calls (render, values) let other threads run: they go to a pool while this
    # thread does the Python work (lint rules, checkov, schemas) as soon as its input is there.
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="validate") as pool:
        try:
            chart = helm_python.Chart.load(chart_dir)
        except helm_python.HelmError as exc:
            # Nothing renders: Helm's own lint says what is wrong with the chart.
            lints = [pool.submit(_timed, helm.lint_set, chart_dir, vs, namespace) for vs in sets]
            return _unloadable(chart_dir, exc, _lint_step(sets, [job.result() for job in lints]))
        with chart:
            return _validate_loaded(
                pool,
                chart,
                chart_dir,
                sets,
                file_findings,
                kube_versions=kube_versions,
                namespace=namespace,
                release=release,
            )


class _Memo:
    """A bounded LRU of whole reports, keyed by a hash of the chart's content and the call.

    A report that names the chart's directory (an unloadable chart, a dependency finding)
    is only returned for that same directory.
    """

    def __init__(self, size: int) -> None:
        """An empty memo holding at most size reports."""
        self._reports: LRU[str, tuple[ValidationReport, tuple[str, ...]]] = LRU(size)

    def get(self, key: str, chart_dir: Path) -> ValidationReport | None:
        """A copy of the stored report for key, or None."""
        stored = self._reports.get(key)
        if stored is None:
            return None
        report, dirs = stored
        if dirs and dirs != _dir_names(chart_dir):
            return None
        return report.model_copy(deep=True)

    def put(self, key: str, chart_dir: Path, report: ValidationReport) -> None:
        """Store a copy of report under key, forgetting the least recently used beyond size."""
        text = report.model_dump_json()
        names = _dir_names(chart_dir)
        dirs = names if any(json.dumps(n)[1:-1] in text for n in names) else ()
        self._reports.put(key, (report.model_copy(deep=True), dirs))

    def clear(self) -> None:
        """Forget every stored report."""
        self._reports.clear()


_MEMO = _Memo(16)


def clear_caches() -> None:
    """Empty every result cache: whole reports, parsed renders, checkov's and the schemas'
    per-object results.

    What a warm process keeps besides (imports, checkov's registry, compiled schemas) stays.
    """
    _MEMO.clear()
    helm.clear_caches()
    security.clear_caches()
    kube_schema.clear_caches()


def _dir_names(chart_dir: Path) -> tuple[str, ...]:
    """The ways a report can name the chart directory: as given and absolute."""
    return (str(chart_dir), os.path.abspath(chart_dir))


def _code_version() -> str:
    """A hash of the validator's source files and the Helm library it drives."""
    digest = hashlib.sha256(helm_python.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


_CODE_VERSION = _code_version()


def _settings() -> str:
    """The validator modules' live settings: which constants and functions they hold now.

    Setting one (what tests patch) swaps the object, so its identity is the fingerprint; a
    container's size is added for changes made in place.
    """
    parts: list[str] = []
    for module in (checks, helm, kube_schema, lint, runs, security, sys.modules[__name__]):
        for attr, value in vars(module).items():
            if attr.isupper() and not attr.startswith("_"):
                size = len(value) if isinstance(value, Sized) else ""
                parts.append(f"{module.__name__}.{attr}@{id(value)}:{size}")
            elif callable(value) and not isinstance(value, type):
                parts.append(f"{module.__name__}.{attr}@{id(value)}")
    return "\n".join(parts)


def _memo_key(
    chart_dir: Path, kube_versions: Sequence[str] | None, namespace: str, release: str | None
) -> str:
    """A hash of every file of the chart (path and bytes), the arguments and the validator."""
    digest = hashlib.sha256()
    for part in (_CODE_VERSION, _settings(), repr(list(kube_versions or [])), namespace):
        digest.update(part.encode() + b"\0")
    digest.update(repr(release).encode() + b"\0")
    files: list[tuple[str, str]] = []
    for folder, _, names in os.walk(chart_dir):
        rel = os.path.relpath(folder, chart_dir).replace(os.sep, "/")
        files += [(f"{rel}/{name}", os.path.join(folder, name)) for name in names]
    for rel_path, path in sorted(files):
        try:
            with open(path, "rb") as handle:
                data = hashlib.sha256(handle.read()).digest()
        except OSError as exc:  # a dangling link, a socket: its name and what opening it says
            data = repr(exc).encode()
        digest.update(rel_path.encode() + b"\0" + data)
    return digest.hexdigest()


def _timed(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> tuple[_T, float]:
    """fn's result and the seconds it took."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _lint_step(sets: list[ValuesSet], done: list[tuple[list[helm.LintEntry], float]]) -> _Step:
    """The lint step from each set's lint entries (seconds: the lint work's own time, summed)."""
    lint_step = _Step("lint")
    lint_step.findings = helm.lint_findings(sets, [entries for entries, _ in done])
    lint_step.seconds = sum(seconds for _, seconds in done)
    lint_step.passed = not _has(lint_step.findings, Severity.ERROR, Severity.WARNING)
    return lint_step


def _lint_sets(
    pool: ThreadPoolExecutor,
    chart_dir: Path,
    rules: lint.ChartRules,
    renders: list[Rendered],
    sets: list[ValuesSet],
    namespace: str,
) -> list[Callable[[], tuple[list[helm.LintEntry], float]]]:
    """Each set's `helm lint --strict` entries, from its render where Python can be sure.

    Where it cannot (lint.Unsure), Helm's lint of that set runs in the pool; the returned
    callables wait for it.
    """
    out: list[Callable[[], tuple[list[helm.LintEntry], float]]] = []
    for vs, rendered in zip(sets, renders, strict=True):
        start = time.perf_counter()
        try:
            entries = lint.lint_render(rules, rendered)
        except Exception as why:  # noqa: BLE001 - Unsure, or a case the rules did not foresee
            log = _log.debug if isinstance(why, lint.Unsure) else _log.warning
            log("helm lint runs for %s: %r", vs.label, why)
            out.append(pool.submit(_timed, helm.lint_set, chart_dir, vs, namespace).result)
            continue
        done = (entries, time.perf_counter() - start)
        out.append(partial(_ready, done))
    return out


def _ready(done: _T) -> _T:
    """done, as the result of a job that has finished."""
    return done


def _validate_loaded(
    pool: ThreadPoolExecutor,
    chart: helm_python.Chart,
    chart_dir: Path,
    sets: list[ValuesSet],
    file_findings: list[Finding],
    *,
    kube_versions: Sequence[str] | None,
    namespace: str,
    release: str | None,
) -> ValidationReport:
    """Every step, for a chart that loaded: each values set is rendered once, in the pool.

    Lint's rules and the values-schema step read that render (Helm checks the values against
    values.schema.json before it renders). The Go-bound steps report the time of their own
    calls, which overlap each other and the rest; the Python steps report their wall time.
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
    gate_job = None
    if sets and sets[0].label == helm.DEFAULT_LABEL and sets[0].values:
        gate_job = pool.submit(
            _timed,
            _required_secrets_gate,
            chart,
            sets[0].values,
            release=release_name,
            namespace=namespace,
        )
    values_jobs = [pool.submit(_timed, _merged_values, chart, vs) for vs in sets]
    rules, rules_seconds = _timed(lint.chart_rules, chart_dir, chart)
    has_schema = chart.schema is not None

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
    lints = _lint_sets(pool, chart_dir, rules, renders, sets, namespace)
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
    for vs, rendered, values_job in zip(sets, renders, values_jobs, strict=True):
        values, seconds = values_job.result()
        merged[vs.label] = values
        finding, checked = _timed(_values_finding, chart, vs, rendered, values, has_schema)
        values_schema.seconds += seconds + checked
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

    lint_done = [wait() for wait in lints]
    lint_done[0] = (lint_done[0][0], lint_done[0][1] + rules_seconds)
    lint_step = _lint_step(sets, lint_done)
    results = [s.result() for s in (lint_step, render, values_schema, schema, scan, own)]
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


def runs_proof(chart_dir: Path, *, namespace: str = DEFAULT_NAMESPACE) -> list[Finding]:
    """The proof that the chart runs, alone: its defaults rendered under a release name unlike
    the chart's, then the object and runs checks (every call reaches a Service that selects
    the callee, exposes the port and is admitted by the NetworkPolicies).

    What the generator's self-check runs before the validator's full report (lint of every
    values set, schemas, checkov): one render instead of a validation. A chart that does not
    render is one error finding.
    """
    chart_dir = Path(chart_dir)
    try:
        chart = helm_python.Chart.load(chart_dir)
    except helm_python.HelmError as exc:
        return [helm.render_error(helm.DEFAULT_LABEL, "", f"chart cannot be loaded: {exc}")]
    with chart:
        release = FOREIGN_RELEASE if chart.name != FOREIGN_RELEASE else "other"
        values_set = ValuesSet(helm.DEFAULT_LABEL, helm.placeholder_values(chart_dir))
        rendered, findings = helm.render(chart, values_set, release=release, namespace=namespace)
        if not rendered.ok:
            return findings
        merged = _merged_values(chart, values_set)
    return findings + _own_checks(rendered.objects, namespace, merged, release)


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


def _merged_values(chart: helm_python.Chart, vs: ValuesSet) -> dict[str, Any]:
    """The values an install with this set would use (the chart's defaults if they clash)."""
    try:
        return chart.merge_values(vs.values)
    except helm_python.HelmError:
        return chart.values


def _values_finding(
    chart: helm_python.Chart,
    vs: ValuesSet,
    rendered: Rendered,
    values: dict[str, Any],
    has_schema: bool,
) -> Finding | None:
    """How this set's values violate the chart's schema, read from the set's render.

    Helm checks the merged values against values.schema.json before it runs a template: a
    render that succeeded passed it, one the schema stopped says so. Only a render that
    failed some other way needs the schema checked on its own.
    """
    if not has_schema:
        return None
    violation = helm.schema_violation(rendered)
    if violation is None and not rendered.ok:
        try:
            chart.validate_schema(values)
        except helm_python.HelmError as exc:
            violation = str(exc)
    if violation is None:
        return None
    return Finding(
        severity=Severity.ERROR,
        tool="values-schema",
        check="values-schema",
        object=vs.label,
        message=f"{vs.label} violates values.schema.json: {violation}",
        hint="fix the value, or the schema if the value is legitimate",
    )


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
