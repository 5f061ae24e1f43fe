"""Charts as files on disk: write, render with default values, diff, package, version a replay.

The gateway renders and diffs for the deployment_approval gate (with
`services/validator/diff.py`, which holds render-and-diff) and packages at publish.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import helm_python
import yaml

from shared.errors import ArtifactError, InputError
from shared.files import write_tree


def write_chart(files: dict[str, bytes], root: Path, name: str) -> Path:
    """Write chart files under root/name with `shared.files.write_tree`, one file at a time so
    that a refused name is named: the unsafe path is a stored artifact the gateway cannot use
    (ArtifactError, which a node's step turns into invalid_output), not the caller's input."""
    chart_dir = root / name
    for rel, data in files.items():
        try:
            write_tree(chart_dir, {rel: data})
        except InputError as exc:
            raise ArtifactError(f"chart file {rel!r} points outside the chart") from exc
    return chart_dir


def rendered_manifests(files: dict[str, bytes], name: str) -> str:
    """The chart rendered with its default values as its Argo CD Application installs it."""
    from services.validator.diff import rendered_manifests as render

    if not files:
        return ""
    with tempfile.TemporaryDirectory(prefix="autopilot-diff-") as tmp:
        return render(write_chart(files, Path(tmp), name))


async def diff(
    old_files: dict[str, bytes], new_files: dict[str, bytes], name: str, old: str, new: str
) -> str:
    """The unified diff of two charts' rendered manifests (each rendered in a thread)."""
    from services.validator.diff import manifest_diff

    new_text, old_text = await asyncio.gather(
        asyncio.to_thread(rendered_manifests, new_files, name),
        asyncio.to_thread(rendered_manifests, old_files, name),
    )
    return manifest_diff(old_text, new_text, old, new)


def replay_version(chart_yaml: bytes, replay: int) -> bytes:
    """Chart.yaml with `+replay.N` (SemVer build metadata, which Helm and Argo CD accept and
    which never collides with a version a person picks) added to its version; N=0 leaves it."""
    if replay <= 0:
        return chart_yaml
    text = chart_yaml.decode()
    version = str((yaml.safe_load(text) or {}).get("version", "0.1.0")).split("+", 1)[0]
    line = f'version: "{version}+replay.{replay}"'
    lines = [line if ln.startswith("version:") else ln for ln in text.splitlines()]
    return ("\n".join(lines) + "\n").encode()


def package_chart(files: dict[str, bytes], name: str) -> tuple[str, bytes]:
    """`helm package` the chart files; returns the archive's file name and bytes."""
    with tempfile.TemporaryDirectory(prefix="autopilot-package-") as tmp:
        chart_dir = write_chart(files, Path(tmp), name)
        out = Path(tmp) / "out"
        out.mkdir()
        archive = Path(helm_python.package(chart_dir, destination=out))
        return archive.name, archive.read_bytes()
