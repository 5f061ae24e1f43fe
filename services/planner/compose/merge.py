"""Compose's merge rules, shared by override files and `extends` (compose-spec 13-merge.md).

Mappings merge key by key and sequences append, except where Compose says otherwise: shell
commands are replaced, key-value lists (`environment`, `labels`) merge by key, mounts merge by
container target, and lists of names (`ports`, `dns`) append only what is new. `!reset`
removes a value and `!override` replaces it unmerged; both tags survive a merge (so a later
`extends` honours them) until `strip_tags` resolves them in the finished document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.planner.compose.load import Override, Reset

__all__ = ["merge_documents", "merge_service", "override_file", "strip_tags"]

# `docker compose` run without `-f` reads the first of these it finds, then the first
# override file beside it (compose-go cli/options.go, in its order of preference).
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

KeyPath = tuple[str, ...]


def override_file(compose_file: Path) -> Path | None:
    """The override file `docker compose` merges over `compose_file`, if one sits beside it.

    Only a file with one of the default names has one: `docker compose -f other.yml`
    merges no override file.
    """
    if compose_file.name not in COMPOSE_FILES:
        return None
    for name in OVERRIDE_FILES:
        candidate = compose_file.parent / name
        if candidate.is_file():
            return candidate
    return None


def merge_documents(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A later Compose file merged over an earlier one; services by the service rules."""
    result = dict(base)
    for key, value in over.items():
        earlier = _plain(result.get(key))
        if key == "services" and isinstance(earlier, Mapping) and isinstance(value, Mapping):
            services = dict(earlier)
            for name, spec in value.items():
                current = _plain(services.get(name))
                if isinstance(spec, Reset):
                    services.pop(name, None)
                elif isinstance(current, Mapping) and isinstance(spec, Mapping):
                    services[name] = merge_service(current, spec)
                else:
                    services[name] = strip_tags(spec) if isinstance(spec, Override) else spec
            result[key] = services
        else:
            _merge_into(result, key, value, None)
    return result


