"""The human gates a workflow can wait at: one enum, imported wherever a gate is named.

Adding a gate: a member here (and in `AutoApprovable` if a submitter may skip it), then its node
in the gateway's workflow graph (services/gateway/workflow/). Metrics, webhooks' event filters,
the API's models and the review UI take the list from this enum.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class Gate(StrEnum):
    """A point where a person approves, edits or rejects."""

    PLANNING_REVIEW = "planning_review"
    """The plan: decisions, notes and risks; an edit is the plan to continue with."""
    SECURITY_REVIEW = "security_review"
    """The validator's security findings and the spec's accepted exceptions."""
    DEPLOYMENT_APPROVAL = "deployment_approval"
    """The diff of rendered manifests against the chart of the name last published."""
    ERROR_REVIEW = "error_review"
    """An escalated error: approve re-runs the failed step, reject fails the workflow."""

    def __repr__(self) -> str:
        # The value, so a refused `auto_approve` lists the names a client can send.
        return repr(self.value)

    @property
    def label(self) -> str:
        """The gate's name for people ("Planning review")."""
        return self.value.replace("_", " ").capitalize()


AutoApprovable = Literal[Gate.PLANNING_REVIEW, Gate.SECURITY_REVIEW, Gate.DEPLOYMENT_APPROVAL]
"""The gates of the normal path, which a submitter's `auto_approve` may name (error_review never)."""

AUTO_APPROVABLE: tuple[Gate, ...] = get_args(AutoApprovable)
