"""`autopilot generate` at its gates in a real pseudo-terminal: planning (a, r, e, invalid e),
then security_review and deployment_approval before anything is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.pty_session import PtySession

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "shop.yaml"
PROMPT = "[?] full detail > "

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "EDITOR", "VISUAL")}
    env.update({"PYTHONPATH": str(ROOT), "PAGER": "cat", "TERM": "xterm", **extra})
    return env


def _generate(tmp_path: Path, **env: str) -> PtySession:
    argv = [
        sys.executable,
        "-m",
        "services.cli",
        "generate",
        str(SPEC),
        "-o",
        str(tmp_path / "out"),
    ]
    return PtySession(argv, _env(tmp_path, **env), ROOT)


def _editor(tmp_path: Path, body: str) -> str:
    """An $EDITOR: a Python script that rewrites the YAML file it is given."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, yaml\n"
        "path = sys.argv[1]\n"
        "plan = yaml.safe_load(open(path))\n"
        + body
        + "open(path, 'w').write(yaml.safe_dump(plan))\n"
    )
    return f"{sys.executable} {script}"


def _values(tmp_path: Path) -> dict[str, object]:
    loaded = yaml.safe_load((tmp_path / "out" / "shop" / "values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _approve_chart(session: PtySession) -> None:
    """Approve security_review and deployment_approval, checking what each shows."""
    screen = session.expect(PROMPT)
    assert "== security_review ==" in screen and "checkov score" in screen
    session.send("a")
    screen = session.expect(PROMPT)
    assert "== deployment_approval ==" in screen and "release shop in namespace shop" in screen
    assert "First release:" in screen and "+ Deployment/shop-api" in screen
    session.send("a")


def test_dev_tty_of_the_child_is_the_pty(tmp_path: Path) -> None:
    probe = "import os; fd = os.open('/dev/tty', os.O_WRONLY); os.write(fd, b'via-dev-tty')"
    session = PtySession([sys.executable, "-c", probe], _env(tmp_path), ROOT)
    session.expect("via-dev-tty", timeout=30)
    assert session.wait() == 0


def test_approve_writes_the_chart(tmp_path: Path) -> None:
    session = _generate(tmp_path)
    try:
        screen = session.expect(PROMPT)
        assert "== planning_review ==" in screen
        assert "COMPONENT" in screen and "postgres:17.2" in screen
        assert "Decisions (" in screen and "Risks (" in screen
        assert "ports assumed postgresql/5432" in screen
        assert "{" not in screen.split("== planning_review ==")[1]  # no JSON dump
        session.send("?")
        assert "chartVersion: 0.1.0" in session.expect(PROMPT)  # the full plan, via $PAGER
        session.send("a")
        _approve_chart(session)
        assert session.wait() == 0
    finally:
        session.kill()
    assert "validation passed" in session.text
    assert _values(tmp_path)["api"]["replicaCount"] == 3  # type: ignore[index]


def test_reject_asks_for_a_comment_and_writes_nothing(tmp_path: Path) -> None:
    session = _generate(tmp_path)
    try:
        session.expect(PROMPT)
        session.send("r")
        session.expect("comment")
        session.send("the db needs two replicas")
        assert session.wait() != 0
    finally:
        session.kill()
    assert "rejected at planning_review: the db needs two replicas" in session.text
    assert not (tmp_path / "out").exists()


def test_edit_changes_the_chart(tmp_path: Path) -> None:
    body = (
        "for c in plan['components']:\n"
        "    if c['spec']['name'] == 'api':\n"
        "        c['replicas'] = 5\n"
    )
    session = _generate(tmp_path, EDITOR=_editor(tmp_path, body))
    try:
        session.expect(PROMPT)
        session.send("e")
        shown = session.expect(PROMPT)
        assert "edited plan:" in shown
        assert "shop-api:2.3.1    5" in shown.split("edited plan:")[1]
        session.send("a")
        _approve_chart(session)
        assert session.wait() == 0
    finally:
        session.kill()
    assert _values(tmp_path)["api"]["replicaCount"] == 5  # type: ignore[index]


def test_invalid_edit_is_refused_with_the_field_named(tmp_path: Path) -> None:
    body = (
        "for c in plan['components']:\n"
        "    if c['spec']['name'] == 'api':\n"
        "        c['replicas'] = 'many'\n"
    )
    session = _generate(tmp_path, EDITOR=_editor(tmp_path, body))
    try:
        session.expect(PROMPT)
        session.send("e")
        refused = session.expect("abort the edit > ")
        assert "invalid edit: components.api.replicas:" in refused
        session.send("x")
        assert "the plan is unchanged" in session.expect(PROMPT)
        session.send("a")
        _approve_chart(session)
        assert session.wait() == 0
    finally:
        session.kill()
    assert _values(tmp_path)["api"]["replicaCount"] == 3  # type: ignore[index]


@pytest.mark.parametrize("gate", ["security_review", "deployment_approval"])
def test_rejecting_a_later_gate_writes_nothing(tmp_path: Path, gate: str) -> None:
    session = _generate(tmp_path)
    try:
        session.expect(PROMPT)
        session.send("a")
        if gate == "deployment_approval":
            session.expect(PROMPT)
            session.send("a")
        assert f"== {gate} ==" in session.expect(PROMPT)
        session.send("r")
        session.expect("comment")
        session.send("not today")
        assert session.wait() == 1
    finally:
        session.kill()
    assert f"{gate} rejected; nothing written" in session.text
    assert not (tmp_path / "out").exists()


def test_regenerating_shows_the_diff_against_the_chart_in_out(tmp_path: Path) -> None:
    import subprocess

    subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "generate",
            str(SPEC),
            "-o",
            str(tmp_path / "out"),
            "--yes",
            "--quiet",
        ],
        env=_env(tmp_path),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    body = (
        "for c in plan['components']:\n"
        "    if c['spec']['name'] == 'api':\n"
        "        c['replicas'] = 4\n"
    )
    session = _generate(tmp_path, EDITOR=_editor(tmp_path, body))
    try:
        session.expect(PROMPT)
        session.send("e")
        session.expect(PROMPT)
        session.send("a")
        session.expect(PROMPT)
        session.send("a")
        screen = session.expect(PROMPT)
        assert "== deployment_approval ==" in screen and "+1 -1 lines" in screen
        assert "-  replicas: 3" in screen and "+  replicas: 4" in screen
        session.send("a")
        assert session.wait() == 0
    finally:
        session.kill()
    assert _values(tmp_path)["api"]["replicaCount"] == 4  # type: ignore[index]
