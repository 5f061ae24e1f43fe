"""`extends`: a service built on another service of this Compose file or of another one.

Another file is read only from inside the Compose file's folder (base_dir), like env files and
configs: the importer may run as a service, and `extends.file` must not be a way to read the
server's files. Relative paths in a service from another file are relative to that file's
folder, so they are rewritten relative to base_dir before the services are merged.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.planner.compose.common import Notes, expect_mapping, wrong_type
from services.planner.compose.load import (
    MAX_COMPOSE_BYTES,
    Interpolator,
    check_text,
    parse_yaml,
    read_text_file,
)
from services.planner.compose.merge import merge_service, strip_tags
from shared.errors import InputError

__all__ = ["resolve_extends"]

# A service of the main file (None) or of another Compose file, by its resolved path.
Key = tuple[Path | None, str]


def resolve_extends(
    services: Mapping[str, dict[str, Any]],
    base_dir: Path | None,
    environ: Mapping[str, str],
    notes: Notes,
) -> dict[str, dict[str, Any]]:
    """Every service with its `extends` chain merged in (keys of the extending service win)."""
    resolver = _Resolver(services, base_dir, environ, notes)
    return {svc: resolver.service(None, svc, ()) for svc in services}


class _Resolver:
    """Resolves `extends` chains across files, reading each other file once."""

    def __init__(
        self,
        services: Mapping[str, dict[str, Any]],
        base_dir: Path | None,
        environ: Mapping[str, str],
        notes: Notes,
    ) -> None:
        self.main = services
        self.base_dir = base_dir.resolve() if base_dir is not None else None
        self.environ = environ
        self.notes = notes
        self.files: dict[Path, Mapping[str, Any]] = {}  # other file -> its raw services
        self.done: dict[Key, dict[str, Any]] = {}

    def service(self, file: Path | None, name: str, chain: tuple[Key, ...]) -> dict[str, Any]:
        """The service `name` of `file` with its chain merged; relative paths stay its file's."""
        key = (file, name)
        if key in self.done:
            return self.done[key]
        spec = self._spec(file, name)
        where = f"{self._label(file)}services.{name}.extends"
        ext = spec.get("extends")
        if ext is None:
            self.done[key] = spec
            return spec
        ref: object
        ref_file: object
        if isinstance(ext, str):
            ref, ref_file = ext, None
        else:
            fields = expect_mapping(ext, where, "{service: base, file: common.yaml}")
            ref, ref_file = fields.get("service"), fields.get("file")
        if not isinstance(ref, str) or not ref:
            raise InputError(
                "extends needs `service:` naming the service to build on", field=f"{where}.service"
            )
        target = file
        if ref_file is not None:
            if not isinstance(ref_file, str) or not ref_file:
                raise wrong_type(f"{where}.file", ref_file, "a file path", "file: common.yaml")
            target = self._file(file, ref_file, f"{where}.file")
        if ref not in self._services(target):
            in_file = "this file" if ref_file is None else repr(ref_file)
            raise InputError(
                f"extends names unknown service {ref!r}; name a service defined in {in_file}",
                field=f"{where}.service" if isinstance(ext, Mapping) else where,
            )
        if (target, ref) in (*chain, key):
            raise InputError(f"extends loops back to {ref!r}; break the cycle", field=where)
        base = self.service(target, ref, (*chain, key))
        if target != file:
            base = _rebase(base, self._relative(self._folder(file), self._folder(target)))
        merged = merge_service(base, {k: v for k, v in spec.items() if k != "extends"})
        if file is None:
            source = f" of {ref_file}" if ref_file is not None else ""
            self.notes.info(
                where, f"settings of service {ref!r}{source} were merged into this service"
            )
        self.done[key] = merged
        return merged

    def _services(self, file: Path | None) -> Mapping[str, Any]:
        """The services of the main file or of another one."""
        return self.main if file is None else self.files[file]

    def _spec(self, file: Path | None, name: str) -> dict[str, Any]:
        """One service definition, interpolated (the main file's already is)."""
        if file is None:
            return self.main[name]
        label = self._label(file)
        where = f"services.{name}"
        raw = self.files[file][name]
        spec = expect_mapping({} if raw is None else raw, f"{label}{where}", "image: nginx:1.27")
        notes = Notes()
        try:
            spec = Interpolator(self.environ, notes).document(dict(spec), where)
        except InputError as exc:
            raise InputError(exc.message, field=f"{label}{exc.field}", **exc.details) from None
        for note in notes.items:
            self.notes.add(note.severity, f"{label}{note.source}", note.message)
        return dict(spec)

    def _file(self, current: Path | None, ref: str, field: str) -> Path:
        """The Compose file `extends.file` names, read once; refused outside base_dir."""
        if self.base_dir is None:
            raise InputError(
                f"{ref} cannot be read: the Compose file came without its folder; import it "
                "from its folder, or copy that service into this file",
                field=field,
            )
        # `~` is never expanded: a home folder is outside the project either way.
        path = Path(ref) if ref.startswith("~") else (self._folder(current) / ref).resolve()
        if not path.is_relative_to(self.base_dir):
            raise InputError(
                f"{ref} is outside the Compose file's folder, so it is not read; copy it into "
                "the folder next to the Compose file",
                field=field,
            )
        if not path.is_file():
            raise InputError(f"{ref} does not exist next to the Compose file", field=field)
        if path not in self.files:
            self.files[path] = self._read(path, field)
        return path

    def _read(self, path: Path, field: str) -> Mapping[str, Any]:
        """The raw services of another Compose file."""
        name = self._name(path)
        text = read_text_file(path, MAX_COMPOSE_BYTES)
        if text is None:
            raise InputError(f"{name} is binary or too big to be a Compose file", field=field)
        try:
            check_text(text)
            doc = strip_tags(parse_yaml(text))
        except InputError as exc:
            raise InputError(f"{name}: {exc.message}", field=field) from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("services"), Mapping):
            raise InputError(f"{name} has no `services:` mapping to extend", field=field)
        return expect_mapping(doc["services"], f"{name}:services", "{web: {image: nginx}}")

    def _folder(self, file: Path | None) -> Path:
        """The folder relative paths in `file` start from."""
        if file is None:
            return self.base_dir or Path()
        return file.parent

    def _name(self, file: Path) -> str:
        """Another Compose file's path relative to base_dir."""
        assert self.base_dir is not None
        return file.relative_to(self.base_dir).as_posix()

    def _label(self, file: Path | None) -> str:
        """`common.yaml:` before a field of another file; nothing for the main file."""
        return "" if file is None else f"{self._name(file)}:"

    @staticmethod
    def _relative(start: Path, folder: Path) -> str:
        """`folder` relative to `start`, in Compose's `/` notation."""
        return Path(os.path.relpath(folder, start)).as_posix()


