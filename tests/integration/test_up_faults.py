"""`autopilot up` under faults a user meets: its own NATS and PostgreSQL killed mid-run, and a
second `up` started on the same data dir.

Each test starts its own `autopilot up` in a fresh data dir on free ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.cli.commands.submit import submit
from services.cli.demo import System, scratch_dir, start_system, stop_system, wait_ready
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop.yaml"


@pytest.fixture
def system() -> Iterator[System]:
    with scratch_dir("autopilot-up-") as data_dir:
        running = start_system(data_dir)
        try:
            yield running
        finally:
            stop_system(running)
            assert not list((data_dir / "pids").glob("*.pid"))


def _kill(system: System, server: str) -> int:
    """SIGKILL an embedded server, as a crash would; returns its pid."""
    pid = system.pid(server)
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted(system: System, server: str, old: int, seconds: float = 60) -> int:
    """Until `up` records a new pid for the server; that pid."""

    def new_pid() -> int | None:
        """The server's pid if `up` has recorded a new one."""
        try:
            pid = system.pid(server)
        except (OSError, ValueError):
            return None
        return pid if pid != old else None

    return eventually(
        new_pid,
        timeout=seconds,
        interval=0.2,
        message=lambda: f"{server} was not restarted:\n{(system.data_dir / 'up.log').read_text()}",
    )


def test_killed_embedded_nats_and_postgres_are_restarted_and_the_workflow_completes(
    system: System, tmp_path: Path
) -> None:
    # Both killed before anything runs: the gateway says 503 while one is away, then recovers.
    # `up` itself is paused (SIGSTOP; its services run on) while the gateway is asked, so a
    # quick restart on a loaded machine cannot hide the window the test looks for.
    os.kill(system.process.pid, signal.SIGSTOP)
    try:
        old = _kill(system, "postgres")

        def ready_status() -> int | None:
            """The gateway's /readyz status (None while it does not answer)."""
            try:
                return httpx.get(f"{system.url}/readyz", timeout=5).status_code
            except httpx.HTTPError:
                return None

        eventually(
            ready_status,
            until=lambda status: status == 503,
            timeout=60,
            message="the gateway did not answer 503 while PostgreSQL was away",
        )
    finally:
        os.kill(system.process.pid, signal.SIGCONT)
    _restarted(system, "postgres", old)
    _restarted(system, "nats", _kill(system, "nats"))
    wait_ready(system.url)

    # And again mid-workflow: NATS once the workflow is submitted, PostgreSQL a little later.
    killed: list[str] = []

    def echo(line: str) -> None:
        if "submitted" in line and not killed:
            killed.append("nats")
            threading.Timer(0.2, _kill, (system, "nats")).start()
        elif "generat" in line and killed == ["nats"]:
            killed.append("postgres")
            threading.Timer(0.2, _kill, (system, "postgres")).start()
        lines.append(line)

    lines: list[str] = []
    code = submit(SHOP.read_bytes(), system.url, tmp_path / "out", yes=True, echo=echo, timeout=300)
    up_log = (system.data_dir / "up.log").read_text(errors="replace")
    assert code == 0, "\n".join(lines) + up_log
    assert killed == ["nats", "postgres"], "\n".join(lines)
    assert up_log.count("embedded nats restarted") >= 2
    assert up_log.count("embedded postgres restarted") >= 1
    workflows = httpx.get(f"{system.url}/v1/workflows").json()["items"]
    assert [w["status"] for w in workflows] == ["completed"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["shop"]


def test_a_second_up_on_a_held_data_dir_exits_at_once_naming_the_holder(system: System) -> None:
    start = time.monotonic()
    second = subprocess.run(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(system.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert time.monotonic() - start < 15
    assert second.returncode == 3
    err = second.stderr.strip()
    assert f"pid {system.process.pid}, since " in err and "\n" not in err
    # The first instance is untouched: its gateway still reaches both servers.
    assert httpx.get(f"{system.url}/readyz", timeout=5).status_code == 200
