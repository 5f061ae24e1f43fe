"""The whole system as a user runs it: `autopilot up` (embedded NATS and PostgreSQL, four
service processes) and workflows submitted over HTTP.

Each test starts its own `autopilot up` in a fresh data dir on free ports, so nothing is
shared with other tests or with servers already on the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.cli.commands.submit import submit
from services.cli.demo import System, scratch_dir, start_system, stop_system, wait_ready
from services.generator.engine import generate_chart
from services.planner.engine import plan_chart
from services.planner.intake import intake
from shared.infra.embedded import EmbeddedNats, EmbeddedPostgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop.yaml"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("autopilot-up-") as path:
        yield path


def stop_and_check(system: System) -> None:
    """Ctrl-C; every service process must be gone afterwards."""
    stop_system(system)
    assert not list((system.data_dir / "pids").glob("*.pid"))


def offline_files(tmp: Path) -> dict[str, bytes]:
    """The chart `autopilot generate` writes for the shop example (templates and values)."""
    plan = plan_chart(intake(SHOP.read_bytes()).requirements)
    chart = generate_chart(plan, tmp).chart_dir
    return {
        str(p.relative_to(chart)): p.read_bytes()
        for p in chart.rglob("*")
        if p.is_file() and _compared(p.relative_to(chart))
    }


def _compared(rel: Path) -> bool:
    # helm package rewrites Chart.yaml and drops .helmignore'd files; compare what it keeps verbatim.
    return rel.parts[0] in ("templates", "ci") or rel.name in (
        "values.yaml",
        "values.schema.json",
        "README.md",
    )


def chart_files(chart: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(chart)): p.read_bytes()
        for p in chart.rglob("*")
        if p.is_file() and _compared(p.relative_to(chart))
    }


def test_up_submit_through_three_gates_gives_the_offline_chart(
    data_dir: Path, tmp_path: Path
) -> None:
    system = start_system(data_dir)
    try:
        asked: list[str] = []

        def reviewer(workflow: dict[str, Any]) -> dict[str, Any]:
            gate = workflow["pending_gate"]["gate"]
            asked.append(gate)
            return {"gate": gate, "decision": "approve", "comment": "looks right"}

        lines: list[str] = []
        code = submit(
            SHOP.read_bytes(),
            system.url,
            tmp_path / "out",
            yes=False,
            ask=reviewer,
            echo=lines.append,
        )
        assert code == 0, "\n".join(lines)
        assert asked == ["planning_review", "security_review", "deployment_approval"]
        assert chart_files(tmp_path / "out" / "shop") == offline_files(tmp_path / "offline")
        assert (tmp_path / "out" / "shop" / "argocd" / "application.yaml").is_file()
        metrics = httpx.get(f"{system.url}/metrics").text
        assert "autopilot_" in metrics
    finally:
        stop_and_check(system)


def test_rejected_plan_ends_the_workflow(data_dir: Path, tmp_path: Path) -> None:
    system = start_system(data_dir)
    try:

        def reviewer(workflow: dict[str, Any]) -> dict[str, Any]:
            return {
                "gate": workflow["pending_gate"]["gate"],
                "decision": "reject",
                "comment": "needs a cache",
            }

        lines: list[str] = []
        assert (
            submit(
                SHOP.read_bytes(),
                system.url,
                tmp_path / "out",
                yes=False,
                ask=reviewer,
                echo=lines.append,
            )
            == 1
        )
        wf = httpx.get(f"{system.url}/v1/workflows").json()["items"][0]
        assert wf["status"] == "rejected" and wf["comment"] == "needs a cache"
        assert not (tmp_path / "out").exists()
    finally:
        stop_and_check(system)


@pytest.mark.parametrize(
    ("service", "node"), [("planner", "plan"), ("generator", "generate"), ("validator", "validate")]
)
def test_a_swarm_killed_mid_subgraph_is_restarted_and_resumes(
    data_dir: Path, tmp_path: Path, service: str, node: str
) -> None:
    system = start_system(data_dir, AUTOPILOT_FAULT=f"{service}:{node}")
    try:
        first_pid = system.pid(service)
        lines: list[str] = []
        code = submit(
            SHOP.read_bytes(),
            system.url,
            tmp_path / "out",
            yes=True,
            echo=lines.append,
            timeout=180,
        )
        assert code == 0, "\n".join(lines) + system.log(service)
        assert system.pid(service) != first_pid, (
            "the fault hook killed the service and up restarted it"
        )
        assert (data_dir / "fault-fired").exists()
        workflows = httpx.get(f"{system.url}/v1/workflows").json()["items"]
        assert len(workflows) == 1 and workflows[0]["status"] == "completed"
        assert chart_files(tmp_path / "out" / "shop") == offline_files(tmp_path / "offline")
        runs = asyncio.run(node_runs(system, service, workflows[0]["id"]))
        names = [r.split("@")[0] for r in runs]
        assert names.count(node) == 1, runs
        after = runs[names.index(node) + 1]
        assert runs[names.index(node)].split("@")[1] != after.split("@")[1], (
            f"the node after {node} ran in the restarted process: {runs}"
        )
    finally:
        stop_and_check(system)


async def node_runs(system: System, service: str, workflow_id: str) -> list[str]:
    """The checkpointed `<node>@<pid>` record of the swarm's first attempt, read from Postgres."""
    import importlib
    import re

    from shared.config import Settings
    from shared.events import Swarm, thread_id
    from shared.infra.checkpoint import open_checkpointer, serializer

    url = re.search(r"embedded PostgreSQL ready at (\S+)", (system.data_dir / "up.log").read_text())
    assert url, "up.log names the embedded PostgreSQL"
    key = (system.data_dir / "aes.key").read_text().strip()
    serde = serializer(Settings(LANGGRAPH_AES_KEY=key))
    swarm = {
        "planner": Swarm.PLANNING,
        "generator": Swarm.GENERATION,
        "validator": Swarm.VALIDATION,
    }[service]
    graph_module = importlib.import_module(f"services.{service}.graph")
    async with open_checkpointer(url.group(1), serde=serde, setup=False) as saver:
        graph = graph_module.build_graph().compile(checkpointer=saver)
        state = await graph.aget_state(
            {"configurable": {"thread_id": thread_id(workflow_id, swarm, 1)}}
        )
    runs: list[str] = state.values["node_runs"]
    return runs


