"""`make demo`: the whole path on the embedded default, start to finish.

Starts `autopilot up` in a throwaway data dir, submits an example through the gateway,
approves every gate, writes the chart, and shuts everything down. The same helpers run a
system for the integration tests.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.cli.environment import child_environment
from shared.infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class System:
    """A running `autopilot up`."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    url: str

    def pid(self, service: str) -> int:
        """The pid `up` recorded for a service."""
        return int((self.data_dir / "pids" / f"{service}.pid").read_text())

    def log(self, service: str) -> str:
        """A service's log so far."""
        path = self.data_dir / "logs" / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_ready(
    url: str, seconds: float = 90, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Until the gateway's /readyz answers 200 (NATS and Postgres reachable)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"autopilot up exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {seconds:.0f}s")


def start_system(data_dir: Path, **env: str) -> System:
    """`autopilot up` in a subprocess on a free port; returns once the gateway is ready.

    Without AUTOPILOT_NATS_URL / AUTOPILOT_DATABASE_URL in `env` it runs its own embedded
    servers, whatever the calling environment says.
    """
    port = free_port()
    environ = child_environment(env, without=("AUTOPILOT_NATS_URL", "AUTOPILOT_DATABASE_URL"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "up.log").open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process=proc)
    except (RuntimeError, TimeoutError) as exc:
        proc.kill()
        raise RuntimeError(f"{exc}\n{(data_dir / 'up.log').read_text(errors='replace')}") from exc
    return System(proc, data_dir, url)


def stop_system(system: System, timeout: float = 60) -> None:
    """Ctrl-C, as a user would."""
    system.process.send_signal(signal.SIGINT)
    system.process.wait(timeout=timeout)


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temp dir embedded Postgres (which runs as another user when we are root) can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main() -> int:
    """Run the demo: up, submit, approve, write the chart, shut down."""
    from services.cli.commands.submit import submit

    out = ROOT / "out" / "demo"
    with scratch_dir("autopilot-demo-") as data_dir:
        print("starting the system (embedded NATS and PostgreSQL, four services)...", flush=True)  # noqa: T201
        system = start_system(data_dir / "data")
        print(f"gateway ready at {system.url}", flush=True)  # noqa: T201
        try:
            code = 0
            for example, name in (
                (ROOT / "examples" / "shop.yaml", None),
                (ROOT / "examples" / "compose" / "wordpress-mysql.yaml", "wordpress"),
            ):
                print(f"\nsubmitting {example.relative_to(ROOT)} (every gate approved)", flush=True)  # noqa: T201
                code |= submit(example.read_bytes(), system.url, out, yes=True, name=name)
        finally:
            stop_system(system)
            print("system stopped", flush=True)  # noqa: T201
    return code


if __name__ == "__main__":
    sys.exit(main())
