"""Scratch charts for tests that break one thing: a copy of the hardened fixture chart and a
one-snippet patch that fails loudly when the snippet is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

HARDENED = Path(__file__).resolve().parents[1] / "fixtures" / "charts" / "hardened"
"""A chart that passes every validation step."""


def hardened_copy(tmp_path: Path) -> Path:
    """A scratch copy of the hardened chart to break."""
    dest = tmp_path / "hardened"
    shutil.copytree(HARDENED, dest)
    return dest


def patch(chart: Path, rel: str, old: str, new: str) -> None:
    """Replace one snippet in a chart file, failing loudly if the snippet is gone."""
    path = chart / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))