# --- relative paths ------------------------------------------------------------------------


def _rebase(spec: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """A service's relative paths (build context, env files, bind mounts) moved under `folder`."""
    if folder in ("", "."):
        return dict(spec)
    result = dict(spec)
    build = result.get("build")
    if isinstance(build, str):
        result["build"] = _join(folder, build)
    elif isinstance(build, Mapping):
        result["build"] = {**build, "context": _join(folder, str(build.get("context", ".")))}
    for key in ("env_file", "label_file"):
        value = result.get(key)
        if isinstance(value, str):
            result[key] = _join(folder, value)
        elif isinstance(value, list):
            result[key] = [_env_file(folder, item) for item in value]
    if isinstance(result.get("volumes"), list):
        result["volumes"] = [_volume(folder, item) for item in result["volumes"]]
    return result


def _join(folder: str, path: str) -> str:
    """A relative path (not a URL, absolute or home path) moved under `folder`."""
    if not path or "://" in path or path.startswith(("/", "~", "git@", "$")):
        return path
    joined = posixpath.normpath(posixpath.join(folder, path))
    return joined if joined.startswith("../") or joined == ".." else f"./{joined}"


def _env_file(folder: str, item: Any) -> Any:
    """One env_file entry, short or long form."""
    if isinstance(item, str):
        return _join(folder, item)
    if isinstance(item, Mapping) and isinstance(item.get("path"), str):
        return {**item, "path": _join(folder, item["path"])}
    return item


def _volume(folder: str, item: Any) -> Any:
    """One volume: a bind mount's relative host path moved; named volumes stay as they are."""
    if isinstance(item, str):
        source, sep, rest = item.partition(":")
        if sep and source.startswith("."):
            return f"{_join(folder, source)}:{rest}"
        return item
    if isinstance(item, Mapping) and item.get("type") == "bind":
        host = item.get("source")
        if isinstance(host, str):
            return {**item, "source": _join(folder, host)}
    return item
