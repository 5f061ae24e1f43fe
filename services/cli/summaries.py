"""What a reviewer reads at a gate, as text: plain functions from the models to lines.

Every function takes the plan or report models and returns text; `colour=True` adds ANSI
colour (the caller decides: a terminal without NO_COLOR).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `list` and friends use table() and Style only: no models to build
    from shared.models.plan import ChartPlan, ComponentPlan, Decision, ImportNote
    from shared.models.reports import Finding, SecurityScanReport

EXCLUDED_WHY = {
    "CKV_K8S_35": "secrets as files: env from a Secret is an accepted pattern",
    "CKV_K8S_43": "image digests: pinned at release time, not in a chart's defaults",
}
"""Why the validator leaves a checkov check out of the score (services/validator/security.py)."""

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_DROPPED = re.compile(
    r"not (imported|needed|published|supported|carried|kept|mapped)|dropped|ignored|left out"
)


@dataclass(frozen=True)
class Style:
    """ANSI styling that is a no-op without colour."""

    colour: bool = False

    def __call__(self, text: str, *styles: str) -> str:
        """`text` in the named ANSI styles, or as it is without colour."""
        if not self.colour or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"


def table(rows: Sequence[Sequence[str]], header: Sequence[str], style: Style) -> list[str]:
    """Left-aligned columns, the header in bold."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        """One row, each cell padded to its column's width."""
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [style(line(header), "bold"), *(line(r) for r in rows)]


# --------------------------------------------------------------------------- planning


def replicas_text(comp: ComponentPlan) -> str:
    """Replicas as a reviewer reads them: a count, an HPA range, or - for batch work."""
    auto = comp.spec.autoscaling
    if auto is not None and auto.enabled:
        return f"{auto.minReplicas}-{auto.maxReplicas} (HPA)"
    return "-" if comp.kind in ("Job", "CronJob") else str(comp.replicas)


def resources_text(comp: ComponentPlan) -> str:
    """Requests/limits as `cpu, memory`."""
    res = comp.spec.resources
    if res is None:
        return "-"
    req, lim = res.requests, res.limits
    cpu = "/".join(str(v) for v in (req.cpu, lim.cpu) if v) or "-"
    mem = "/".join(str(v) for v in (req.memory, lim.memory) if v) or "-"
    return f"{cpu} cpu, {mem}"


def components_table(plan: ChartPlan, style: Style) -> list[str]:
    """One row per component: kind, image, replicas, ports, cpu and memory (request/limit)."""
    rows = [
        [
            c.spec.name,
            str(c.kind),
            c.spec.image,
            replicas_text(c),
            ",".join(str(p.port) for p in c.spec.ports) or "-",
            resources_text(c),
        ]
        for c in plan.components
    ]
    header = ["COMPONENT", "KIND", "IMAGE", "REPLICAS", "PORTS", "CPU / MEMORY (request/limit)"]
    return table(rows, header, style)


def decision_lines(decisions: Iterable[Decision], style: Style) -> list[str]:
    """One line per decision: component, topic, choice, and why."""
    decisions = list(decisions)
    width = max((len(d.component or "(chart)") for d in decisions), default=0)
    topic = max((len(d.topic) for d in decisions), default=0)
    lines, last = [], None
    for d in decisions:
        who = d.component or "(chart)"
        shown = who if who != last else ""
        last = who
        lines.append(
            f"  {style(shown.ljust(width), 'bold')}  {d.topic.ljust(topic)}  "
            f"{style(d.choice, 'cyan')}  {style('- ' + d.reason, 'dim')}"
        )
    return lines


def _unknown_images(plan: ChartPlan) -> list[str]:
    """Components hardened without knowing what their image needs."""
    known = {d.component for d in plan.decisions if d.topic == "knowledge"}
    # The planner's own risk note (source `<component>.security`) already says it, with the
    # values keys that undo the hardening.
    noted = {n.source.split(".")[0] for n in plan.notes if n.source.endswith(".security")}
    out = []
    for comp in plan.components:
        name = comp.spec.name
        if name in known | noted or comp.spec.security.has_exception("runAsRoot"):
            continue
        context = next(
            (
                d.choice
                for d in plan.decisions
                if d.component == name and d.topic == "securityContext"
            ),
            "hardened defaults",
        )
        out.append(
            f"{name}: hardened ({context}) though nothing is known about {comp.spec.image}; "
            "check it runs that way (writable paths, ports below 1024, its UID)"
        )
    return out


