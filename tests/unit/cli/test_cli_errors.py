"""Every `autopilot` failure a user can cause is one line and a distinct exit code, never a
traceback: 2 bad input, 3 unavailable or internal; --json errors are JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from services.cli.main import main
from shared.infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "examples" / "queue-worker.yaml"
BROKEN_SPEC = b"name: x\ncomponents:\n  - name: a\n   image: x\n"


def one_line(text: str) -> str:
    text = text.strip()
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_missing_standards_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["generate", str(SPEC), "-o", str(tmp_path), "--yes", "--standards", "nope.yml"])
    assert code == 2
    assert one_line(capsys.readouterr().err) == "error: --standards: no such file: nope.yml"


def test_a_yaml_error_in_a_standards_file_names_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "std.yaml").write_text("foo: [\n")
    code = main(
        [
            "generate",
            str(SPEC),
            "-o",
            str(tmp_path / "o"),
            "--yes",
            "--standards",
            str(tmp_path / "std.yaml"),
        ]
    )
    assert code == 2
    err = one_line(capsys.readouterr().err)
    assert f"--standards {tmp_path / 'std.yaml'}: not valid YAML at line 2" in err


@pytest.mark.parametrize("verb", ["generate", "plan", "submit"])
def test_a_yaml_syntax_error_is_reported_with_line_and_column(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "spec.yaml"
    src.write_bytes(BROKEN_SPEC)
    argv = {
        "generate": ["generate", str(src), "-o", str(tmp_path / "o"), "--yes"],
        "plan": ["plan", str(src)],
        # No gateway listens there: the file is checked before anything is sent.
        "submit": [
            "submit",
            str(src),
            "-o",
            str(tmp_path / "o"),
            "--gateway",
            f"http://127.0.0.1:{free_port()}",
        ],
    }[verb]
    assert main(argv) == 2
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"error: {src}: not valid YAML at line 4, column 4"), err
    assert "model" not in err


def test_json_errors_are_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "spec.yaml"
    src.write_bytes(BROKEN_SPEC)
    assert main(["generate", str(src), "-o", str(tmp_path / "o"), "--yes", "--json"]) == 2
    out = capsys.readouterr()
    error = json.loads(out.out)["error"]
    assert error["exitCode"] == 2 and error["field"] == str(src)
    assert "line 4, column 4" in error["message"]
    assert main(["get", "x", "-o", "json", "--gateway", f"http://127.0.0.1:{free_port()}"]) == 3
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "unavailable"


def test_an_internal_error_exits_3_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(args: object) -> int:
        raise RuntimeError("something inside broke")

    monkeypatch.setattr("services.cli.commands.schema.run", boom)
    monkeypatch.delenv("AUTOPILOT_DEBUG", raising=False)
    assert main(["schema"]) == 3
    err = one_line(capsys.readouterr().err)
    assert "internal error: RuntimeError: something inside broke" in err


def test_submit_to_an_unreachable_gateway_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    gateway = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", str(SPEC), "-o", str(tmp_path), "--gateway", gateway]) == 3
    assert time.monotonic() - start < 5
    err = one_line(capsys.readouterr().err)
    assert err.startswith(f"error: gateway {gateway} cannot be reached")


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """A server that records request paths and answers 401 with a JSON detail."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            paths.append(self.path)
            body = json.dumps({"detail": "missing API key"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", paths
    finally:
        server.shutdown()


def test_submit_accepts_a_gateway_url_ending_in_v1_and_says_what_it_answered(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    recording_server: tuple[str, list[str]],
) -> None:
    url, paths = recording_server
    assert main(["submit", str(SPEC), "-o", str(tmp_path), "--gateway", url + "/v1/"]) == 2
    assert paths == ["/v1/workflows"]
    assert one_line(capsys.readouterr().err) == "error: input: 401 missing API key"


def test_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -1` that has already gone: every write meets EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_up_refuses_a_bad_or_taken_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["up", "--port", "99999", "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["up", "--port", str(port), "--data-dir", str(tmp_path)]) == 3
    assert f"port {port} is in use" in one_line(capsys.readouterr().err.splitlines()[-1])
    assert not (tmp_path / "nats").exists()


def test_migrate_against_an_unreachable_database_is_unavailable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOPILOT_DATABASE_URL", f"postgresql://x@127.0.0.1:{free_port()}/x")
    assert main(["migrate"]) == 3
    assert "the database cannot be reached" in one_line(capsys.readouterr().err)
