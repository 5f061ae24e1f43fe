"""The offline planning engine: requirements in, a ChartPlan with a reason for every decision out.

The engine validates what pydantic cannot (policy, cross-component facts), fills every
gap from best practices, the organisation's standards and the image knowledge base, and
records each choice as a Decision so a reviewer sees why the chart looks as it does.

One module per concern: `policy` (standards), `calls` (calls between components, Services
and NetworkPolicies for them), `network` (ports), `workload` (image, kind, replicas,
resources), `security`, `probes`, and `chart`, which resolves each component in turn.
"""

from services.planner.engine.chart import plan_chart
from services.planner.engine.policy import merge_standards, secret_names_used

__all__ = ["merge_standards", "plan_chart", "secret_names_used"]