def merge_service(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A service definition merged over another (an override file's, or the extending one)."""
    result = dict(base)
    for key, value in over.items():
        _merge_into(result, key, value, (key,))
    return result


def strip_tags(value: Any) -> Any:
    """The value with `!reset` entries removed and `!override` values unwrapped, all the way down."""
    if isinstance(value, Override):
        return strip_tags(value.value)
    if isinstance(value, Mapping):
        return {k: strip_tags(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_tags(v) for v in value if not isinstance(v, Reset)]
    return value


# --- the merge -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """An earlier value as the next merge sees it: `!override` unwrapped, `!reset` absent."""
    if isinstance(value, Override):
        return value.value
    return None if isinstance(value, Reset) else value


def _merge_into(result: dict[str, Any], key: str, value: Any, path: KeyPath | None) -> None:
    """Merge `value` into `result[key]`; `path` is the key's path inside a service, if it is in one."""
    if key not in result:
        result[key] = value  # a tag with nothing under it yet stays for a later `extends`
    elif isinstance(value, Reset):
        del result[key]
    elif isinstance(value, Override):
        result[key] = value
    else:
        result[key] = _merge(_plain(result[key]), value, path)


def _merge(base: Any, over: Any, path: KeyPath | None) -> Any:
    """Two values of one key merged by the rule for its path (None: outside any service)."""
    if base is None or over is None:
        return base if over is None else over
    rule = _RULES.get(path) if path is not None else None
    if rule is not None:
        return rule(base, over, path or ())
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        result = dict(base)
        for key, value in over.items():
            _merge_into(result, key, value, None if path is None else (*path, key))
        return result
    if isinstance(base, list) and isinstance(over, list):
        return [*base, *over]
    return over


def _replace(base: Any, over: Any, path: KeyPath) -> Any:
    """Shell commands and healthcheck tests: the later one wins whole."""
    return over


def _as_list(value: Any) -> list[Any]:
    """A sequence field written as one string (`dns: 8.8.8.8`) as a list."""
    return value if isinstance(value, list) else [value]


def _key_values(value: Any, sep: str = "=") -> dict[str, Any]:
    """`[K=V, K2]` or `{K: V}` as a mapping (a bare `K` maps to None, as Compose reads it)."""
    if isinstance(value, Mapping):
        return dict(value)
    result: dict[str, Any] = {}
    for item in _as_list(value):
        text = str(item)
        key, found, rest = text.partition("=")
        if not found and sep != "=":
            key, found, rest = text.partition(sep)
        result[key] = rest if found else None
    return result


def _by_key(base: Any, over: Any, path: KeyPath) -> Any:
    """`environment`, `labels` and the like: merged variable by variable, later values winning."""
    sep = ":" if path[-1] == "extra_hosts" else "="
    result = _key_values(base, sep)
    for key, value in _key_values(over, sep).items():
        if isinstance(value, Reset):
            result.pop(key, None)
        else:
            result[key] = strip_tags(value)
    return result


def _identity(item: Any) -> str:
    """A list item's identity for de-duplication: its text, or its sorted items."""
    if isinstance(item, Mapping):
        return repr(sorted((str(k), repr(v)) for k, v in item.items()))
    return str(item)


def _unique(base: Any, over: Any, path: KeyPath) -> Any:
    """`ports`, `dns` and the like: the earlier items, then the later ones not already there."""
    result = list(_as_list(base))
    seen = {_identity(item) for item in result}
    for item in _as_list(over):
        if _identity(item) not in seen:
            seen.add(_identity(item))
            result.append(item)
    return result


def _by_target(target: Callable[[Any], str]) -> Callable[[Any, Any, KeyPath], Any]:
    """Mounts: a later mount at the same container target replaces the earlier one in place."""

    def merge(base: Any, over: Any, path: KeyPath) -> Any:
        result = list(_as_list(base))
        index = {target(item): i for i, item in enumerate(result)}
        for item in _as_list(over):
            key = target(item)
            if key in index:
                result[index[key]] = item
            else:
                index[key] = len(result)
                result.append(item)
        return result

    return merge


def _volume_target(item: Any) -> str:
    """`src:/target[:mode]`, `/target` or `{target: /target}` -> `/target`."""
    if isinstance(item, Mapping):
        return str(item.get("target", _identity(item)))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _mount_target(default_dir: str) -> Callable[[Any], str]:
    """Secrets and configs: the file they become, `/run/secrets/<name>` or `/<name>` by default."""

    def target(item: Any) -> str:
        if isinstance(item, Mapping):
            name = str(item.get("target") or item.get("source") or _identity(item))
        else:
            name = str(item)
        return name if name.startswith("/") else f"{default_dir}/{name}"

    return target


def _as_mapping(value: Any, default: Any) -> dict[str, Any]:
    """A list of names (`depends_on: [db]`) as the long mapping form."""
    if isinstance(value, Mapping):
        return dict(value)
    return {str(name): default for name in _as_list(value)}


def _named(default: Any) -> Callable[[Any, Any, KeyPath], Any]:
    """`depends_on` and `networks`: lists append unique; otherwise merged as mappings by name."""

    def merge(base: Any, over: Any, path: KeyPath) -> Any:
        if isinstance(base, list) and isinstance(over, list):
            return _unique(base, over, path)
        result = _as_mapping(base, default)
        for key, value in _as_mapping(over, default).items():
            _merge_into(result, key, value, (*path, key))
        return result

    return merge


def _build(base: Any, over: Any, path: KeyPath) -> Any:
    """`build`: a context string is the short form of `{context: ...}`."""
    result = base if isinstance(base, Mapping) else {"context": base}
    later = over if isinstance(over, Mapping) else {"context": over}
    merged = dict(result)
    for key, value in later.items():
        _merge_into(merged, key, value, (*path, key))
    return merged


def _logging(base: Any, over: Any, path: KeyPath) -> Any:
    """`logging`: options merge only when both files name the same driver (or one names none)."""
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    if base.get("driver") and over.get("driver") and base["driver"] != over["driver"]:
        return over
    merged = dict(base)
    for key, value in over.items():
        _merge_into(merged, key, value, (*path, key))
    return merged


_RULES: dict[KeyPath, Callable[[Any, Any, KeyPath], Any]] = {
    ("command",): _replace,
    ("entrypoint",): _replace,
    ("healthcheck", "test"): _replace,
    **{
        (key,): _by_key
        for key in ("environment", "labels", "annotations", "sysctls", "extra_hosts")
    },
    ("build", "args"): _by_key,
    ("build", "labels"): _by_key,
    ("deploy", "labels"): _by_key,
    **{
        (key,): _unique
        for key in (
            "ports",
            "expose",
            "external_links",
            "links",
            "dns",
            "dns_search",
            "dns_opt",
            "tmpfs",
            "cap_add",
            "cap_drop",
            "security_opt",
            "device_cgroup_rules",
            "profiles",
            "env_file",
            "label_file",
        )
    },
    ("volumes",): _by_target(_volume_target),
    ("devices",): _by_target(_volume_target),
    ("secrets",): _by_target(_mount_target("/run/secrets")),
    ("configs",): _by_target(_mount_target("")),
    ("depends_on",): _named({"condition": "service_started"}),
    ("networks",): _named(None),
    ("build",): _build,
    ("logging",): _logging,
}
