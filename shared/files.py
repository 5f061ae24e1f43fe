"""File trees on disk: a stored file name as a path that cannot leave its directory, and
writing or reading a whole tree (a chart's files by relative POSIX path).

Every service that puts an artifact's files on disk (the validator's temp chart, the
generator's agent workspace) or reads a chart directory back goes through these.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from shared.errors import InputError


def safe_relpath(name: str) -> PurePosixPath:
    """A stored file name as a relative path that cannot leave its directory."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise InputError(f"unsafe file name {name!r} in a chart artifact", field="files")
    return path


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write `files` (relative path -> content) under root."""
    for name, content in files.items():
        target = root / safe_relpath(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)


def read_tree(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under root as text, by relative POSIX path, minus the `skip` prefixes."""
    files: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(skip):
            files[rel] = path.read_text(encoding="utf-8")
    return files
