"""Chart metadata and documentation: Chart.yaml, README.md, .helmignore, ci values, Argo CD."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from string import Template
from typing import Any

from services.generator.naming import values_key
from services.generator.params import Group, Node, dump_yaml, one_line, table_rows
from services.generator.values import SCALABLE, exposed_ports, has_service
from shared.models.plan import ChartPlan, ComponentPlan
from shared.models.requirements import WorkloadKind
from shared.models.workflow import ArgoCDConfig

ICON = "https://raw.githubusercontent.com/cncf/artwork/main/projects/helm/icon/color/helm-icon-color.png"
GENERATED_BY = "k8s-autopilot"

HELMIGNORE = """\
# Patterns to ignore when building packages.
# Operating system and editor files
.DS_Store
.git/
.gitignore
*.swp
*.bak
*.tmp
*.orig
*~
.idea/
.vscode/
# K8s Autopilot bookkeeping: generation manifest, pending updates, the Argo CD Application
.autopilot/
*.autopilot-new
argocd/
"""


def plan_hash(plan: ChartPlan) -> str:
    """A stable digest of the plan, recorded in Chart.yaml."""
    data = json.dumps(plan.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text)


def chart_yaml(plan: ChartPlan) -> str:
    """Chart.yaml in the conventional key order, every free-text field quoted."""
    description = one_line(plan.description, limit=1024) or f"Helm chart for {plan.name}"
    keywords = sorted({plan.name, *(cp.kind.value.lower() for cp in plan.components)})
    lines = [
        "apiVersion: v2",
        f"name: {plan.name}",
        f"description: {_q(description)}",
        "type: application",
        f"version: {_q(plan.chartVersion)}",
        f"appVersion: {_q(plan.appVersion)}",
        f"kubeVersion: {_q(plan.kubeVersion)}",
        "keywords:",
        *(f"  - {_q(k)}" for k in keywords),
    ]
    if plan.repoURL and plan.repoURL.startswith("https://"):
        lines += [f"home: {_q(plan.repoURL)}", "sources:", f"  - {_q(plan.repoURL)}"]
    lines += [
        f"icon: {_q(ICON)}",
        "annotations:",
        f"  autopilot.dev/generated-by: {_q(GENERATED_BY)}",
        f"  autopilot.dev/plan-hash: {_q(plan_hash(plan))}",
    ]
    return "\n".join(lines) + "\n"


def argocd_config(plan: ChartPlan) -> ArgoCDConfig:
    """The Argo CD settings for this chart."""
    extra: dict[str, Any] = {"repoURL": plan.repoURL} if plan.repoURL else {}
    return ArgoCDConfig(path=plan.name, namespace=plan.namespace or plan.name, **extra)


def argocd_application(plan: ChartPlan) -> str:
    """argocd/application.yaml: an Argo CD Application that syncs the chart."""
    cfg = argocd_config(plan)
    sync: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if cfg.automated:
        sync["automated"] = {"prune": cfg.prune, "selfHeal": cfg.selfHeal}
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": plan.name,
            "namespace": "argocd",
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": cfg.project,
            "source": {
                "repoURL": cfg.repoURL,
                "targetRevision": cfg.targetRevision,
                "path": cfg.path,
                "helm": {"releaseName": plan.name, "valueFiles": ["values.yaml"]},
            },
            "destination": {"server": cfg.server, "namespace": cfg.namespace},
            "syncPolicy": sync,
        },
    }
    return "# Argo CD Application for this chart; apply it in the Argo CD namespace.\n" + dump_yaml(
        app
    )


# --- ci values --------------------------------------------------------------------------


CI_SECRET_PLACEHOLDER = "ci-placeholder-not-a-secret"
"""The value ci files give secrets the chart cannot generate (they must be set at install)."""


def _ci_file(comment: str, values: dict[str, Any]) -> str:
    """A ci values file with its purpose as a header comment."""
    return f"# {one_line(comment)}\n" + dump_yaml(values)


def ci_files(plan: ChartPlan) -> dict[str, str]:
    """ci/*-values.yaml files exercising the optional features the chart has.

    Secrets the chart cannot generate must be given at install, so every ci file but the
    existing-Secret one supplies labelled placeholders for them (`ct install` installs them).
    """
    files: dict[str, str] = {}
    required = {s.name: CI_SECRET_PLACEHOLDER for s in plan.secrets if not s.generate}

    def _ci(comment: str, values: dict[str, Any], *, secrets: bool = True) -> str:
        if secrets and required:
            values = {**values, "secrets": {"values": dict(required)}}
            comment += " Required secrets get placeholder values (set real ones at install)."
        return _ci_file(comment, values)

    served = [cp for cp in plan.components if has_service(cp)]
    if served and not any(cp.spec.ingress for cp in served):
        cp = served[0]
        files["ci/ingress-tls-values.yaml"] = _ci(
            f"Exercise the Ingress with TLS on {cp.spec.name}.",
            {
                values_key(cp.spec.name): {
                    "ingress": {
                        "enabled": True,
                        "hostname": f"{cp.spec.name}.example.com",
                        "tls": True,
                    }
                }
            },
        )
    scalable = [
        cp
        for cp in plan.components
        if cp.kind in SCALABLE and not (cp.spec.autoscaling and cp.spec.autoscaling.enabled)
    ]
    # Prefer stateless components: autoscaling a database is rarely what anyone wants.
    stateless = [cp for cp in scalable if cp.kind == WorkloadKind.DEPLOYMENT]
    scalable = stateless or scalable
    if scalable:
        files["ci/autoscaling-values.yaml"] = _ci(
            "Exercise the HorizontalPodAutoscalers.",
            {
                values_key(cp.spec.name): {
                    "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4}
                }
                for cp in scalable
            },
        )
    if plan.secrets:
        files["ci/existing-secret-values.yaml"] = _ci(
            "Read secrets from an existing Secret instead of creating one.",
            {"secrets": {"existingSecret": f"{plan.name}-credentials"}},
            secrets=False,
        )
    with_volumes = [cp for cp in plan.components if cp.spec.volumes]
    if with_volumes:
        files["ci/no-persistence-values.yaml"] = _ci(
            "Run without PersistentVolumeClaims (emptyDir volumes).",
            {
                values_key(cp.spec.name): {
                    "persistence": {v.name: {"enabled": False} for v in cp.spec.volumes}
                }
                for cp in with_volumes
            },
        )
    disabled = [cp for cp in plan.components if not cp.spec.enabled]
    if disabled:
        files["ci/all-profiles-values.yaml"] = _ci(
            "Deploy the components that are off by default (Compose profiles not active).",
            {values_key(cp.spec.name): {"enabled": True} for cp in disabled},
        )
    return files


# --- README -----------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def _component_row(cp: ComponentPlan) -> list[str]:
    """One row of the 'What it deploys' table."""
    ports = (
        ", ".join(f"{p['port']}/{p['protocol']}" for p in exposed_ports(cp))
        if has_service(cp)
        else "-"
    )
    replicas = str(cp.replicas) if cp.kind in SCALABLE else "-"
    if cp.spec.autoscaling and cp.spec.autoscaling.enabled:
        replicas = f"{cp.spec.autoscaling.minReplicas}-{cp.spec.autoscaling.maxReplicas} (HPA)"
    image = "**missing: build and set it**" if cp.imageMissing else f"`{_cell(cp.spec.image)}`"
    ingress = f"`{cp.spec.ingress.host}`" if cp.spec.ingress and has_service(cp) else "-"
    volumes = ", ".join(f"{v.name} ({v.size})" for v in cp.spec.volumes) or "-"
    return [f"`{cp.spec.name}`", cp.kind.value, replicas, image, ports, ingress, volumes]


README = Template(
    (Path(__file__).parent / "files" / "README.template.md").read_text(encoding="utf-8")
)
"""The chart README; each placeholder is a paragraph, a table or an optional section."""

IMAGES = Template("""\
## Images to build

> **Warning**: these components had no image (only a build context). Build and push them, then \
set `<component>.image.repository` and `<component>.image.tag`; their pods cannot start with \
the `REPLACE-ME` placeholder.

$items

""")

SECRETS = Template("""\
## Secrets

Secret values are never stored in values.yaml. Set them at install \
(`--set secrets.values.<key>=...`) or point `secrets.existingSecret` at a Secret you manage. \
Keys marked generated get a random 32-character value that is kept across upgrades.

$required$table

""")

REQUIRED = Template("""\
> **Required**: $keys cannot be generated. An install without $them (and without \
`secrets.existingSecret`) fails at once with a message naming the values to set. The \
`ci/*-values.yaml` files (except `ci/existing-secret-values.yaml`) give $them the placeholder \
`$placeholder`, and K8s Autopilot's validator renders and scans the default values with the \
same kind of labelled placeholder, since values.yaml never holds a secret.

""")

NO_EXCEPTIONS = (
    "None: every component runs with the hardened defaults (non-root, read-only root "
    "filesystem, all capabilities dropped, no privilege escalation, seccomp RuntimeDefault)."
)


def _secrets_section(plan: ChartPlan) -> str:
    """The Secrets section, empty when the chart has no Secret."""
    if not plan.secrets:
        return ""
    required = [s.name for s in plan.secrets if not s.generate]
    note = ""
    if required:
        note = REQUIRED.substitute(
            keys=", ".join(f"`secrets.values.{k}`" for k in required),
            them="it" if len(required) == 1 else "them",
            placeholder=CI_SECRET_PLACEHOLDER,
        )
    table = _table(
        ["Key", "Description", "Generated"],
        [
            [f"`{s.name}`", _cell(s.description) or "-", "yes" if s.generate else "no, must be set"]
            for s in plan.secrets
        ],
    )
    return SECRETS.substitute(required=note, table=table)


def _parameters(tree: list[Node]) -> str:
    """One table of parameters per values group, the top-level ones first as "Common"."""
    common: list[Node] = [node for node in tree if not isinstance(node, Group)]
    sections: list[tuple[str, str, list[Node]]] = [
        ("Common", "Naming and organisation standards.", common)
    ]
    sections += [
        (f"`{node.name}`", node.description, [node]) for node in tree if isinstance(node, Group)
    ]
    return "\n\n".join(
        f"### {title}\n\n{one_line(description)}\n\n"
        + _table(["Parameter", "Description", "Default"], [list(r) for r in table_rows(nodes)])
        for title, description, nodes in sections
    )


def _images_section(plan: ChartPlan) -> str:
    """The Images to build section, empty when every component has an image."""
    missing = [cp.spec.name for cp in plan.components if cp.imageMissing]
    if not missing:
        return ""
    items = (f"- `{name}` (values key `{values_key(name)}.image`)" for name in missing)
    return IMAGES.substitute(items="\n".join(items))


def _decisions(plan: ChartPlan) -> str:
    """The plan's decisions as a table."""
    if not plan.decisions:
        return "The plan recorded no decisions."
    rows = [
        [
            f"`{d.component}`" if d.component else "chart",
            _cell(d.topic),
            _cell(d.choice),
            _cell(d.reason),
        ]
        for d in plan.decisions
    ]
    return _table(["Component", "Topic", "Choice", "Reason"], rows)


def _exceptions(plan: ChartPlan) -> str:
    """The security exceptions as a table, with their reasons."""
    rows = [
        [f"`{cp.spec.name}`", f"`{e.setting}`", _cell(e.reason)]
        for cp in plan.components
        for e in cp.spec.security.exceptions
    ]
    return _table(["Component", "Setting", "Reason"], rows) if rows else NO_EXCEPTIONS


def _notes(plan: ChartPlan) -> str:
    """The import and planning notes as a list."""
    if not plan.notes:
        return "Nothing to note."
    return "\n".join(
        f"- **{n.severity}** `{_cell(n.source).replace('`', '')}`: {_cell(n.message)}"
        for n in plan.notes
    )


def readme(plan: ChartPlan, tree: list[Node]) -> str:
    """README.md: what the chart deploys, how to install it, the plan's reasons, the values."""
    components = _table(
        ["Component", "Kind", "Replicas", "Image", "Service ports", "Ingress", "Volumes"],
        [_component_row(cp) for cp in plan.components],
    )
    return README.substitute(
        name=plan.name,
        namespace=plan.namespace or plan.name,
        description=f"{one_line(plan.description, limit=1024)}\n\n" if plan.description else "",
        chart_version=plan.chartVersion,
        app_version=_cell(plan.appVersion),
        components=components,
        images=_images_section(plan),
        secrets=_secrets_section(plan),
        decisions=_decisions(plan),
        exceptions=_exceptions(plan),
        notes=_notes(plan),
        parameters=_parameters(tree),
    )
