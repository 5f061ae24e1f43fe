"""What a user reads after validating: checkov not run said so, one bad value reported once,
packaged charts accepted, plain logs, and no data left for git inside the checkout."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from services.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "examples" / "queue-worker.yaml"


@pytest.fixture(scope="module")
def broken_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated chart whose defaults break the values schema (one bad value)."""
    out = tmp_path_factory.mktemp("broken")
    assert main(["generate", str(SPEC), "-o", str(out), "--yes", "-q", "--json"]) == 0
    values = out / "thumbnailer" / "values.yaml"
    text = values.read_text()
    assert "  replicaCount: 1\n" in text
    values.write_text(text.replace("  replicaCount: 1\n", "  replicaCount: lots\n", 1))
    return out / "thumbnailer"


def test_checkov_that_did_not_run_says_so_and_why(
    broken_chart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(broken_chart), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["security"]["notRun"] == "the chart did not render with values.yaml"
    assert report["security"]["passRate"] == 0.0
    step = next(r for r in report["results"] if r["step"] == "checkov")
    assert not step["passed"] and [f["check"] for f in step["findings"]] == ["not-run"]
    assert main(["validate", str(broken_chart)]) == 1
    out = capsys.readouterr().out
    assert "checkov: did not run (the chart did not render with values.yaml)" in out
    assert "100.0%" not in out


def test_one_bad_value_is_reported_once_per_step_naming_every_values_set(
    broken_chart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["validate", str(broken_chart), "--json"])
    report = json.loads(capsys.readouterr().out)
    sets = ["values.yaml", *sorted(f"ci/{p.name}" for p in (broken_chart / "ci").iterdir())]
    assert len(sets) > 2
    for step in ("render", "values-schema"):
        findings = next(r for r in report["results"] if r["step"] == step)["findings"]
        assert len(findings) == 1, findings
        assert ", ".join(sets) in findings[0]["message"]
        assert "replicaCount" in findings[0]["message"]


def _package(chart: Path, tgz: Path, extra: tarfile.TarInfo | None = None) -> None:
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(chart, arcname=chart.name)
        if extra is not None:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size))


def test_validate_accepts_a_packaged_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(SPEC), "-o", str(tmp_path), "--yes", "-q"]) == 0
    tgz = tmp_path / "thumbnailer-0.1.0.tgz"
    _package(tmp_path / "thumbnailer", tgz)
    capsys.readouterr()
    assert main(["validate", str(tgz)]) == 0
    out = capsys.readouterr().out
    assert f"validated {tgz}" in out and "validation passed" in out


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "thumbnailer/../../evil"])
def test_validate_refuses_an_archive_that_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    chart = tmp_path / "c" / "thumbnailer"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: thumbnailer\nversion: 0.1.0\n")
    evil = tarfile.TarInfo(name)
    evil.size = 1
    tgz = tmp_path / "evil.tgz"
    _package(chart, tgz, evil)
    assert main(["validate", str(tgz)]) == 2
    assert "outside the chart" in capsys.readouterr().err
    assert not (tmp_path / "evil.txt").exists()


def test_validate_refuses_links_in_an_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "c" / "thumbnailer"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: thumbnailer\nversion: 0.1.0\n")
    link = tarfile.TarInfo("thumbnailer/values.yaml")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    tgz = tmp_path / "link.tgz"
    _package(chart, tgz, link)
    assert main(["validate", str(tgz)]) == 2
    assert "link or special file" in capsys.readouterr().err


def test_service_logs_to_a_file_carry_no_colour_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    from faststream._internal.logger.formatter import ColourizedFormatter

    from shared.logs import plain_logs

    monkeypatch.setenv("NO_COLOR", "1")
    plain_logs()
    formatter = ColourizedFormatter(fmt="%(levelname)s %(message)s", use_colors=True)
    record = logging.LogRecord("faststream", logging.INFO, __file__, 1, "hello", None, None)
    assert formatter.format(record) == "INFO hello"
    for handler in logging.getLogger("faststream").handlers:
        assert not getattr(handler.formatter, "use_colors", False)


def test_every_entry_point_logs_through_one_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.logs
    from shared.logs import FORMAT, configure

    calls: list[dict[str, object]] = []
    plain: list[bool] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(shared.logs, "plain_logs", lambda: plain.append(True))
    monkeypatch.setenv("AUTOPILOT_LOG_LEVEL", "debug")
    monkeypatch.setenv("NO_COLOR", "1")
    configure()
    assert calls == [{"level": "DEBUG", "format": FORMAT}] and plain == [True]
    monkeypatch.delenv("AUTOPILOT_LOG_LEVEL")
    configure()
    assert calls[-1]["level"] == "INFO"
    root = Path(__file__).resolve().parents[3]
    callers = [
        str(path.relative_to(root))
        for folder in ("services", "shared")
        for path in (root / folder).rglob("*.py")
        if re.search(r"^\s*logging\.basicConfig\(", path.read_text(encoding="utf-8"), re.M)
    ]
    assert callers == ["shared/logs.py"]


def test_up_data_is_kept_out_of_the_checkout_and_of_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import default_data_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "autopilot"
    for path in ("data/aes.key", "data/postgres/PG_VERSION", ".autopilot-data/aes.key"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
