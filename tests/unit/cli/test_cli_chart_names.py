"""Chart names a user can predict, and no chart silently replaced by another in the same -o."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from services.cli.commands.submit import request_body
from services.cli.common import compose_chart_name
from services.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "examples" / "queue-worker.yaml"
COMPOSE = ROOT / "examples" / "compose" / "wordpress-mysql.yaml"


def chart_of(out: Path, name: str) -> str:
    return str(yaml.safe_load((out / name / "Chart.yaml").read_text())["name"])


@pytest.mark.parametrize(
    ("file_name", "chart"),
    [
        ("docker-compose.yml", "shop"),
        ("compose.yaml", "shop"),
        ("compose.prod.yaml", "shop-prod"),
        ("docker-compose-dev.yml", "shop-dev"),
        ("wordpress-mysql.yaml", "wordpress-mysql"),
        ("composer.yaml", "composer"),
    ],
)
def test_a_compose_file_is_named_by_its_file(tmp_path: Path, file_name: str, chart: str) -> None:
    path = tmp_path / "shop" / file_name
    path.parent.mkdir()
    assert compose_chart_name(str(path), COMPOSE.read_bytes()) == chart


def test_the_compose_project_name_wins_and_specs_and_stdin_are_left_alone(tmp_path: Path) -> None:
    named = b"name: blog\n" + COMPOSE.read_bytes()
    assert compose_chart_name(str(tmp_path / "compose.yaml"), named) is None
    assert compose_chart_name(str(SPEC), SPEC.read_bytes()) is None
    assert compose_chart_name("-", COMPOSE.read_bytes()) is None


def test_compose_files_in_one_folder_become_charts_of_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    shutil.copy(COMPOSE, folder / "docker-compose.yml")
    shutil.copy(COMPOSE, folder / "compose.prod.yaml")
    out = tmp_path / "out"
    for name in ("docker-compose.yml", "compose.prod.yaml"):
        assert main(["generate", str(folder / name), "-o", str(out), "--yes", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["shop", "shop-prod"]
    assert chart_of(out, "shop-prod") == "shop-prod"


def test_a_different_chart_in_the_output_is_not_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(COMPOSE, tmp_path / folder / "blog.yaml")
    assert main(["generate", str(tmp_path / "a" / "blog.yaml"), "-o", str(out), "--yes"]) == 0
    manifest = json.loads((out / "blog" / ".autopilot" / "manifest.json").read_text())
    assert manifest["chart"] == "blog"
    assert manifest["source"] == str(tmp_path / "a" / "blog.yaml")
    before = (out / "blog" / "values.yaml").read_bytes()
    capsys.readouterr()

    other = str(tmp_path / "b" / "blog.yaml")
    assert main(["generate", other, "-o", str(out), "--yes", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--force" in err and str(tmp_path / "a" / "blog.yaml") in err
    assert (out / "blog" / "values.yaml").read_bytes() == before
    # The same source again is a regeneration, not a replacement.
    assert main(["generate", str(tmp_path / "a" / "blog.yaml"), "-o", str(out), "--yes"]) == 0
    assert main(["generate", other, "-o", str(out), "--yes", "--force"]) == 0
    manifest = json.loads((out / "blog" / ".autopilot" / "manifest.json").read_text())
    assert manifest["source"] == other


def test_a_chart_we_did_not_generate_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "out" / "thumbnailer"
    mine.mkdir(parents=True)
    (mine / "Chart.yaml").write_text("apiVersion: v2\nname: thumbnailer\nversion: 9.9.9\n")
    assert main(["generate", str(SPEC), "-o", str(tmp_path / "out"), "--yes"]) == 2
    assert "did not generate" in capsys.readouterr().err
    assert "9.9.9" in (mine / "Chart.yaml").read_text()


def test_name_is_honoured_for_a_native_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["generate", str(SPEC), "-o", str(out), "--yes", "--name", "thumbs"]) == 0
    assert [p.name for p in out.iterdir()] == ["thumbs"] and chart_of(out, "thumbs") == "thumbs"
    capsys.readouterr()
    assert main(["plan", str(SPEC), "--json", "--name", "thumbs"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "thumbs"
    body = request_body(SPEC.read_bytes(), yes=False, name="thumbs")
    assert body["requirements"]["name"] == "thumbs"
    assert main(["generate", str(SPEC), "-o", str(out), "--yes", "--name", "Not A Name"]) == 2
    assert "--name: 'Not A Name' is not a chart name" in capsys.readouterr().err
