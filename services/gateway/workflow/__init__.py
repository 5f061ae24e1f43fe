"""The supervisor's workflow graph: wiring in `graph.py`, nodes in `nodes/`, what they share in
`context.py`, artifact reads in `artifacts.py`."""

from services.gateway.workflow.context import Deps, Publisher
from services.gateway.workflow.graph import build_graph

__all__ = ["Deps", "Publisher", "build_graph"]
