"""What a deployment would change: a chart rendered as it will be installed, and diffs of that.

The deployment gate (gateway) and `autopilot generate` (CLI) both show a reviewer the
rendered manifests of the new chart against the last one, under the release name and
namespace the chart's Argo CD Application installs it with, never the validator's own.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from services.validator.engine import render_objects


def install_target(chart_dir: Path) -> tuple[str, str | None]:
    """(release, namespace) from the chart's argocd/application.yaml; the chart name else."""
    release = chart_dir.name
    namespace: str | None = None
    app = chart_dir / "argocd" / "application.yaml"
    try:
        doc = yaml.safe_load(app.read_text()) if app.is_file() else None
    except (OSError, yaml.YAMLError):
        doc = None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(spec, dict):
        helm = (spec.get("source") or {}).get("helm") or {}
        release = str(helm.get("releaseName") or release)
        namespace = (spec.get("destination") or {}).get("namespace") or None
    return release, namespace


def rendered_manifests(chart_dir: Path) -> str:
    """The chart rendered with its default values as installed, one document per object."""
    release, namespace = install_target(chart_dir)
    objects = [
        _hide_secret_values(obj)
        for obj in render_objects(
            chart_dir, None, release=release, namespace=namespace or "default"
        )
    ]

    def key(obj: dict[str, Any]) -> tuple[str, str]:
        return str(obj.get("kind", "")), str((obj.get("metadata") or {}).get("name", ""))

    return "---\n".join(
        f"# {kind}/{name}\n" + yaml.safe_dump(obj, sort_keys=True)
        for obj in sorted(objects, key=key)
        for kind, name in [key(obj)]
    )


def _hide_secret_values(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with its values replaced: a reviewer sees the keys, never the values (which
    are also generated anew at each render)."""
    if obj.get("kind") != "Secret":
        return obj
    hidden = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            hidden[field] = {key: "(hidden)" for key in obj[field]}
    return hidden


def manifest_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two rendered manifests."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label
    )
    return "".join(lines)