def _uid_changes(notes: Iterable[ImportNote]) -> list[ImportNote]:
    """The notes that say a container's user id was changed or raised."""
    return [n for n in notes if "runAsUser" in n.source or re.search(r"\bUID\b.*raised", n.message)]


def risks(plan: ChartPlan) -> list[tuple[str, str]]:
    """(severity, text): notes that warn, unknown images hardened, UIDs changed, features
    dropped, ports assumed."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(severity: str, text: str) -> None:
        """Record one risk, once."""
        if text not in seen:
            seen.add(text)
            out.append((severity, text))

    for note in plan.notes:
        if note.severity in ("warning", "error"):
            add(note.severity, f"{note.source}: {note.message}")
    for text in _unknown_images(plan):
        add("warning", text)
    for note in _uid_changes(plan.notes):
        add("warning", f"UID changed: {note.message}")
    dropped: dict[str, list[str]] = {}
    for note in plan.notes:  # one line per kind of drop, naming where it happened
        if note.severity == "info" and _DROPPED.search(note.message):
            dropped.setdefault(note.message, []).append(note.source)
    for message, sources in dropped.items():
        where = sources[0] if len(sources) == 1 else f"{len(sources)} places ({', '.join(sources)})"
        add("info", f"dropped: {where}: {message}")
    for d in plan.decisions:
        if d.topic == "ports":
            add("warning", f"{d.component}: ports assumed {d.choice} ({d.reason})")
    return out


def _severity(severity: str, style: Style) -> str:
    """A severity word, padded and coloured by how bad it is."""
    colour = {"error": "red", "warning": "yellow"}.get(severity, "dim")
    return style(f"{severity:<7}", colour, "bold")


def plan_summary(plan: ChartPlan, *, colour: bool = False) -> str:
    """The planning_review screen: components, decisions with reasons, then the risks."""
    style = Style(colour)
    lines = [
        style(f"Plan for {plan.name}", "bold")
        + f"  chart {plan.chartVersion}, app {plan.appVersion}, "
        f"{len(plan.components)} component(s), {len(plan.secrets)} secret(s)",
        "",
        *components_table(plan, style),
        "",
        style(f"Decisions ({len(plan.decisions)})", "bold"),
        *decision_lines(plan.decisions, style),
    ]
    found = risks(plan)
    lines += ["", style(f"Risks ({len(found)})", "bold")]
    lines += [f"  {_severity(s, style)} {text}" for s, text in found] or ["  none found"]
    return "\n".join(lines)


def changes(plan: ChartPlan) -> list[tuple[str, str]]:
    """(what, text): what the plan changed in the input: pins, UIDs, links, secrets."""
    out: list[tuple[str, str]] = []
    pinned_by_note = set()
    for note in plan.notes:
        if "pinned to" in note.message:
            out.append(("pinned", note.message))
            pinned_by_note.add(note.source.split(".")[0])
    for d in plan.decisions:
        if d.topic == "image.tag" and d.component not in pinned_by_note:
            out.append(("pinned", f"{d.component}: image tag pinned to {d.choice}"))
    out += [("uid", n.message) for n in _uid_changes(plan.notes)]
    for ref in plan.references:
        target = f"{ref.callee}:{ref.port}" if ref.port else ref.callee
        out.append(
            ("linked", f"{ref.caller} {ref.variable} -> {target} (its Service name, any release)")
        )
    for note in plan.notes:
        if "moved to chart secret" in note.message:
            out.append(("secret", note.message))
    return out


def changes_section(plan: ChartPlan, *, colour: bool = False) -> str:
    """The "Changes" block `generate` and `submit` print ('' when nothing changed)."""
    style = Style(colour)
    found = changes(plan)
    if not found:
        return ""
    width = max(len(k) for k, _ in found)
    lines = [style(f"Changes to your input ({len(found)})", "bold")]
    lines += [f"  {style(k.ljust(width), 'cyan')}  {text}" for k, text in found]
    return "\n".join(lines)


# --------------------------------------------------------------------------- security


@dataclass(frozen=True)
class AcceptedException:
    """A security exception a spec declared, with its reason."""

    component: str
    setting: str
    reason: str


def plan_exceptions(plan: ChartPlan) -> list[AcceptedException]:
    """Every declared security exception of the plan's components."""
    return [
        AcceptedException(c.spec.name, e.setting, e.reason)
        for c in plan.components
        for e in c.spec.security.exceptions
    ]


