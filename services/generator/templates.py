"""Assemble the chart's template files from the text fragments in `files/templates/`.

The fragments are Helm templates with `@@NAME@@` slots. Only names that are DNS-1123
labels (chart, components) or fixed text fragments go into the slots: everything a user
wrote reaches the chart through values.yaml, never through a template file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from services.generator.naming import values_key
from services.generator.values import has_service, is_batch, shared_claims
from shared.models.plan import ChartPlan, ComponentPlan
from shared.models.requirements import DNS1123_LABEL, WorkloadKind

FILES = Path(__file__).parent / "files" / "templates"
_SLOT = re.compile(r"@@[A-Z_]+@@")
_NINDENT = re.compile(r"\b(nindent) (\d+)")

WORKLOAD_FILE = {
    WorkloadKind.DEPLOYMENT: "deployment.yaml",
    WorkloadKind.STATEFULSET: "statefulset.yaml",
    WorkloadKind.DAEMONSET: "daemonset.yaml",
    WorkloadKind.JOB: "job.yaml",
    WorkloadKind.CRONJOB: "cronjob.yaml",
}
RESOURCE_NAME = {
    WorkloadKind.DEPLOYMENT: "deployments",
    WorkloadKind.STATEFULSET: "statefulsets",
    WorkloadKind.DAEMONSET: "daemonsets",
    WorkloadKind.JOB: "jobs",
    WorkloadKind.CRONJOB: "cronjobs",
}
# How deep the pod template sits in each workload file.
POD_INDENT = {WorkloadKind.CRONJOB: 8}


@cache
def fragment(name: str) -> str:
    """The text of one fragment file."""
    return (FILES / name).read_text(encoding="utf-8")


def fill(text: str, **slots: str) -> str:
    """Replace `@@SLOT@@` markers; a slot left unfilled is a bug, so it raises."""
    for key, value in slots.items():
        text = text.replace(f"@@{key}@@", value)
    leftover = _SLOT.search(text)
    if leftover:
        raise KeyError(f"unfilled template slot {leftover.group(0)}")
    return text


def shift(text: str, spaces: int) -> str:
    """Indent a fragment by `spaces`, adjusting its `nindent` arguments to match."""
    if spaces == 0:
        return text
    text = _NINDENT.sub(lambda m: f"{m.group(1)} {int(m.group(2)) + spaces}", text)
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _check_label(name: str) -> str:
    """Guard the one rule of this module: only DNS-1123 labels enter template text."""
    if not re.fullmatch(DNS1123_LABEL, name):
        raise ValueError(f"{name!r} is not a DNS-1123 label and cannot appear in a template")
    return name


def names(plan: ChartPlan, cp: ComponentPlan) -> dict[str, str]:
    """The slots every component fragment uses."""
    return {
        "CHART": _check_label(plan.name),
        "COMPONENT": _check_label(cp.spec.name),
        "KEY": values_key(cp.spec.name),
        "KIND": cp.kind.value,
    }


def pod_template(plan: ChartPlan, cp: ComponentPlan) -> str:
    """The pod template of a workload, at column zero."""
    slots = names(plan, cp)
    targets = [
        fill(fragment("_wait_target.tpl"), CHART=slots["CHART"],
             TARGET=_check_label(name), TARGET_KEY=values_key(name))
        for name in cp.waitFor
        if has_service(plan.component(name))
    ]
    jobs = wait_jobs(plan, cp)
    init = fill(fragment("_pod_wait.tpl"), **slots, WAIT_TARGETS="".join(targets).rstrip("\n"),
                WAIT_JOBS=jobs)
    claims = "_pod_claims_sts.tpl" if cp.kind == WorkloadKind.STATEFULSET else "_pod_claims.tpl"
    text = fill(
        fragment("_pod.tpl"),
        **slots,
        RESTART_POLICY=fill(fragment("_pod_restart.tpl"), **slots).rstrip("\n") if is_batch(cp) else "",
        INIT=init.rstrip("\n") if targets or jobs else "",
        WAIT_VOLUMES=fragment("_pod_wait_volumes.tpl").rstrip("\n") if jobs else "",
        PROBES="" if is_batch(cp) else fill(fragment("_pod_probes.tpl"), **slots).rstrip("\n"),
        PERSISTENCE_VOLUMES=fill(fragment(claims), **slots).rstrip("\n") if cp.spec.volumes else "",
    )
    # Empty slots leave blank lines behind; a template reads better without them.
    return "\n".join(line for line in text.split("\n") if line != "")


def wait_jobs(plan: ChartPlan, cp: ComponentPlan) -> str:
    """Template lines collecting the names of the Jobs a component waits for into $waitJobs."""
    lines = [
        fill(fragment("_wait_job_target.tpl"), CHART=_check_label(plan.name),
             TARGET=_check_label(name), TARGET_KEY=values_key(name))
        for name in cp.waitForJobs
    ]
    return "".join(lines).rstrip("\n")


def guarded(cp: ComponentPlan, text: str) -> str:
    """A component's template, rendered only while `<component>.enabled` is true."""
    return fill(fragment("_enabled.tpl"), KEY=values_key(cp.spec.name), BODY=text.rstrip("\n"))


