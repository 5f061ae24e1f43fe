"""The `autopilot` command: exit codes, stdin, JSON output, schema, bad input."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from services.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "examples" / "queue-worker.yaml"


def test_generate_from_stdin_writes_one_chart_and_reports_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SPEC.read_bytes())))
    assert main(["generate", "-", "-o", str(tmp_path), "--yes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputKind"] == "requirements"
    assert out["report"]["passed"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["thumbnailer"]
    assert "Chart.yaml" in out["written"]


def test_generate_without_yes_and_no_terminal_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.open", _no_tty(open))
    assert main(["generate", str(SPEC), "-o", str(tmp_path)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _no_tty(real_open):  # type: ignore[no-untyped-def]
    def fake(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if path == "/dev/tty":
            raise OSError("no tty")
        return real_open(path, *args, **kwargs)

    return fake


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01junk", "binary"),
        (
            b"name: x\ncomponents: [{name: a, image: 'x:1', replicas: lots}]\n",
            "components.0.replicas",
        ),
        (b"services:\n  web:\n    image: nginx\n    ports: 5\n", "services.web.ports"),
        (b"services: {}\nvolumes: {}\nbogus: 1\n", "bogus"),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, needle: str
) -> None:
    src = tmp_path / "in.yaml"
    src.write_bytes(content)
    out = tmp_path / "out"
    assert main(["generate", str(src), "-o", str(out), "--yes"]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_validate_exits_1_on_a_broken_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(SPEC), "-o", str(tmp_path), "--yes"]) == 0
    chart = tmp_path / "thumbnailer"
    assert main(["validate", str(chart)]) == 0
    deployment = chart / "templates" / "worker" / "deployment.yaml"
    deployment.write_text(deployment.read_text() + "\n{{- end }}\n")  # an unmatched end
    capsys.readouterr()
    assert main(["validate", str(chart), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False


def test_validate_refuses_a_non_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert "Chart.yaml" in capsys.readouterr().err


def test_regenerate_keeps_user_edits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", str(SPEC), "-o", str(tmp_path), "--yes"]) == 0
    values = tmp_path / "thumbnailer" / "values.yaml"
    values.write_text(values.read_text() + "\n# my edit\n")
    assert main(["generate", str(SPEC), "-o", str(tmp_path), "--yes"]) == 0
    assert "# my edit" in values.read_text()
    assert "kept your edit of values.yaml" in capsys.readouterr().out


def test_schema_prints_the_native_spec_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "ChartRequirements" and "components" in schema["properties"]


def test_plan_prints_decisions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    compose = tmp_path / "gitea" / "compose.yaml"
    compose.parent.mkdir()
    shutil.copy(ROOT / "examples" / "compose" / "gitea-postgres.yaml", compose)
    assert main(["plan", str(compose), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["name"] == "gitea"
    assert {d["topic"] for d in plan["decisions"]} >= {"workload", "replicas", "networkPolicy"}


def test_submit_calls_retry_while_the_gateway_is_briefly_away() -> None:
    import httpx

    from services.cli.commands.submit import call

    answers = iter(
        [httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True})]
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return next(answers)

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://gw") as client:
        assert call(client, "GET", "/v1/workflows/x").json() == {"ok": True}
    assert seen == ["/v1/workflows/x"] * 3
