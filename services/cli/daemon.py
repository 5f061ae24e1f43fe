"""A warm per-user daemon for `autopilot generate --yes` (issue 12, figure b).

A cold `generate` spends most of its time importing (checkov, pydantic, the planner) and
setting checkov up; a warm process does the same work in a fraction of that. The daemon is
such a process: it listens on a Unix socket (0600, in a 0700 directory of the user's), has
the planner, generator and validator imported and checkov warmed up, and runs one request at
a time through the CLI's own `main()` with the client's argv, cwd, environment and stdin,
answering the exit code and what was printed. It exits after an idle timeout.

The socket's name carries a fingerprint of the code (Python, the package metadata and every
.py file's size and mtime under services/ and shared/), so a client of an upgraded or edited
tree never talks to a daemon still running the old code; a request also carries the
fingerprint, and a daemon refuses one that is not its own.

Frames are a 4-byte big-endian length and that many bytes of UTF-8 JSON. A connection
carries one request. The answer to `status` or `stop` is one frame; a run is answered as it
goes: a frame `{"stream": "stdout"|"stderr", "data": ...}` for each write, in the order the
run wrote them, then `{"code": N}`. A client that goes away mid-run (Ctrl-C, a closed pipe)
stops it as Ctrl-C stops an in-process run: the daemon exits at once, and the next client
starts a fresh one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PROTOCOL = 2
MAX_FRAME = 64 * 1024 * 1024
"""The largest frame either side accepts (a request carries stdin, an answer the output)."""
CONNECT_TIMEOUT = 2.0
START_TIMEOUT = 120.0
"""How long `autopilot daemon start` waits for the daemon's warm-up (checkov's import)."""

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding services/ and shared/ (the repository, or site-packages)."""

WARM_MODULES = (
    "services.cli.main",
    "services.cli.commands.generate",
    "services.cli.agentic",
    "services.cli.common",
    "services.cli.progress",
    "services.planner.engine",
    "services.generator.engine",
    "services.validator.engine",
)
"""What a daemon imports before it listens: everything `generate --yes` runs."""

IN_DAEMON = False
"""True inside the daemon: a request it runs never hands itself to a daemon again."""


class DaemonError(Exception):
    """A request or answer that breaks the protocol."""


# --- where and which daemon ------------------------------------------------------------------


def fingerprint() -> str:
    """A hash of the code a daemon would run: the interpreter, the package's metadata and the
    size and mtime of every .py file under services/ and shared/."""
    digest = hashlib.sha256()
    digest.update(f"{PROTOCOL}\0{sys.executable}\0{sys.version}\0".encode())
    for name in ("pyproject.toml",):
        with contextlib.suppress(OSError):
            stat = (PACKAGE_ROOT / name).stat()
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for tree in ("services", "shared"):
        for folder, dirs, files in os.walk(PACKAGE_ROOT / tree):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in sorted(files):
                if file.endswith(".py"):
                    path = os.path.join(folder, file)
                    with contextlib.suppress(OSError):
                        stat = os.stat(path)
                        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:20]


def private_dir(path: Path) -> Path:
    """`path` created 0700 if missing; DaemonError if it is not a directory of this user's
    that only this user can enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    stat = path.stat()
    if stat.st_uid != os.getuid():
        raise DaemonError(f"{path} belongs to another user")
    if stat.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def socket_path(directory: Path, code: str) -> Path:
    """The socket of the daemon running code `code`."""
    return directory / f"daemon-{code}.sock"


# --- frames ----------------------------------------------------------------------------------


def send_frame(sock: socket.socket, message: Mapping[str, Any]) -> None:
    """One message as a length-prefixed JSON frame."""
    body = json.dumps(message).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def recv_frame(sock: socket.socket) -> dict[str, Any]:
    """One length-prefixed JSON object; DaemonError if it is cut short, too big or not one."""
    size = struct.unpack(">I", _recv_exact(sock, 4))[0]
    if size > MAX_FRAME:
        raise DaemonError(f"frame of {size} bytes is over the limit of {MAX_FRAME}")
    try:
        message = json.loads(_recv_exact(sock, size))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DaemonError(f"frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise DaemonError("frame is not a JSON object")
    return message


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes; DaemonError if the peer closes first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise DaemonError("connection closed mid-frame")
        chunks += chunk
    return bytes(chunks)


# --- the client ------------------------------------------------------------------------------


def _connect(path: Path, timeout: float | None) -> socket.socket:
    """A socket connected to the daemon at `path`; OSError if none listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(str(path))
        sock.settimeout(timeout)
    except OSError:
        sock.close()
        raise
    return sock