def workload(plan: ChartPlan, cp: ComponentPlan) -> str:
    """The workload file of a component with its pod template inlined."""
    depth = POD_INDENT.get(cp.kind, 4)
    pod = shift(pod_template(plan, cp), depth)
    return fill(fragment(WORKLOAD_FILE[cp.kind]), **names(plan, cp), POD=pod)


def component_files(plan: ChartPlan, cp: ComponentPlan) -> dict[str, str]:
    """Every template file of one component, by path inside the chart."""
    slots = names(plan, cp)
    base = f"templates/{cp.spec.name}"
    files = {
        f"{base}/{WORKLOAD_FILE[cp.kind]}": workload(plan, cp),
        f"{base}/configmap.yaml": fill(fragment("configmap.yaml"), **slots),
        f"{base}/networkpolicy.yaml": fill(fragment("networkpolicy.yaml"), **slots),
        f"{base}/serviceaccount.yaml": fill(fragment("serviceaccount.yaml"), **slots),
    }
    if has_service(cp):
        files[f"{base}/service.yaml"] = fill(fragment("service.yaml"), **slots)
        files[f"{base}/ingress.yaml"] = fill(fragment("ingress.yaml"), **slots)
    if cp.kind == WorkloadKind.STATEFULSET or (cp.service is not None and cp.service.headless):
        files[f"{base}/service-headless.yaml"] = fill(fragment("service-headless.yaml"), **slots)
    if cp.spec.volumes and cp.kind != WorkloadKind.STATEFULSET:
        files[f"{base}/pvc.yaml"] = fill(fragment("pvc.yaml"), **slots)
    if cp.kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
        files[f"{base}/hpa.yaml"] = fill(fragment("hpa.yaml"), **slots)
    if not is_batch(cp):
        files[f"{base}/pdb.yaml"] = fill(fragment("pdb.yaml"), **slots)
    if cp.waitForJobs:
        files[f"{base}/role.yaml"] = fill(fragment("role.yaml"), **slots,
                                          WAIT_JOBS=wait_jobs(plan, cp))
    return {path: guarded(cp, text) for path, text in files.items()}


def notes(plan: ChartPlan) -> str:
    """templates/NOTES.txt."""
    parts = []
    for cp in plan.components:
        slots = names(plan, cp)
        part = fill(fragment("_notes_component.tpl"), **slots, RESOURCE=RESOURCE_NAME[cp.kind])
        if has_service(cp):
            part += fill(fragment("_notes_service.tpl"), **slots)
        parts.append(guarded(cp, part))
    secrets = fragment("_notes_secrets.tpl").rstrip("\n") if plan.secrets else ""
    test = fragment("_notes_test.tpl").rstrip("\n") if any(has_service(cp) for cp in plan.components) else ""
    return fill(fragment("NOTES.txt"), NOTES_COMPONENTS="\n".join(parts), NOTES_SECRETS=secrets,
                NOTES_TEST=test)


def test_files(plan: ChartPlan) -> dict[str, str]:
    """The helm test Job (checks every TCP Service port) and its NetworkPolicy."""
    targets = [
        fill(fragment("_test_target.tpl"), **names(plan, cp))
        for cp in plan.components
        if has_service(cp)
    ]
    if not targets:
        return {}
    chart = _check_label(plan.name)
    return {
        "templates/tests/test-connection.yaml": fill(
            fragment("tests/test-connection.yaml"), CHART=chart,
            TEST_TARGETS="".join(targets).rstrip("\n")),
        "templates/tests/networkpolicy.yaml": fill(fragment("tests/networkpolicy.yaml"), CHART=chart),
    }


def chart_templates(plan: ChartPlan) -> dict[str, str]:
    """Every file under templates/."""
    files = {"templates/_helpers.tpl": fill(fragment("_helpers.tpl"), CHART=_check_label(plan.name))}
    for cp in plan.components:
        files.update(component_files(plan, cp))
    if plan.secrets:
        files["templates/secret.yaml"] = fill(fragment("secret.yaml"), CHART=plan.name)
    if shared_claims(plan):
        files["templates/shared-pvc.yaml"] = fill(fragment("shared-pvc.yaml"), CHART=plan.name)
    files["templates/NOTES.txt"] = notes(plan)
    files.update(test_files(plan))
    return files
