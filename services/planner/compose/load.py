"""Reading a Compose file safely: size and binary guards, a bomb-proof YAML loader, `.env`
files and `${VAR}` interpolation."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from services.planner.compose.common import Notes
from shared.errors import InputError
from shared.libyaml import HAS_LIBYAML, SafeLoader

MAX_COMPOSE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 1_000
# A document that expands to more nodes than this (aliases counted every time they are
# used) is a YAML bomb: real Compose files have a few thousand at most.
MAX_EXPANDED_NODES = 200_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Reset:
    """A value tagged `!reset`: the merge removes the key it stands for."""

    def __repr__(self) -> str:
        return "!reset"


RESET = Reset()


class Override:
    """A value tagged `!override`: the merge replaces the earlier value with it, unmerged."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"!override {self.value!r}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Override) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


class _LimitExceeded(yaml.YAMLError):
    """The document breaks a size limit (nesting or aliases) while being composed."""


class _NoDuplicateKeys:
    """Mapping construction that refuses a key written twice (Compose does; PyYAML keeps the last)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing duplicate keys."""
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with `<<` may be overridden on purpose
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            if isinstance(key, Hashable):
                if key in seen:
                    raise ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key {key!r} twice; keep one",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)  # type: ignore[misc,no-any-return]


class _ComposeLoader(_NoDuplicateKeys, yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars (as Compose reads them) and limits on depth and aliases.

    Pure Python: it words every error. `parse_yaml` tries `_FastLoader` first."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node, refusing deep nesting and alias floods."""
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitExceeded(f"it uses more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitExceeded(f"it is nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_reset(loader: _ComposeLoader, node: Node) -> Reset:
    """`!reset <anything>`: the value is ignored, the key is cleared."""
    return RESET


def _construct_override(loader: _ComposeLoader, node: Node) -> Override:
    """`!override <value>`: the value as it would read untagged, marked to replace."""
    if isinstance(node, MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    assert isinstance(node, ScalarNode)
    tag = loader.resolve(ScalarNode, node.value, (node.style is None, False))  # type: ignore[no-untyped-call]
    untagged = ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)
    return Override(loader.construct_object(untagged, deep=True))


_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)

# Compose parses YAML 1.2: `on`/`yes` are strings and `22:22` is not base-60 arithmetic.
_ComposeLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_ComposeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o?[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)


def _fast_loader() -> type[Any] | None:
    """`_ComposeLoader`'s constructors and resolvers over libyaml's parser and composer (about
    ten times faster), or None without libyaml. Its limits are checked on the event stream
    first (`_check_limits`), since libyaml composes without asking Python."""
    if not HAS_LIBYAML:
        return None

    class FastLoader(_NoDuplicateKeys, SafeLoader):  # type: ignore[misc,valid-type]
        """libyaml with _ComposeLoader's scalars, tags and duplicate-key check."""

    FastLoader.yaml_constructors = _ComposeLoader.yaml_constructors
    FastLoader.yaml_implicit_resolvers = _ComposeLoader.yaml_implicit_resolvers
    return FastLoader


_FastLoader = _fast_loader()


def _check_limits(text: str) -> None:
    """Raise _LimitExceeded where _ComposeLoader would, reading libyaml's events: a node is one
    level deeper than the collection holding it, and every alias counts."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _LimitExceeded(f"it uses more than {MAX_ALIASES} aliases")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _LimitExceeded(f"it is nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)) and depth + 1 > MAX_DEPTH:
            raise _LimitExceeded(f"it is nested deeper than {MAX_DEPTH} levels")


def _load(text: str) -> Any:
    """The document through libyaml when it takes it (the limits checked on its events first),
    else through the pure-Python loader, which decides and words any error."""
    if _FastLoader is not None:
        try:
            _check_limits(text)
            return _single(_FastLoader(text))
        except _LimitExceeded:
            raise
        except yaml.YAMLError:
            pass
    return _single(_ComposeLoader(text))


def _single(loader: Any) -> Any:
    """The loader's one document; the loader disposed of."""
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def check_text(text: str) -> None:
    """Refuse input that is too big, binary, or empty, before any parsing."""
    if len(text) > MAX_COMPOSE_BYTES or len(text.encode("utf-8", "replace")) > MAX_COMPOSE_BYTES:
        raise InputError(
            f"the Compose file is over the {MAX_COMPOSE_BYTES // (1024 * 1024)} MB limit; "
            "a real Compose file is a few kilobytes, so check that this is the right file",
            field="<file>",
        )
    sample = text[:8192]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise InputError(
            "this looks like binary data, not a YAML Compose file; give the docker-compose.yml text",
            field="<file>",
        )
    if not text.strip():
        raise InputError(
            "the Compose file is empty; it needs at least a `services:` mapping", field="<file>"
        )


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with the hardened loader; every failure is an InputError."""
    try:
        data = _load(text)
    except (_LimitExceeded, RecursionError) as exc:
        raise InputError(
            f"the YAML document is too complex: {exc or 'it is nested too deeply'}; real specs "
            "and Compose files are flat, so write the values out instead of nesting or aliasing them",
            field="<file>",
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(
            f"not valid YAML{where}: {exc.problem or exc.context}; fix the syntax there",
            field="<file>",
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}; fix the syntax", field="<file>") from exc
    _check_expansion(data)
    return data


def _check_expansion(data: Any) -> None:
    """Walk the document as consumers will (aliases expanded) and refuse a YAML bomb."""
    budget = MAX_EXPANDED_NODES
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise InputError(
                f"the document expands to more than {MAX_EXPANDED_NODES} values through YAML "
                "aliases (a 'billion laughs' bomb?); write the values out instead of aliasing",
                field="<file>",
            )
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Override):
            stack.append(node.value)


# --- interpolation -------------------------------------------------------------------------

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.DOTALL)


# Fields Compose reads as numbers or booleans, so `retries: $RETRIES` (a string after
# interpolation) is cast like compose-go does. Paths are the interpolator's, `[n]` for items.
_SERVICE = r"services\.[^.\[]+\."
_INT_FIELDS = re.compile(
    rf"^{_SERVICE}(?:healthcheck\.retries|scale|deploy\.replicas"
    r"|deploy\.restart_policy\.max_attempts|deploy\.(?:update|rollback)_config\.parallelism"
    r"|deploy\.placement\.max_replicas_per_node)$"
)
_BOOL_FIELDS = re.compile(
    rf"^(?:{_SERVICE}(?:read_only|privileged|init|tty|stdin_open|healthcheck\.disable"
    r"|oom_kill_disable|use_api_socket|volumes\[\d+\]\.read_only)"
    r"|(?:networks|volumes|secrets|configs)\.[^.\[]+\.external)$"
)
_TRUE = {"true", "yes", "on", "y", "1"}
_FALSE = {"false", "no", "off", "n", "0"}


class Interpolator:
    """Compose's `${VAR}` substitution over an environment, recording unset variables as notes.

    `unset` remembers which field each unset variable emptied, so an error about that field
    can say which variable to set.
    """

    def __init__(self, env: Mapping[str, str], notes: Notes) -> None:
        self.env = env
        self.notes = notes
        self.unset: dict[str, list[str]] = {}

    def text(self, value: str, path: str) -> str:
        """Interpolate one string; `$$` is a literal `$`."""
        out: list[str] = []
        i, n = 0, len(value)
        while i < n:
            char = value[i]
            if char != "$" or i + 1 >= n:
                out.append(char)
                i += 1
            elif value[i + 1] == "$":
                out.append("$")
                i += 2
            elif value[i + 1] == "{":
                end = _closing_brace(value, i + 2)
                if end < 0:
                    raise InputError(
                        f"unterminated `${{` in {value!r}; close it with `}}` or write `$$` "
                        "for a literal dollar sign",
                        field=path,
                    )
                out.append(self._braced(value[i + 2 : end], path))
                i = end + 1
            elif match := _VAR_NAME.match(value, i + 1):
                out.append(self._lookup(match.group(), path))
                i = match.end()
            else:
                out.append(char)
                i += 1
        return "".join(out)

    def _braced(self, expr: str, path: str) -> str:
        """Evaluate the inside of `${...}`."""
        match = _BRACED.fullmatch(expr)
        if not match:
            raise InputError(
                f"invalid interpolation `${{{expr}}}`; use ${{NAME}}, ${{NAME:-default}}, "
                "${NAME:?error} or ${NAME:+alternative}",
                field=path,
            )
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = self.env.get(name)
        if op is None:
            return self._lookup(name, path)
        present = value is not None and (value != "" or not op.startswith(":"))
        kind = op[-1]
        if kind == "-":
            return value if present and value is not None else self.text(arg, path)
        if kind == "+":
            return self.text(arg, path) if present else ""
        if not present:  # `?`: required variable
            hint = self.text(arg, path) if arg else "it must be set"
            raise InputError(
                f"required variable {name} is missing a value: {hint}; set it in the "
                "environment or in the .env file next to the Compose file",
                field=path,
            )
        return value or ""

    def _lookup(self, name: str, path: str) -> str:
        """A plain `$NAME`: its value, or '' with a note like Compose's warning."""
        value = self.env.get(name)
        if value is None:
            self.unset.setdefault(path, []).append(name)
            self.notes.warning(
                path,
                f"variable {name} is not set; it became an empty string. Set it in the "
                "environment or .env before importing, or edit the value in the chart",
            )
            return ""
        return value

    def document(self, data: Any, path: str = "") -> Any:
        """Interpolate every string value (not keys) of a parsed document.

        Strings in fields Compose reads as numbers or booleans are cast, as Compose does.
        """
        if isinstance(data, str):
            return self._cast(self.text(data, path or "<file>"), path)
        if isinstance(data, Mapping):
            return {
                key: self.document(value, f"{path}.{key}" if path else str(key))
                for key, value in data.items()
            }
        if isinstance(data, list):
            return [self.document(item, f"{path}[{i}]") for i, item in enumerate(data)]
        if isinstance(data, Override):
            return Override(self.document(data.value, path))
        return data

    def _cast(self, value: str, path: str) -> Any:
        """A numeric or boolean field's text as Compose reads it; other fields stay text."""
        whole, flag = _INT_FIELDS.match(path), _BOOL_FIELDS.match(path)
        if not (whole or flag):
            return value
        text = value.strip()
        if not text:
            raise InputError(
                f"the field is empty{self.why_empty(path)}; "
                + ("give a whole number" if whole else "give true or false"),
                field=path,
            )
        if whole and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if flag and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        what = "a whole number" if whole else "true or false"
        raise InputError(f"{text!r} is not {what}{self.why_empty(path)}", field=path)

    def why_empty(self, field: str | None) -> str:
        """`, because variable X is not set` when an unset variable fed `field` (or a part of it)."""
        if not field:
            return ""
        for path, names in self.unset.items():
            if (
                path == field
                or path.startswith((f"{field}.", f"{field}["))
                or field.startswith((f"{path}.", f"{path}["))
            ):
                listed = ", ".join(dict.fromkeys(names))
                verb = "is" if len(set(names)) == 1 else "are"
                return (
                    f" (variable {listed} {verb} not set, so it became an empty string in "
                    f"{path}; set it in the environment or the .env file)"
                )
        return ""

    def explain(self, exc: InputError) -> InputError:
        """The error with the unset variable that caused it named, when one did."""
        why = self.why_empty(exc.field)
        if not why or why in exc.message:
            return exc
        return InputError(exc.message + why, field=exc.field, **exc.details)


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing a `${` whose body starts at `start`, honouring nesting."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


# --- .env files ----------------------------------------------------------------------------

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:[=:]\s*(.*))?$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(
    text: str, source: str, notes: Notes, environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Parse a dotenv file like Compose does: comments, `export`, quotes, inline comments.

    With `environ`, unquoted and double-quoted values are interpolated from the variables
    defined earlier in the file overlaid by `environ`.
    """
    values: dict[str, str | None] = {}

    def expand(value: str, where: str) -> str:
        if environ is None:
            return value
        scope = {k: v for k, v in values.items() if v is not None}
        return Interpolator({**scope, **environ}, notes).text(value, where)

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            notes.warning(f"{source}:{i}", "line is not KEY=VALUE; it was skipped")
            continue
        key, raw = match.group(1), match.group(2)
        if raw is None:
            values[key] = None
            continue
        raw = raw.strip()
        if raw[:1] in ("'", '"'):
            quote = raw[0]
            body = raw[1:]
            # Quoted values may span lines until the closing quote.
            while _closing_quote(body, quote) < 0 and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _closing_quote(body, quote)
            body = body[:end] if end >= 0 else body
            if quote == '"':
                body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
                values[key] = expand(body, f"{source}.{key}")
            else:
                values[key] = body
            continue
        raw = re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()
        values[key] = expand(raw, f"{source}.{key}")
    return values


def _closing_quote(body: str, quote: str) -> int:
    """Index of the unescaped closing quote in `body`, or -1."""
    i = 0
    while i < len(body):
        if body[i] == "\\" and quote == '"':
            i += 2
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def read_text_file(path: Path, limit: int) -> str | None:
    """A small UTF-8 text file's content, or None when it is binary, too big or unreadable."""
    try:
        if path.stat().st_size > limit:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def project_environment(
    base_dir: Path | None,
    environ: Mapping[str, str],
    notes: Notes,
    dotenv: str | None = None,
) -> dict[str, str]:
    """The interpolation environment: the `.env` (text given, else `base_dir/.env`) overlaid by
    `environ` (the user's shell for the CLI; only what the request carries in a service)."""
    merged: dict[str, str] = {}
    if dotenv is not None:
        parsed = parse_dotenv(dotenv, ".env", notes, environ)
        merged.update({k: v for k, v in parsed.items() if v is not None})
    elif base_dir is not None:
        path = base_dir / ".env"
        if path.is_file():
            text = read_text_file(path, 1024 * 1024)
            if text is None:
                notes.warning(".env", "the .env file is binary or over 1 MiB; it was not read")
            else:
                parsed = parse_dotenv(text, ".env", notes, environ)
                merged.update({k: v for k, v in parsed.items() if v is not None})
    merged.update(environ)
    return merged