def findings_lines(findings: Iterable[Finding], style: Style) -> list[str]:
    """Findings grouped by severity: object and check, the message, the fix ([] if none)."""
    from shared.models.reports import Severity

    unique: dict[tuple[str, str, str], Finding] = {}
    for f in findings:
        unique.setdefault((f.check, f.object, f.message), f)
    lines: list[str] = []
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in unique.values() if f.severity == severity]
        if not group:
            continue
        lines += ["", style(f"{severity.value.capitalize()}s ({len(group)})", "bold")]
        for f in group:
            check = f"{f.tool}:{f.check}" if f.check else f.tool
            lines.append(f"  {_severity(severity.value, style)} {f.object or '(chart)'}  {check}")
            lines.append(f"          {f.message}")
            if f.hint:
                lines.append(f"          {style('fix: ' + f.hint, 'green')}")
    return lines


def error_summary(
    error: dict[str, Any],
    *,
    step: str | None = None,
    questions: Sequence[str] = (),
    colour: bool = False,
) -> str:
    """The error_review screen: the error in a line, the findings it carries, what approve does."""
    from shared.models.reports import Finding

    style = Style(colour)
    head = f"Error [{error.get('code', '?')}] {error.get('message', '')}"
    lines = [style(head, "bold", "red")]
    if error.get("field"):
        lines.append(f"  field: {error['field']}")
    details = error.get("details") or {}
    findings = []
    for raw in details.get("findings") or []:
        try:
            findings.append(Finding.model_validate(raw))
        except ValueError:
            continue
    lines += findings_lines(findings, style)
    lines += ["", *(f"  question: {q}" for q in questions)] if questions else []
    if step:
        lines += ["", f"approve re-runs {step}; reject ends the workflow as failed"]
    return "\n".join(lines)


def security_summary(
    scan: SecurityScanReport,
    findings: Sequence[Finding],
    *,
    exceptions: Sequence[AcceptedException] = (),
    colour: bool = False,
) -> str:
    """The security_review screen: score, findings by severity, exceptions, excluded checks."""
    style = Style(colour)
    rate = scan.passRate
    score_colour = "green" if rate >= 0.95 else "yellow" if rate >= 0.8 else "red"
    lines = [
        style("Security", "bold") + f"  checkov score {style(f'{rate:.1%}', score_colour, 'bold')}"
        f" ({scan.passed} passed, {scan.failed} failed)"
    ]
    found = findings_lines([*scan.failedChecks, *findings], style)
    lines += found or ["", "  no findings"]
    lines += ["", style(f"Accepted exceptions ({len(exceptions)})", "bold")]
    lines += [f"  {e.component}  {e.setting}: {e.reason}" for e in exceptions] or ["  none"]
    lines += ["", style(f"Excluded checks ({len(scan.excluded)})", "bold")]
    lines += [
        f"  {check}  {EXCLUDED_WHY.get(check, 'excluded by the validator')}"
        for check in scan.excluded
    ] or ["  none"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- deployment


def colour_diff(diff: str, style: Style) -> list[str]:
    """A unified diff, + green, - red, hunk headers cyan."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            out.append(style(line, "bold"))
        elif line.startswith("+"):
            out.append(style(line, "green"))
        elif line.startswith("-"):
            out.append(style(line, "red"))
        elif line.startswith("@@"):
            out.append(style(line, "cyan"))
        else:
            out.append(line)
    return out


def new_files(diff: str) -> list[str]:
    """The objects (`# Kind/name` headers of rendered manifests) a first release adds."""
    found = [m.group(1) for m in re.finditer(r"^\+# (\S+/\S+)$", diff, re.MULTILINE)]
    return list(dict.fromkeys(found))


def deployment_summary(
    diff: str,
    *,
    release: str,
    namespace: str | None,
    previous: str | None,
    colour: bool = False,
) -> str:
    """The deployment_approval screen: target, then the diff (or the file list when first)."""
    style = Style(colour)
    target = (
        f"release {style(release, 'bold')} in namespace {style(namespace or '(default)', 'bold')}"
    )
    lines = [style("Deployment", "bold") + f"  {target}"]
    if previous is None:
        files = new_files(diff)
        lines += ["", f"First release: {len(files)} object(s) rendered"]
        lines += [f"  {style('+ ' + f, 'green')}" for f in files] or ["  (nothing rendered)"]
        return "\n".join(lines)
    added = sum(1 for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in diff.splitlines() if x.startswith("-") and not x.startswith("---"))
    lines.append(f"Against the chart published by {previous}: +{added} -{removed} lines")
    if not diff.strip():
        lines.append("  no change in the rendered manifests")
        return "\n".join(lines)
    return "\n".join([*lines, "", *colour_diff(diff, style)])
