"""No environment read outside settings (issue 13): every variable a service or the CLI honours
is a field of a pydantic-settings class, so its name, default and meaning are written down once.

The source of services/ and shared/ is parsed (comments and docstrings that mention
`os.environ` do not count) and every use of `os.environ`, `os.environb`, `os.getenv` or
`os.putenv`, or `from os import environ|getenv|...`, outside the modules below fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("services", "shared")
NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}

ALLOWED = {
    "shared/config.py": "settings module: Settings, and default_data_dir (the default of its "
    "data_dir field, from XDG_DATA_HOME)",
    "shared/llm.py": "settings module: LLMSettings, and the provider credentials a chat model "
    "reads by the provider's own variable names (OPENAI_API_KEY, LANGSMITH_*), passed as a "
    "Mapping that tests replace",
    "services/cli/settings.py": "settings module: CliSettings",
    "services/validator/security.py": "writes, never reads: checkov takes its switches only from "
    "the environment (offline: no mapping download, no version check, no API key), so they are "
    "set in this process before it is imported",
    "services/cli/environment.py": "settings module without pydantic (the daemon's fast path): "
    "AUTOPILOT_DAEMON and the XDG directories; shell_environment (the user's shell fills a "
    "Compose file's ${VAR} on their own machine), child_environment (the one helper that "
    "builds the environment of a child process), request_environment (the daemon runs a "
    "request in its client's environment)",
}

# Reads that are still to move into settings, each with who owns the file. An entry here must
# still be a violation (the last test), so the list only shrinks: delete a line when its file
# is fixed.
PENDING = {}


def _sources() -> list[Path]:
    """Every Python file under services/ and shared/."""
    return sorted(p for tree in TREES for p in (ROOT / tree).rglob("*.py"))


def _reads(path: Path) -> list[str]:
    """`line: code` of each direct environment access in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            hit = (
                node.attr in NAMES
                and isinstance(node.value, ast.Name)
                and node.value.id in ("os", "posix")
            )
        elif isinstance(node, ast.ImportFrom):
            hit = node.module in ("os", "posix") and any(a.name in NAMES for a in node.names)
        else:
            continue
        if hit:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _violations() -> dict[str, list[str]]:
    """Direct environment accesses by file (relative path), allowed modules left out."""
    out = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED:
            continue
        if reads := _reads(path):
            out[rel] = reads
    return out


def test_no_environment_read_outside_settings() -> None:
    unexpected = {rel: reads for rel, reads in _violations().items() if rel not in PENDING}
    assert not unexpected, (
        "read the environment through a settings class (services/cli/settings.py for the CLI, "
        f"the service's own Settings otherwise), not directly: {unexpected}"
    )


def test_the_probe_finds_a_read() -> None:
    # A guard that finds nothing would pass forever; the settings modules do read.
    assert _reads(ROOT / "services" / "cli" / "environment.py")
    assert all((ROOT / rel).is_file() for rel in ALLOWED)


def test_pending_entries_are_still_needed() -> None:
    fixed = sorted(rel for rel in PENDING if rel not in _violations())
    assert not fixed, f"no longer read the environment; delete from PENDING: {fixed}"


def test_the_probe_sees_every_form_and_skips_prose(tmp_path: Path) -> None:
    code = tmp_path / "sample.py"
    code.write_text(
        '"""Docs may say os.environ."""\n'
        "import os\n"
        "from os import getenv\n"
        "# os.getenv in a comment\n"
        "a = os.environ.get('A')\n"
        "b = os.getenv('B')\n"
        "env = dict(os.environ)\n",
        encoding="utf-8",
    )
    assert sorted(int(r.split(":")[0]) for r in _reads(code)) == [3, 5, 6, 7]
