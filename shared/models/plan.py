"""The chart plan: every decision the planner took, resolved, with the reason for each.

The generator renders a plan mechanically; a human reviewing the plan sees why each
object exists. A plan carries fully resolved components (defaults filled in), so the
generator never re-decides anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models.requirements import (
    ChartSecret,
    Component,
    Name,
    SpecModel,
    Standards,
    WorkloadKind,
)


class Decision(SpecModel):
    """One planning decision and why it was taken."""

    component: str | None = Field(default=None, description="Component, or null for the chart.")
    topic: str = Field(description="What was decided.", examples=["workload"])
    choice: str = Field(description="The decision.", examples=["StatefulSet"])
    reason: str = Field(description="Why, in a sentence a reviewer can check.")


class ImportNote(SpecModel):
    """Something an importer could not map one-to-one (never silently dropped)."""

    severity: Literal["info", "warning", "error"] = "warning"
    source: str = Field(description="Where in the input, e.g. services.web.build.")
    message: str


class ServicePlan(SpecModel):
    """The component's Service."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    headless: bool = Field(default=False, description="Also create a headless Service.")
    aliases: list[Name] = Field(
        default_factory=list, description="Extra Services with exactly these names."
    )


class Peer(SpecModel):
    """A sibling allowed to connect, and on which ports."""

    component: Name
    ports: list[int] = Field(
        default_factory=list, description="Ports it may reach; empty: every exposed port."
    )


class Reference(SpecModel):
    """One call from a component to another, found in its env (or written as a serviceRef)."""

    caller: Name
    variable: str = Field(description="The caller's env variable that holds the address.")
    callee: Name
    port: int | None = Field(default=None, description="Port called; null: the Service's.")


class NetworkPolicyPlan(SpecModel):
    """Who may reach the component."""

    allowFrom: list[Peer] = Field(
        default_factory=list, description="Sibling components allowed to connect."
    )
    allowIngressController: bool = False
    allowExternal: bool = Field(
        default=False, description="Any source (NodePort/LoadBalancer or UDP/TCP exposed apps)."
    )


class ComponentPlan(SpecModel):
    """A resolved component and the objects the chart creates for it."""

    spec: Component = Field(description="The component with every default resolved.")
    kind: WorkloadKind
    replicas: int = Field(ge=0)
    service: ServicePlan | None = None
    pdb: bool = Field(default=False, description="Create a PodDisruptionBudget.")
    networkPolicy: NetworkPolicyPlan = Field(default_factory=NetworkPolicyPlan)
    serviceAccount: bool = Field(default=True, description="Create a dedicated ServiceAccount.")
    automountToken: bool = False
    imageMissing: bool = Field(
        default=False, description="No image was given (compose `build:`); a placeholder is used."
    )
    waitFor: list[Name] = Field(
        default_factory=list, description="Components whose Service must answer before start."
    )
    waitForJobs: list[Name] = Field(
        default_factory=list, description="One-shot Jobs that must complete before start."
    )


class ChartPlan(SpecModel):
    """Everything the generator needs, and the reasons."""

    name: Name
    chartVersion: str
    appVersion: str
    description: str
    kubeVersion: str = ">=1.25.0-0"
    components: list[ComponentPlan] = Field(min_length=1)
    secrets: list[ChartSecret] = Field(default_factory=list)
    standards: Standards = Field(default_factory=Standards)
    namespace: str | None = None
    repoURL: str | None = None
    references: list[Reference] = Field(
        default_factory=list, description="Every call between components, from their env."
    )
    decisions: list[Decision] = Field(default_factory=list)
    notes: list[ImportNote] = Field(
        default_factory=list, description="Import and planning notes shown to reviewers."
    )

    def component(self, name: str) -> ComponentPlan:
        """The plan of one component by name."""
        for comp in self.components:
            if comp.spec.name == name:
                return comp
        raise KeyError(name)