def _send(sock: socket.socket, message: Mapping[str, Any]) -> None:
    """send_frame to a connected daemon; DaemonError if it went away."""
    try:
        send_frame(sock, message)
    except (ConnectionError, struct.error) as exc:
        raise DaemonError(f"the daemon went away: {exc}") from None


def _receive(sock: socket.socket) -> dict[str, Any]:
    """recv_frame from a connected daemon; DaemonError if it went away."""
    try:
        return recv_frame(sock)
    except (ConnectionError, struct.error) as exc:
        raise DaemonError(f"the daemon went away: {exc}") from None


def call(path: Path, message: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Send one request and return the answer. OSError if no daemon listens at `path`,
    DaemonError if it went away before answering."""
    with _connect(path, timeout) as sock:
        _send(sock, message)
        return _receive(sock)


def status(directory: Path, code: str | None = None) -> dict[str, Any] | None:
    """The running daemon's status, or None when none answers at this code's socket."""
    code = code or fingerprint()
    try:
        answer = call(socket_path(directory, code), {"op": "status"}, timeout=10)
    except (OSError, DaemonError):
        return None
    return answer if "pid" in answer else None


def running(directory: Path) -> list[Path]:
    """The sockets of every daemon under `directory` that answers, of any code."""
    found = []
    for path in sorted(directory.glob("daemon-*.sock")):
        with contextlib.suppress(OSError, DaemonError):
            if "pid" in call(path, {"op": "status"}, timeout=10):
                found.append(path)
    return found


def spawn(log: Path) -> int:
    """Start a daemon in the background, detached from this terminal and session, its output
    appended to `log`; its pid. It exits at once if one is already running or starting."""
    import subprocess

    from services.cli.environment import child_environment

    private_dir(log.parent)
    with open(log, "ab") as out:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "services.cli", "daemon", "run"],
            cwd=PACKAGE_ROOT,
            env=child_environment(renders=True),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    return child.pid


def run_remote(
    directory: Path,
    log: Path,
    argv: list[str],
    environ: Mapping[str, str],
    stdin: bytes | None,
) -> int | None:
    """Run `autopilot ARGV` in the daemon, printing its output as it comes; its exit code.
    None when this run should happen in this process: no daemon answered (one is started for
    the next run), it refused, or it went away mid-request (said once on stderr)."""
    code = fingerprint()
    request = {
        "op": "run",
        "protocol": PROTOCOL,
        "fingerprint": code,
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(environ),
        "stdin": None if stdin is None else base64.b64encode(stdin).decode(),
        "tty": [_isatty(sys.stdout), _isatty(sys.stderr)],
        "umask": _umask(),
    }
    try:
        sock = _connect(socket_path(private_dir(directory), code), None)
    except DaemonError as exc:
        print(f"autopilot: the daemon failed ({exc}); running in this process", file=sys.stderr)
        return None
    except OSError:
        try:
            spawn(log)
        except (OSError, DaemonError) as exc:
            print(
                f"autopilot: cannot start the daemon ({exc}); running in this process",
                file=sys.stderr,
            )
        return None
    printed = False
    with sock:
        try:
            _send(sock, request)
            while (answer := _receive(sock)).get("stream") in ("stdout", "stderr"):
                # Writing to our own output may fail (a closed pipe): that is not the
                # daemon's failure, and main() answers it as it would in process.
                stream = sys.stdout if answer["stream"] == "stdout" else sys.stderr
                stream.write(str(answer.get("data", "")))
                stream.flush()
                printed = True
        except DaemonError as exc:
            again = " again" if printed else ""
            print(
                f"autopilot: the daemon failed ({exc}); running{again} in this process",
                file=sys.stderr,
            )
            return None
    if "error" in answer or not isinstance(answer.get("code"), int):
        message = answer.get("error", "no exit code in the answer")
        print(
            f"autopilot: the daemon refused ({message}); running in this process", file=sys.stderr
        )
        return None
    return int(answer["code"])


def _umask() -> int:
    """This process's umask (reading it means setting it; set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _isatty(stream: Any) -> bool:
    """Whether a stream is a terminal (False for anything that cannot say)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# --- the daemon ------------------------------------------------------------------------------


class _Stream(io.TextIOBase):
    """The client's stdout or stderr: each write goes to it as a frame, in order with the
    other stream's; it says whether the client's stream is a terminal. After the client has
    gone, writes are dropped (the daemon is exiting)."""

    def __init__(self, name: str, tty: bool, send: Callable[[Mapping[str, Any]], None]) -> None:
        """A stream sending `{"stream": name, "data": ...}` frames through send."""
        super().__init__()
        self.name = name
        self._tty = tty
        self._send = send

    def write(self, text: str) -> int:
        """Send the text now (an empty write sends nothing)."""
        if text:
            with contextlib.suppress(OSError):
                self._send({"stream": self.name, "data": text})
        return len(text)

    def writable(self) -> bool:
        """A stream to write to."""
        return True

    def isatty(self) -> bool:
        """What the client's stream is."""
        return self._tty


class Daemon:
    """The listening socket and the one-request-at-a-time runner."""

    def __init__(self, directory: Path, idle: float) -> None:
        """A daemon for this code under `directory`, exiting after `idle` seconds without work."""
        self.directory = private_dir(directory)
        self.code = fingerprint()
        self.path = socket_path(self.directory, self.code)
        self.idle = idle
        self.lock = threading.Lock()
        self.started = time.time()
        self.last = time.monotonic()
        self.served = 0
        self.stopping = threading.Event()
        self.connections = threading.Condition()
        self.open = 0  # connections accepted and not yet answered

    def serve(self) -> int:
        """Warm up, listen, answer until idle or stopped; 0, or 1 if another daemon of this
        code is already running or starting."""
        global IN_DAEMON  # noqa: PLW0603 - one flag for the whole process
        import fcntl

        lock_fd = os.open(self.path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        lock_file = os.fdopen(lock_fd, "w")  # held for the daemon's life
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _log("another daemon of this code is running or starting; exiting")
            return 1
        IN_DAEMON = True
        _warm_up()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        server.listen(16)
        server.settimeout(0.5)
        self.last = time.monotonic()
        _log(f"pid {os.getpid()} listening on {self.path} (idle exit after {self.idle:g}s)")
        self.stop_older()
        try:
            while not self.stopping.is_set():
                if not self.lock.locked() and time.monotonic() - self.last > self.idle:
                    _log("idle; exiting")
                    break
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with self.connections:
                    self.open += 1
                threading.Thread(target=self._connection, args=(conn,), daemon=True).start()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            server.close()
            with self.connections:  # every accepted request is answered before the end
                self.connections.wait_for(lambda: self.open == 0, timeout=600)
            lock_file.close()
        return 0

    def _connection(self, conn: socket.socket) -> None:
        """Answer one connection, then count it as closed."""
        try:
            self._reply(conn)
        finally:
            with self.connections:
                self.open -= 1
                self.connections.notify_all()

    def _reply(self, conn: socket.socket) -> None:
        """Read one request and answer it; any failure is answered as {"error": ...}."""
        with conn:
            conn.settimeout(30)
            try:
                _same_user(conn)
                request = recv_frame(conn)
                conn.settimeout(None)
                answer = self._answer(request, _Sender(conn))
            except (DaemonError, struct.error, TimeoutError) as exc:
                answer = {"error": f"bad request: {exc}"}
            except Exception as exc:  # noqa: BLE001 - a client gets a line, never a traceback
                _log(f"request failed: {type(exc).__name__}: {exc}")
                answer = {"error": f"internal error: {type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                send_frame(conn, answer)

    def _answer(self, request: dict[str, Any], send: _Sender) -> dict[str, Any]:
        """The answer to one well-formed frame (a run's output goes through send first)."""
        op = request.get("op")
        if op == "status":
            return self.describe()
        if op == "stop":
            self.stopping.set()
            return {"stopped": True, "pid": os.getpid()}
        if op != "run":
            raise DaemonError(f"unknown op {op!r} (status, stop or run)")
        if request.get("fingerprint") != self.code:
            return {"error": "stale: the client's code differs from this daemon's"}
        argv, cwd, env, stdin, tty = _checked(request)
        umask = request.get("umask")
        with self.lock:
            self.last = time.monotonic()
            old = os.umask(umask if isinstance(umask, int) and 0 <= umask <= 0o777 else 0o022)
            watch = _Watch(send.conn, self.path)
            try:
                return run_request(argv, cwd, env, stdin, tty, send)
            finally:
                watch.done()
                os.umask(old)
                self.served += 1
                self.last = time.monotonic()

    def describe(self) -> dict[str, Any]:
        """pid, socket, fingerprint, uptime, requests served, busy, idle timeout."""
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "fingerprint": self.code,
            "uptimeSeconds": round(time.time() - self.started, 1),
            "served": self.served,
            "busy": self.lock.locked(),
            "idleTimeoutSeconds": self.idle,
            "code": str(PACKAGE_ROOT),
            "python": sys.executable,
        }

    def stop_older(self) -> None:
        """Stop the daemons of this same install (package folder and interpreter) that run
        older code: no client of this tree will reach them again, and they would otherwise
        hold their memory until their idle timeout."""
        for path in self.directory.glob("daemon-*.sock"):
            if path == self.path:
                continue
            with contextlib.suppress(OSError, DaemonError):
                other = call(path, {"op": "status"}, timeout=10)
                mine = other.get("code") == str(PACKAGE_ROOT)
                if mine and other.get("python") == sys.executable:
                    call(path, {"op": "stop"}, timeout=10)
                    _log(f"stopped daemon {other.get('pid')} of older code")


class _Sender:
    """Frames to one client, sent whole even when two threads write (a progress spinner)."""

    def __init__(self, conn: socket.socket) -> None:
        """Frames go to conn."""
        self.conn = conn
        self.lock = threading.Lock()

    def __call__(self, message: Mapping[str, Any]) -> None:
        """Send one frame."""
        with self.lock:
            send_frame(self.conn, message)


class _Watch:
    """While a run is going, a thread waits on the client's side of the socket: the client
    sends nothing after its request, so the socket becomes readable only when it goes away
    (Ctrl-C, a closed pipe). The daemon then exits at once, as Ctrl-C ends an in-process run;
    a half-done run leaves no state behind in a warm process that a later run would reuse."""

    def __init__(self, conn: socket.socket, path: Path) -> None:
        """Start watching conn; the daemon's socket file is path."""
        self._conn = conn
        self._path = path
        self._running = True
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._wait, name="client-watch", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        import select

        try:
            readable, _, _ = select.select([self._conn.fileno(), self._wake_read], [], [])
        except (OSError, ValueError):
            return
        with self._lock:
            if not self._running or self._conn.fileno() not in readable:
                return
            _log("the client went away mid-run; exiting (the next client starts a new daemon)")
            with contextlib.suppress(OSError):
                self._path.unlink()
            os._exit(130)

    def done(self) -> None:
        """The run ended: stop watching (before the connection closes)."""
        with self._lock:
            self._running = False
        os.write(self._wake_write, b"x")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)


def _same_user(conn: socket.socket) -> None:
    """DaemonError unless the peer runs as this user (the 0700 folder and the 0600 socket
    already keep others out; this holds where SO_PEERCRED exists even if they were changed)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, 12))
    if uid != os.getuid():
        raise DaemonError(f"uid {uid} is not this daemon's user")


def _checked(
    request: dict[str, Any],
) -> tuple[list[str], str, dict[str, str], bytes | None, tuple[bool, bool]]:
    """The run request's fields, type-checked; DaemonError naming the first bad one."""
    argv, cwd, env = request.get("argv"), request.get("cwd"), request.get("env")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not argv:
        raise DaemonError("argv must be a non-empty list of strings")
    if argv[0] != "generate":
        raise DaemonError("the daemon runs `generate` only")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise DaemonError("cwd must be an absolute path")
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise DaemonError("env must map strings to strings")
    raw = request.get("stdin")
    try:
        stdin = None if raw is None else base64.b64decode(str(raw), validate=True)
    except ValueError:
        raise DaemonError("stdin must be base64") from None
    tty = request.get("tty", [False, False])
    if not (isinstance(tty, list) and len(tty) == 2 and all(isinstance(t, bool) for t in tty)):
        raise DaemonError("tty must be two booleans (stdout, stderr)")
    return argv, cwd, env, stdin, (tty[0], tty[1])


def run_request(
    argv: list[str],
    cwd: str,
    env: Mapping[str, str],
    stdin: bytes | None,
    tty: tuple[bool, bool],
    send: Callable[[Mapping[str, Any]], None],
) -> dict[str, Any]:
    """Run `autopilot ARGV` as the in-process CLI does, in `cwd` with `env` (restored after),
    its stdout and stderr sent through `send` as written: {"code"}."""
    from services.cli.environment import request_environment
    from services.cli.main import main

    out, err = _Stream("stdout", tty[0], send), _Stream("stderr", tty[1], send)
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    here = os.getcwd()
    saved = sys.stdin, sys.stdout, sys.stderr
    try:
        os.chdir(cwd)
    except OSError as exc:
        err.write(f"error: cannot enter {cwd}: {exc}\n")
        return {"code": 2}
    try:
        with request_environment(env):
            sys.stdin, sys.stdout, sys.stderr = stdin_stream, out, err
            try:
                code: Any = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
            except BaseException:  # noqa: BLE001 - AUTOPILOT_DEBUG=1 re-raises: show it as Python would
                import traceback

                err.write(traceback.format_exc())
                code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(here)
    return {"code": int(code)}


def _warm_up() -> None:
    """Import what `generate` runs and set checkov up, as a warm service has them."""
    import importlib

    from services.validator import security

    for module in WARM_MODULES:
        importlib.import_module(module)
    security.warm_up()


def _log(message: str) -> None:
    """One timestamped line in the daemon's log (its stderr)."""
    stream = sys.__stderr__ or sys.stderr
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with contextlib.suppress(OSError, ValueError):
        stream.write(f"{stamp} autopilot daemon: {message}\n")
        stream.flush()
