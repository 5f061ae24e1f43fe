"""The chart's template files: static named templates, and one-line files that call them.

Every piece of template text is a named template in `files/templates/_*.tpl`, called with a
dict and documented above its `define`. Python copies those files with the chart's name as
the prefix of every named template (as Bitnami's charts use `common.`), decides which object
files exist for which component, and writes each as one `include` of its named template. Only
names that are DNS-1123 labels (chart, components) or workload kinds enter template text:
everything a user wrote reaches the chart through values.yaml.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from services.generator.values import has_service, is_batch, shared_claims
from shared.models.plan import ChartPlan, ComponentPlan
from shared.models.requirements import DNS1123_LABEL, WorkloadKind

FILES = Path(__file__).parent / "files" / "templates"
PREFIX = "@@CHART@@"
"""Stands for the chart name in the names of named templates in `files/templates/`."""

WORKLOAD_TEMPLATE = {
    WorkloadKind.DEPLOYMENT: "deployment",
    WorkloadKind.STATEFULSET: "statefulset",
    WorkloadKind.DAEMONSET: "daemonset",
    WorkloadKind.JOB: "job",
    WorkloadKind.CRONJOB: "cronjob",
}
"""The named template (and file name) of each workload kind."""

KINDS = frozenset(kind.value for kind in WorkloadKind)
Arg = str | bool | list[str]


@cache
def library() -> dict[str, str]:
    """The named-template files, by file name, with the chart name still a prefix placeholder."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(FILES.glob("_*.tpl"))}


def _label(name: str) -> str:
    """Guard the one rule of this module: only DNS-1123 labels enter template text."""
    if not re.fullmatch(DNS1123_LABEL, name):
        raise ValueError(f"{name!r} is not a DNS-1123 label and cannot appear in a template")
    return name


def _arg(value: Arg) -> str:
    """A template literal for a name or workload kind, a flag, or a list of names."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "(list" + "".join(f' "{_label(v)}"' for v in value) + ")"
    if value not in KINDS:
        _label(value)
    return f'"{value}"'


def include(chart: str, template: str, **args: Arg) -> str:
    """One line calling `<chart>.<template>` with the root context, or with a dict of it and `args`."""
    context = "$"
    if args:
        context = '(dict "ctx" $' + "".join(f' "{key}" {_arg(v)}' for key, v in args.items()) + ")"
    return f'{{{{- include "{_label(chart)}.{template}" {context} }}}}\n'


def component_files(plan: ChartPlan, cp: ComponentPlan) -> dict[str, str]:
    """Every template file of one component, by path inside the chart."""
    name = cp.spec.name

    def call(template: str, **args: Arg) -> str:
        return include(plan.name, template, component=name, **args)

    waits: dict[str, Arg] = {}
    served = [target for target in cp.waitFor if has_service(plan.component(target))]
    if served:
        waits["waitFor"] = served
    if cp.waitForJobs:
        waits["waitForJobs"] = list(cp.waitForJobs)
    workload = WORKLOAD_TEMPLATE[cp.kind]
    base = f"templates/{name}"
    files = {
        f"{base}/{workload}.yaml": call(workload, **waits),
        f"{base}/configmap.yaml": call("configmap"),
        f"{base}/networkpolicy.yaml": call("networkPolicy"),
        f"{base}/serviceaccount.yaml": call("serviceAccount"),
    }
    if has_service(cp):
        files[f"{base}/service.yaml"] = call("service")
        files[f"{base}/ingress.yaml"] = call("ingress")
    if cp.kind == WorkloadKind.STATEFULSET or (cp.service is not None and cp.service.headless):
        files[f"{base}/service-headless.yaml"] = call("serviceHeadless")
    if cp.spec.volumes and cp.kind != WorkloadKind.STATEFULSET:
        files[f"{base}/pvc.yaml"] = call("pvc")
    if cp.kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
        files[f"{base}/hpa.yaml"] = call("hpa", kind=cp.kind.value)
    if not is_batch(cp):
        files[f"{base}/pdb.yaml"] = call("pdb")
    if cp.waitForJobs:
        files[f"{base}/role.yaml"] = call("role", waitForJobs=list(cp.waitForJobs))
    return files


def notes(plan: ChartPlan) -> str:
    """templates/NOTES.txt: the header, each component, then secrets and the helm test."""
    lines = [include(plan.name, "notes.header")]
    lines += [
        include(plan.name, "notes.component", component=cp.spec.name, kind=cp.kind.value)
        for cp in plan.components
    ]
    if plan.secrets:
        lines.append(include(plan.name, "notes.secrets"))
    if any(has_service(cp) for cp in plan.components):
        lines.append(include(plan.name, "notes.test"))
    return "".join(lines)


def test_files(plan: ChartPlan) -> dict[str, str]:
    """The helm test Job (checks every TCP Service port) and its NetworkPolicy."""
    served = [cp.spec.name for cp in plan.components if has_service(cp)]
    if not served:
        return {}
    return {
        "templates/tests/test-connection.yaml": include(
            plan.name, "testConnection", components=served
        ),
        "templates/tests/networkpolicy.yaml": include(plan.name, "testNetworkPolicy"),
    }


def chart_templates(plan: ChartPlan) -> dict[str, str]:
    """Every file under templates/."""
    chart = _label(plan.name)
    files = {f"templates/{name}": text.replace(PREFIX, chart) for name, text in library().items()}
    for cp in plan.components:
        files.update(component_files(plan, cp))
    if plan.secrets:
        files["templates/secret.yaml"] = include(chart, "secret")
    if shared_claims(plan):
        files["templates/shared-pvc.yaml"] = include(chart, "sharedClaims")
    files["templates/NOTES.txt"] = notes(plan)
    files.update(test_files(plan))
    return files