def test_nats_and_postgres_restarts_mid_run_are_survived(data_dir: Path, tmp_path: Path) -> None:
    # The servers belong to the test, not to `up`: the with-block stops them whatever happens.
    with (
        EmbeddedNats(data_dir / "ext-nats") as nats,
        EmbeddedPostgres(data_dir / "ext-pg") as postgres,
    ):
        _restart_servers_mid_run(data_dir, tmp_path, nats, postgres)


def _restart_servers_mid_run(
    data_dir: Path, tmp_path: Path, nats: EmbeddedNats, postgres: EmbeddedPostgres
) -> None:
    import threading

    system = start_system(
        data_dir / "up",
        AUTOPILOT_NATS_URL=nats.url,
        AUTOPILOT_DATABASE_URL=postgres.url,
        AUTOPILOT_RECONCILE_INTERVAL_SECONDS="1",
    )
    try:
        restarted: list[str] = []
        timers: list[threading.Timer] = []

        def restart_soon(name: str, server: EmbeddedNats | EmbeddedPostgres) -> None:
            # Fires while the swarm after this gate is working, not while everything is idle.
            def go() -> None:
                server.restart()
                restarted.append(name)

            timers.append(threading.Timer(0.3, go))
            timers[-1].start()

        def reviewer(workflow: dict[str, Any]) -> dict[str, Any]:
            gate = workflow["pending_gate"]["gate"]
            for timer in timers:
                timer.join()
            wait_ready(system.url)
            if gate == "planning_review":
                restart_soon("nats", nats)
            elif gate == "security_review":
                restart_soon("postgres", postgres)
            return {"gate": gate, "decision": "approve"}

        lines: list[str] = []
        code = submit(
            SHOP.read_bytes(),
            system.url,
            tmp_path / "out",
            yes=False,
            ask=reviewer,
            echo=lines.append,
            timeout=240,
        )
        assert code == 0, "\n".join(lines)
        assert restarted == ["nats", "postgres"]
        assert chart_files(tmp_path / "out" / "shop") == offline_files(tmp_path / "offline")
    finally:
        stop_and_check(system)
