"""`autopilot up`: embedded servers plus the services (the four, and the notifier) as OS processes.

`up` holds an exclusive lock on its data dir (`up.lock`, naming its pid and start time), so a
second `up` on the same data exits at once instead of starting a second broker on the same
store. Each service runs as `python -m services.cli serve <name>` with the servers' URLs and
the checkpoint key in its environment. A service that dies is restarted with a capped
backoff, and so is an embedded NATS or PostgreSQL, on the same port and data (the services
reconnect). Ctrl-C (or SIGTERM) stops the services, then the embedded servers.

`--replicas generator=2` runs a swarm service as several processes: they share the swarm's
durable JetStream consumer (each request goes to one of them) and each has its own /metrics
port, pid file and log (`generator`, `generator-2`, ...).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.cli.remote import Unavailable
from shared.config import AES_KEY_ENV, Settings
from shared.errors import AutopilotError, EmbeddedServerError
from shared.infra.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    Servers,
    ensure_servers,
    free_port,
)

log = logging.getLogger("autopilot.up")

SERVICES = ("planner", "generator", "validator", "gateway", "notifier")
REPLICABLE = ("planner", "generator", "validator")
"""The services that may run as several processes (the swarms; one gateway, one notifier)."""
MAX_REPLICAS = 16
RESTART_BACKOFF_MAX = 10.0
SERVER_CHECK_SECONDS = 1.0


class DataDirBusy(Unavailable):
    """Another `autopilot up` holds the data dir (exit code 3)."""


class DataDirLock:
    """An exclusive flock on `<data-dir>/up.lock`, released when the process ends however it ends.

    The file holds the holder's pid and start time, so a second `up` can name it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "up.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DataDirBusy naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: the holder's pid must survive a second process opening the file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
            who = f"pid {holder[0]}, since {holder[1]}" if len(holder) >= 2 else "another process"
            raise DataDirBusy(
                f"{self.path.parent} is in use by another autopilot up ({who}); "
                "stop it or pass another --data-dir"
            ) from None
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {since}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (closing the descriptor drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class Child:
    """One supervised service process (`name` is the service, or `<service>-<n>` for a replica)."""

    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    log_path: Path = field(default_factory=Path)
    service: str = ""

    def __post_init__(self) -> None:
        """A child named after its service unless told otherwise."""
        if not self.service:
            self.service = self.name


def parse_replicas(values: Sequence[str]) -> dict[str, int]:
    """`--replicas` values (`generator=2`, repeatable or comma-separated) as service -> count.

    Raises AutopilotError (one line, exit 2) naming what is wrong: an unknown or unreplicable
    service, a count that is not a whole number from 1 to MAX_REPLICAS, a service given twice.
    """
    counts: dict[str, int] = {}
    for item in (part.strip() for value in values for part in value.split(",")):
        service, sep, number = (text.strip() for text in item.partition("="))
        if not sep or not service:
            raise AutopilotError(
                f"{item!r} is not SERVICE=N (e.g. generator=2)", field="--replicas"
            )
        if service not in REPLICABLE:
            one = " (one process only)" if service in SERVICES else ""
            raise AutopilotError(
                f"{service!r} cannot be replicated{one}; one of {', '.join(REPLICABLE)}",
                field="--replicas",
            )
        if not number.isdigit() or not 1 <= int(number) <= MAX_REPLICAS:
            raise AutopilotError(
                f"{item!r}: the count must be a whole number from 1 to {MAX_REPLICAS}",
                field="--replicas",
            )
        if service in counts:
            raise AutopilotError(f"{service} is given twice", field="--replicas")
        counts[service] = int(number)
    return counts


def replica_names(service: str, count: int) -> list[str]:
    """The process names of a service's replicas: `generator`, `generator-2`, ..."""
    return [service if i == 1 else f"{service}-{i}" for i in range(1, count + 1)]


def aes_key(data_dir: Path, settings: Settings | None = None) -> str:
    """LANGGRAPH_AES_KEY as the settings read it, else a key generated once and kept in data_dir."""
    configured = (settings or Settings(data_dir=data_dir)).aes_key
    if configured is not None:
        return configured.get_secret_value()
    path = data_dir / "aes.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # 32 URL-safe characters = 32 bytes of UTF-8, what LangGraph's AES reader expects.
    key = secrets.token_urlsafe(24)[:32]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def service_env(
    servers: Servers, key: str, child: Child, data_dir: Path, gateway_port: int | None = None
) -> dict[str, str]:
    """The environment one service process runs with: this one, plus where everything is."""
    from services.cli.environment import child_environment

    env = child_environment(renders=True)
    if gateway_port is not None:
        # The notifier's Slack messages link to the gateway's pages.
        env.setdefault("AUTOPILOT_PUBLIC_URL", f"http://127.0.0.1:{gateway_port}")
    env.update(
        {
            "AUTOPILOT_NATS_URL": servers.nats_url,
            "AUTOPILOT_DATABASE_URL": servers.database_url,
            "AUTOPILOT_DATA_DIR": str(data_dir),
            # Swarms read HTTP_PORT (their /metrics side), the gateway GATEWAY_PORT (its API).
            "AUTOPILOT_HTTP_PORT": str(child.port),
            "AUTOPILOT_GATEWAY_PORT": str(child.port),
            "AUTOPILOT_NOTIFIER_PORT": str(child.port),
            AES_KEY_ENV: key,
        }
    )
    return env


def serve_command(name: str) -> list[str]:
    """The command line of one service process."""
    return [sys.executable, "-m", "services.cli", "serve", name]


class Launcher:
    """Starts, watches and stops the service processes."""

    def __init__(
        self,
        servers: Servers,
        data_dir: Path,
        gateway_port: int,
        key: str,
        *,
        services: Sequence[str] = SERVICES,
        command: Callable[[str], list[str]] = serve_command,
        replicas: Mapping[str, int] | None = None,
    ) -> None:
        self.servers = servers
        self.command = command
        self.data_dir = data_dir
        self.key = key
        self.pid_dir = data_dir / "pids"
        self.log_dir = data_dir / "logs"
        self.gateway_port = gateway_port
        counts = replicas or {}
        self.children = [
            Child(name, gateway_port if service == "gateway" else free_port(), service=service)
            for service in services
            for name in replica_names(service, counts.get(service, 1))
        ]
        self.stopping = False

    def start(self, child: Child) -> None:
        """Start (or restart) one service and record its pid."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        child.log_path = self.log_dir / f"{child.name}.log"
        with child.log_path.open("ab") as out:
            child.process = subprocess.Popen(
                self.command(child.service),
                env=service_env(self.servers, self.key, child, self.data_dir, self.gateway_port),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child.started_at = time.monotonic()
        (self.pid_dir / f"{child.name}.pid").write_text(f"{child.process.pid}\n")
        log.info("started %s (pid %s, port %s)", child.name, child.process.pid, child.port)

    async def watch(self) -> None:
        """Restart any service that exits, with a backoff that grows while it keeps dying."""
        for child in self.children:
            self.start(child)
        while not self.stopping:
            for child in self.children:
                if child.process is None or child.process.poll() is None:
                    continue
                code = child.process.returncode
                quick = time.monotonic() - child.started_at < 5
                child.restarts = child.restarts + 1 if quick else 1
                delay = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** (child.restarts - 1))
                log.warning("%s exited with %s; restarting in %.1fs", child.name, code, delay)
                child.process = None
                asyncio.get_running_loop().call_later(delay, self._restart_later, child)
            await asyncio.sleep(0.2)

    def embedded(self) -> list[tuple[str, EmbeddedNats | EmbeddedPostgres]]:
        """The servers `up` started itself (external ones are someone else's to restart)."""
        found: list[tuple[str, EmbeddedNats | EmbeddedPostgres]] = []
        if self.servers.nats is not None:
            found.append(("nats", self.servers.nats))
        if self.servers.postgres is not None:
            found.append(("postgres", self.servers.postgres))
        return found

    async def watch_servers(self) -> None:
        """Restart a crashed embedded NATS or PostgreSQL on the same port and data."""
        failures = {name: 0 for name, _ in self.embedded()}
        next_try = {name: 0.0 for name, _ in self.embedded()}
        for name, server in self.embedded():
            self._record_server_pid(name, server)
        while not self.stopping:
            await asyncio.sleep(SERVER_CHECK_SECONDS)
            for name, server in self.embedded():
                if self.stopping or time.monotonic() < next_try[name]:
                    continue
                if await asyncio.to_thread(_is_running, server):
                    continue
                log.warning("embedded %s is down; restarting it on port %s", name, server.port)
                try:
                    await asyncio.to_thread(server.revive)
                except (EmbeddedServerError, OSError, subprocess.SubprocessError) as exc:
                    failures[name] += 1
                    delay = min(RESTART_BACKOFF_MAX, 0.5 * 2 ** failures[name])
                    next_try[name] = time.monotonic() + delay
                    log.warning("%s did not restart (%s); next try in %.1fs", name, exc, delay)
                    continue
                failures[name] = 0
                self._record_server_pid(name, server)
                log.info("embedded %s restarted (pid %s)", name, server.pid)

    def _record_server_pid(self, name: str, server: EmbeddedNats | EmbeddedPostgres) -> None:
        """Write an embedded server's pid to `pids/<name>.pid`."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        if (pid := server.pid) is not None:
            (self.pid_dir / f"{name}.pid").write_text(f"{pid}\n")

    def _restart_later(self, child: Child) -> None:
        """The backoff's timer: start the child again unless `up` is stopping or did already."""
        if not self.stopping and child.process is None:
            self.start(child)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every service, SIGKILL what is still alive after the timeout."""
        self.stopping = True
        alive = [c.process for c in self.children if c.process and c.process.poll() is None]
        for proc in alive:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in alive:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for child in self.children:
            (self.pid_dir / f"{child.name}.pid").unlink(missing_ok=True)
        for name, _ in self.embedded():
            (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)


def _is_running(server: EmbeddedNats | EmbeddedPostgres) -> bool:
    """Whether the embedded server is alive, checked once a second (in a thread).

    PostgreSQL's own check runs `pg_ctl status`, a process or two each time (bench/system.py
    counted about 1.5% of a core for `up` while idle); a postmaster whose pid still answers
    signal 0 is taken as running without it, and only a missing or dead pid asks pg_ctl.
    """
    if isinstance(server, EmbeddedPostgres) and _alive(_postmaster_pid(server.data_dir)):
        return True
    return server.running


def _postmaster_pid(data_dir: Path) -> int | None:
    """The pid on the first line of `<data_dir>/postmaster.pid`, None without one."""
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (another user's counts: it answers EPERM)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _urls(launcher: Launcher) -> list[str]:
    """One `/metrics` line per process, replicas included."""
    lines = []
    for child in launcher.children:
        lines.append(f"  {child.name:<10} http://127.0.0.1:{child.port}/metrics")
    return lines


async def run_up(
    data_dir: Path, gateway_port: int | None, replicas: Mapping[str, int] | None = None
) -> int:
    """Run the whole system until interrupted (`replicas`: processes per swarm service, 1 else)."""
    with DataDirLock(data_dir):
        return await _run_locked(data_dir, gateway_port, replicas or {})


async def _run_locked(data_dir: Path, gateway_port: int | None, replicas: Mapping[str, int]) -> int:
    """`run_up` once the data dir is ours: servers, the services, then wait for a signal."""
    settings = Settings(data_dir=data_dir)
    servers = await ensure_servers(settings)
    key = aes_key(data_dir, settings)
    launcher = Launcher(servers, data_dir, gateway_port or free_port(), key, replicas=replicas)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(launcher.watch())
    server_watcher = asyncio.create_task(launcher.watch_servers())
    gateway = next(c for c in launcher.children if c.name == "gateway")
    print(f"gateway: http://127.0.0.1:{gateway.port}", flush=True)  # noqa: T201 - CLI output
    print("metrics:\n" + "\n".join(_urls(launcher)), flush=True)  # noqa: T201
    print(f"data: {data_dir} (logs in {launcher.log_dir}); Ctrl-C stops everything", flush=True)  # noqa: T201
    try:
        await stop.wait()
    finally:
        launcher.stopping = True
        watcher.cancel()
        # Not cancelled: a restart in flight (in a thread) must finish before the servers stop.
        await server_watcher
        await asyncio.to_thread(launcher.stop)
        await servers.aclose()
    return 0
