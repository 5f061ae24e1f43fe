"""The warm daemon behind `generate --yes --daemon` / AUTOPILOT_DAEMON=1 (issue 12, figure b):
the same output as the in-process run, the client's cwd and environment, a private socket,
no stale daemon, errors for bad frames, stop/status, idle exit and the in-process fallback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import daemon
from services.cli.environment import daemon_places
from services.cli.main import main
from services.cli.settings import CliSettings
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "examples" / "shop.yaml"
SENTRY = ROOT / "tests" / "fixtures" / "realworld" / "sentry-self-hosted" / "docker-compose.yml"
"""57 services: seconds of work in the daemon, so a kill lands while it runs the request."""


def _short_dir(prefix: str) -> Path:
    """A fresh folder with a short path (a Unix socket path has at most 107 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def _environment(mp: pytest.MonkeyPatch, runtime: Path, cache: Path, idle: str = "") -> None:
    """The daemon's variables pointed at test folders; none of the caller's opt-ins."""
    mp.setenv("XDG_RUNTIME_DIR", str(runtime))
    mp.setenv("XDG_CACHE_HOME", str(cache))
    mp.delenv("AUTOPILOT_DAEMON", raising=False)
    mp.delenv("AUTOPILOT_MODEL", raising=False)
    if idle:
        mp.setenv("AUTOPILOT_DAEMON_IDLE", idle)
    else:
        mp.delenv("AUTOPILOT_DAEMON_IDLE", raising=False)


def _kill_all(directory: Path) -> None:
    """Stop every daemon under `directory`, and kill any that does not go."""
    for path in directory.glob("daemon-*.sock"):
        try:
            pid = daemon.call(path, {"op": "status"}, timeout=5)["pid"]
            daemon.call(path, {"op": "stop"}, timeout=5)
        except (OSError, KeyError, daemon.DaemonError):
            continue
        deadline = time.monotonic() + 20
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if path.exists() and isinstance(pid, int) and pid > 1 and pid != os.getpid():
            os.kill(pid, 9)


@pytest.fixture(scope="module")
def warm() -> Iterator[Path]:
    """One daemon for the module, started with `autopilot daemon start`; stopped at the end."""
    runtime, cache = _short_dir("apd"), _short_dir("apc")
    with pytest.MonkeyPatch.context() as mp:
        _environment(mp, runtime, cache)
        assert main(["daemon", "start"]) == 0
        try:
            yield runtime / "autopilot"
        finally:
            _kill_all(runtime / "autopilot")
            shutil.rmtree(runtime, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture
def client(warm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's environment pointed at the module's daemon; its socket folder. The client
    takes the daemon's fingerprint: others editing this tree meanwhile would change it."""
    _environment(monkeypatch, warm.parent, tmp_path)
    sockets = daemon.running(warm)
    assert len(sockets) == 1
    code = sockets[0].name.removeprefix("daemon-").removesuffix(".sock")
    monkeypatch.setattr(daemon, "fingerprint", lambda: code)
    return warm


def _served(directory: Path) -> int:
    """How many requests the daemon of this code has run."""
    current = daemon.status(directory)
    assert current is not None
    return int(current["served"])


def _masked(text: str) -> str:
    """Output without what differs between two runs: step timings."""
    return re.sub(r" *\d+(\.\d+)? ?m?s\b", " T", text)


def test_daemon_output_equals_the_in_process_run(
    client: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Same stdout, stderr (timings aside), exit code, files and modes as in process."""
    monkeypatch.chdir(tmp_path)  # -o is relative: the client's cwd, not the daemon's
    before = _served(client)
    code = main(["generate", str(SHOP), "-o", "out", "--yes", "--daemon"])
    via = capsys.readouterr()
    assert _served(client) == before + 1
    inproc = main(["generate", str(SHOP), "-o", "out2", "--yes"])
    here = capsys.readouterr()
    assert code == inproc == 0
    assert _masked(via.out).replace("out/", "out2/") == _masked(here.out)
    assert _masked(via.err) == _masked(here.err)
    a, b = tmp_path / "out" / "shop", tmp_path / "out2" / "shop"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        assert (a / rel).stat().st_mode == (b / rel).stat().st_mode, rel  # the client's umask


def test_compose_variables_and_cwd_are_the_clients(
    client: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """${VAR} comes from the client's environment, a relative -o from its cwd."""
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx:${WEB_TAG}\n    ports: ['8080:80']\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEB_TAG", "1.27.9-from-client")
    monkeypatch.setenv("AUTOPILOT_DAEMON", "1")
    before = _served(client)
    code = main(["generate", "compose.yaml", "-o", "charts", "--yes", "--json"])
    out = capsys.readouterr().out
    assert code in (0, 1) and _served(client) == before + 1
    chart = tmp_path / json.loads(out)["chart"]  # relative, as the client's cwd has it
    assert chart.parent == tmp_path / "charts" and chart.is_dir()
    assert "1.27.9-from-client" in (chart / "values.yaml").read_text()


def test_stdin_input_goes_with_the_request(
    client: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`generate -` sends stdin's bytes to the daemon."""
    import io

    data = SHOP.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    monkeypatch.chdir(tmp_path)
    before = _served(client)
    assert main(["generate", "-", "--name", "shop", "-o", "o", "--yes", "--daemon", "-q"]) == 0
    assert _served(client) == before + 1
    assert (tmp_path / "o" / "shop" / "Chart.yaml").is_file()
    capsys.readouterr()


def test_the_client_imports_no_yaml_models_or_engines(client: Path, tmp_path: Path) -> None:
    """A daemon-served run loads no YAML, models, engines, checkov or Helm in the client."""
    import subprocess

    before = _served(client)
    # The cache folder cannot be made (it would be under a file), so a client that finds no
    # daemon of its code (another engineer edited the tree meanwhile) cannot start a new one,
    # which would stop the module's daemon as older code.
    (tmp_path / "file").write_text("")
    cache = str(tmp_path / "file" / "cache")
    env = {**os.environ, "AUTOPILOT_DAEMON": "1", "XDG_CACHE_HOME": cache}
    argv = ["generate", str(SHOP), "-o", str(tmp_path / "out"), "--yes", "-q"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "services.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _served(client) > before, (
        "the daemon did not serve the run (the tree changed under it, so its fingerprint "
        "differs: rerun on a tree nobody is editing)"
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "services.cli.daemon" in imported  # the probe saw the client's imports
    heavy = (
        *("yaml", "checkov", "helm_python", "shared.models"),
        *("services.planner", "services.generator", "services.validator"),
    )
    assert not {m for m in imported if m.startswith(heavy)}


def test_socket_is_private(client: Path) -> None:
    """The socket is 0600 in a 0700 folder."""
    path = daemon.socket_path(client, daemon.fingerprint())
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(client.stat().st_mode) == 0o700


def _raw(path: Path, payload: bytes) -> dict[str, object]:
    """Send raw bytes and read the answer frame."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        answer: dict[str, object] = daemon.recv_frame(sock)
        return answer


def _frame(body: bytes) -> bytes:
    """A length-prefixed frame of `body`."""
    return struct.pack(">I", len(body)) + body


def test_bad_frames_get_an_error_not_a_traceback(client: Path) -> None:
    """Oversized, cut, non-JSON or ill-typed frames get a one-line error; the daemon serves on."""
    path = daemon.socket_path(client, daemon.fingerprint())
    answers = [
        _raw(path, struct.pack(">I", daemon.MAX_FRAME + 1)),
        _raw(path, _frame(b"{not json")),
        _raw(path, _frame(b"[1, 2]")),
        _raw(path, _frame(b'{"op": "dance"}')),
        _raw(path, b"\x00\x00"),
        _raw(
            path,
            _frame(
                json.dumps({"op": "run", "fingerprint": daemon.fingerprint(), "argv": 3}).encode()
            ),
        ),
        _raw(
            path,
            _frame(
                json.dumps(
                    {
                        "op": "run",
                        "fingerprint": daemon.fingerprint(),
                        "argv": ["generate", "x"],
                        "cwd": "relative",
                        "env": {},
                    }
                ).encode()
            ),
        ),
    ]
    for answer in answers:
        assert "bad request" in str(answer.get("error")), answer
        assert "Traceback" not in str(answer)
    assert "over the limit" in str(answers[0]["error"])
    assert daemon.status(client) is not None  # still serving


def test_a_stale_fingerprint_is_not_used(
    client: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A daemon refuses another code's request; a client of other code never reaches it."""
    code = daemon.fingerprint()
    path = daemon.socket_path(client, code)
    request = {"op": "run", "fingerprint": "0" * 20, "argv": ["generate", "x"], "cwd": "/"}
    assert "stale" in str(daemon.call(path, request, timeout=30).get("error"))
    # A client of other code looks for another socket, and starts its own daemon.
    before = _served(client)
    spawned: list[Path] = []
    monkeypatch.setattr(daemon, "fingerprint", lambda: "f" * 20)
    monkeypatch.setattr(daemon, "spawn", spawned.append)
    answer = daemon.run_remote(client, client / "log", ["generate", str(SHOP)], {}, None)
    assert answer is None and len(spawned) == 1
    assert daemon.call(daemon.socket_path(client, code), {"op": "status"})["served"] == before
    capsys.readouterr()


def test_falls_back_in_process_when_the_daemon_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A daemon that goes away without answering: said once, run in process."""
    runtime = _short_dir("apd")
    _environment(monkeypatch, runtime, tmp_path)
    directory = daemon.private_dir(CliSettings().daemon_dir)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(daemon.socket_path(directory, daemon.fingerprint())))
    server.listen(1)

    def die() -> None:
        """Take the request and go away without answering, as a killed daemon does."""
        conn, _ = server.accept()
        with conn:
            conn.recv(1 << 16)

    thread = threading.Thread(target=die, daemon=True)
    thread.start()
    try:
        monkeypatch.chdir(tmp_path)
        code = main(["generate", str(SHOP), "-o", "out", "--yes", "--daemon", "-q"])
    finally:
        thread.join(10)
        server.close()
        shutil.rmtree(runtime, ignore_errors=True)
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "out" / "shop" / "Chart.yaml").is_file()
    assert err.count("running in this process") == 1


def test_without_the_opt_in_no_daemon_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --daemon or AUTOPILOT_DAEMON=1, no --yes, or --model: in process."""
    import argparse

    from services.cli.commands import generate

    _environment(monkeypatch, tmp_path, tmp_path)
    monkeypatch.setattr(daemon, "run_remote", lambda *a: pytest.fail("asked the daemon"))
    base = {"input": str(SHOP), "yes": True, "model": None, "daemon": False, "cli_argv": ["x"]}
    assert generate._via_daemon(argparse.Namespace(**base)) is None
    monkeypatch.setenv("AUTOPILOT_DAEMON", "1")
    for change in ({"yes": False}, {"model": "openai:gpt-4.1"}):
        assert generate._via_daemon(argparse.Namespace(**{**base, **change})) is None


def _run_request(argv: list[str], cwd: Path, code: str) -> dict[str, object]:
    """A run request as the client sends it, its stderr said to be a terminal."""
    return {
        "op": "run",
        "protocol": daemon.PROTOCOL,
        "fingerprint": code,
        "argv": argv,
        "cwd": str(cwd),
        "env": dict(os.environ),
        "stdin": None,
        "tty": [False, True],
        "umask": 0o022,
    }


def test_output_streams_while_the_run_goes_on(client: Path, tmp_path: Path) -> None:
    """The first step's line reaches the client while the daemon is still busy with the run;
    the frames are the run's writes in order, then the exit code."""
    path = daemon.running(client)[0]
    code = daemon.fingerprint()
    argv = ["generate", str(SENTRY), "-o", str(tmp_path / "out"), "--yes"]
    frames: list[dict[str, object]] = []
    busy_after_first_line = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        daemon.send_frame(sock, _run_request(argv, tmp_path, code))
        while True:
            frame = daemon.recv_frame(sock)
            frames.append(frame)
            if busy_after_first_line is None:
                busy_after_first_line = daemon.call(path, {"op": "status"}, timeout=10)["busy"]
            if "stream" not in frame:
                break
    assert busy_after_first_line is True
    assert frames[0] == {"stream": "stderr", "data": "  ... planning"}
    assert frames[-1].get("code") in (0, 1)
    assert all(set(f) == {"stream", "data"} for f in frames[:-1])
    err = "".join(str(f["data"]) for f in frames[:-1] if f["stream"] == "stderr")
    assert err.index("planning") < err.index("generating the chart") < err.index("validating")
    assert any(f["stream"] == "stdout" for f in frames[:-1])


def test_status_and_stop(client: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """status -o json, start when running, stop -o json, then status exits 3."""
    assert main(["daemon", "status", "-o", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True and status["fingerprint"] == daemon.fingerprint()
    assert main(["daemon", "start"]) == 0
    assert "already running" in capsys.readouterr().out
    assert main(["daemon", "stop", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stopped"] == [status["pid"]]
    assert main(["daemon", "status"]) == 3
    assert "no daemon running" in capsys.readouterr().out


def test_falls_back_in_process_when_a_real_daemon_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL mid-request: the client says so once and generates in process."""
    import signal

    runtime = _short_dir("apd")
    _environment(monkeypatch, runtime, tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["daemon", "start", "-o", "json"]) == 0
        pid = json.loads(capsys.readouterr().out)["pid"]
        path = daemon.running(CliSettings().daemon_dir)[0]
        code = path.name.removeprefix("daemon-").removesuffix(".sock")
        monkeypatch.setattr(daemon, "fingerprint", lambda: code)

        def kill_when_busy() -> None:
            """SIGKILL the daemon as soon as it is running the request."""
            while not finished.is_set():
                with contextlib.suppress(OSError, daemon.DaemonError):
                    if daemon.call(path, {"op": "status"}, timeout=5).get("busy"):
                        os.kill(pid, signal.SIGKILL)
                        return
                time.sleep(0.002)

        finished = threading.Event()
        killer = threading.Thread(target=kill_when_busy, daemon=True)
        killer.start()
        exit_code = main(["generate", str(SENTRY), "-o", "out", "--yes", "--daemon", "-q"])
        finished.set()
        killer.join(10)
        err = capsys.readouterr().err
        assert exit_code in (0, 1)  # written either way; 1 only if the chart failed validation
        assert list((tmp_path / "out").glob("*/Chart.yaml")), err
        assert err.count("running in this process") == 1
    finally:
        _kill_all(runtime / "autopilot")
        shutil.rmtree(runtime, ignore_errors=True)


class _OldDaemon:
    """A stand-in daemon of other code at its own socket: answers status, records stop."""

    def __init__(self, directory: Path, name: str, code: str) -> None:
        """Listen at daemon-NAME.sock, reporting package folder `code`."""
        self.ops: list[str] = []
        self.code = code
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(directory / f"daemon-{name}.sock"))
        self.server.listen(4)
        self.server.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        """Answer until closed."""
        while not self.done.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                op = str(daemon.recv_frame(conn).get("op"))
                self.ops.append(op)
                status = {"pid": 1, "code": self.code, "python": sys.executable}
                daemon.send_frame(conn, status)

    def close(self) -> None:
        """Stop answering."""
        self.done.set()
        self.thread.join(5)
        self.server.close()


def test_idle_daemon_exits_and_a_new_one_stops_older_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new daemon stops its install's older ones (not another tree's), and exits when idle."""
    runtime = _short_dir("apd")
    _environment(monkeypatch, runtime, tmp_path, idle="1")
    directory = daemon.private_dir(CliSettings().daemon_dir)
    older = _OldDaemon(directory, "0" * 20, str(daemon.PACKAGE_ROOT))
    other_tree = _OldDaemon(directory, "1" * 20, "/elsewhere")
    try:
        assert main(["daemon", "start", "-o", "json"]) == 0
        assert "stop" in older.ops and "stop" not in other_tree.ops
        deadline = time.monotonic() + 30
        while daemon.status(directory) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert daemon.status(directory) is None
        assert not daemon.socket_path(directory, daemon.fingerprint()).exists()
    finally:
        older.close()
        other_tree.close()
        _kill_all(runtime / "autopilot")
        shutil.rmtree(runtime, ignore_errors=True)


def _gone(pid: int) -> bool:
    """Whether process `pid` has exited (reaped here if it is this process's child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _own_daemon(capsys: pytest.CaptureFixture[str]) -> tuple[int, Path, str]:
    """Start a daemon in this test's environment: its pid, socket and fingerprint."""
    assert main(["daemon", "start", "-o", "json"]) == 0
    pid = json.loads(capsys.readouterr().out)["pid"]
    path = daemon.running(CliSettings().daemon_dir)[0]
    return pid, path, path.name.removeprefix("daemon-").removesuffix(".sock")


def test_a_client_that_goes_away_mid_run_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the client (its socket closes) ends the run as Ctrl-C ends one in process:
    the daemon exits before writing the chart, and the next client starts a fresh one."""
    runtime = _short_dir("apd")
    _environment(monkeypatch, runtime, tmp_path)
    try:
        pid, path, code = _own_daemon(capsys)
        out = tmp_path / "out"
        argv = ["generate", str(SENTRY), "-o", str(out), "--yes"]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            daemon.send_frame(sock, _run_request(argv, tmp_path, code))
            first = daemon.recv_frame(sock)  # planning has begun
        assert first == {"stream": "stderr", "data": "  ... planning"}
        eventually(lambda: _gone(pid), timeout=20, message="the daemon went on with the run")
        assert not path.exists()
        assert not out.exists(), "the 57-service run got as far as writing the chart"
        log = daemon_places()[2].read_text()
        assert "the client went away mid-run" in log
    finally:
        _kill_all(runtime / "autopilot")
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_closed_pipe_on_the_client_is_its_own_not_the_daemons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`autopilot generate ... | head -0`: the client stops quietly with 141, as in process; it
    neither blames the daemon nor runs the whole generation again in process."""
    import subprocess

    runtime = _short_dir("apd")
    _environment(monkeypatch, runtime, tmp_path)
    try:
        _pid, _path, code = _own_daemon(capsys)
        env = {**os.environ, "AUTOPILOT_DAEMON": "1"}
        argv = ["generate", str(SENTRY), "-o", str(tmp_path / "out"), "--yes"]
        client = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert client.stdout is not None
        client.stdout.close()  # the reader is gone before the first line
        _, err = client.communicate(timeout=300)
        assert daemon.fingerprint() == code, "the tree changed under the test: rerun it"
        assert client.returncode == 141, err.decode()[-2000:]
        assert b"running" not in err and b"daemon failed" not in err, err.decode()[-2000:]
    finally:
        _kill_all(runtime / "autopilot")
        shutil.rmtree(runtime, ignore_errors=True)
