"""The values metadata tree: one source for values.yaml, values.schema.json and the README table.

Every key of values.yaml is a `Param` (a leaf with a default) or a `Group` (a mapping of
params). values.yaml comments, the JSON schema and the README table are all derived from
the same tree, so they can never disagree.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias

import yaml

JsonSchema = dict[str, Any]


@dataclass
class Param:
    """A values key with a default, a one-line description and a JSON schema."""

    name: str
    description: str
    default: Any
    schema: JsonSchema
    comment: str = ""
    schema_description: str = ""
    """The description in values.schema.json when it should differ: the same text without the
    component's name, so that equal parts of components share one definition there."""


@dataclass
class Group:
    """A mapping of params; `strict` rejects unknown keys in the schema."""

    name: str
    description: str
    children: list[Node] = field(default_factory=list)
    strict: bool = True
    schema_description: str = ""
    """As Param's: the description in values.schema.json when it should not name a component."""


Node: TypeAlias = Param | Group


def one_line(text: str, limit: int = 400) -> str:
    """Text made safe for a single-line comment or table cell: no line breaks, no controls."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    # Printable text has no whitespace but the space, so this only squeezes and trims spaces.
    cleaned = " ".join(text.split()) if "  " in text or text.strip() != text else text
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


# --- schema fragments -------------------------------------------------------------------


def s_str(**extra: Any) -> JsonSchema:
    """A string schema."""
    return {"type": "string", **extra}


def s_int(minimum: int | None = None, maximum: int | None = None) -> JsonSchema:
    """An integer schema with optional bounds."""
    schema: JsonSchema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def s_bool() -> JsonSchema:
    """A boolean schema."""
    return {"type": "boolean"}


def s_obj(**extra: Any) -> JsonSchema:
    """An object schema (free-form unless properties are given)."""
    return {"type": "object", **extra}


def s_arr(items: JsonSchema | None = None) -> JsonSchema:
    """An array schema."""
    schema: JsonSchema = {"type": "array"}
    if items is not None:
        schema["items"] = items
    return schema


def s_enum(*choices: str) -> JsonSchema:
    """A string enum schema."""
    return {"type": "string", "enum": list(choices)}


def s_nullable(schema: JsonSchema) -> JsonSchema:
    """The schema, also accepting null."""
    kind = schema["type"]
    return {**schema, "type": [kind, "null"] if isinstance(kind, str) else [*kind, "null"]}


# --- values data ------------------------------------------------------------------------


def to_data(nodes: list[Node]) -> dict[str, Any]:
    """The plain values mapping the tree describes."""
    return {
        node.name: to_data(node.children) if isinstance(node, Group) else node.default
        for node in nodes
    }


# --- values.yaml ------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """SafeDumper with indented lists, block scalars for multi-line text and no anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent sequences under their key, as hand-written charts do."""
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        """Never emit anchors: every value stands alone and is editable alone."""
        return True


# Helm reads values as YAML 1.1 through go-yaml, where a lone y/n is a boolean too; PyYAML
# already quotes every other 1.1 boolean, null and number form.
_GO_YAML_BOOLS = frozenset({"y", "Y", "n", "N"})


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    """Multi-line text as a literal block (PyYAML falls back to quoting when unsafe)."""
    style = "|" if "\n" in data else ('"' if data == "" or data in _GO_YAML_BOOLS else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def _pyyaml_dump(data: Any) -> str:
    """YAML text of `data` by PyYAML itself (the reference the fast path must equal)."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=True,
        width=1 << 30,
        allow_unicode=True,
        default_flow_style=False,
    )


# --- the fast path: PyYAML's output for the common shapes, without its event machinery ---
#
# PyYAML's pure-Python emitter costs ~0.5 ms per call, and libyaml's cannot indent lists under
# their key. The functions below write exactly what `_pyyaml_dump` writes for mappings and
# lists of single-line strings, ints, bools and nulls (the bulk of values.yaml), using PyYAML's
# own scalar analysis and resolver; anything else (floats, multi-line text, odd keys, other
# types) returns None and goes to PyYAML. tests/unit/generator/test_generator.py fuzzes the equality.

_ANALYZER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_SIMPLE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
"""Strings PyYAML's analysis always allows plain (only the resolver can still object)."""


@lru_cache(maxsize=8192)
def _str_scalar(text: str, key: bool) -> str | None:
    """A string as PyYAML writes it as a mapping value or sequence item (or simple key), or
    None when only PyYAML should write it."""
    if "\n" in text or (key and (not text or len(text) > 100)):
        return None  # literal blocks and complex keys
    if not text or text in _GO_YAML_BOOLS:
        return f'"{text}"'
    plain_tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if _SIMPLE.fullmatch(text):
        return text if plain_tag == _STR_TAG else f"'{text}'"
    analysis = _ANALYZER.analyze_scalar(text)
    if analysis.multiline:
        return None
    if plain_tag == _STR_TAG and analysis.allow_block_plain:
        return text
    if analysis.allow_single_quoted:
        return "'" + text.replace("'", "''") + "'"
    return None  # double-quoted escapes


def _scalar(value: Any) -> str | None:
    """A scalar value or empty collection as PyYAML writes it in block context, or None."""
    kind = type(value)
    if kind is str:
        return _str_scalar(value, False)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if (kind is dict or kind is list) and not value:
        return "{}" if kind is dict else "[]"
    return None


def _block(value: Any, indent: int, out: list[str]) -> bool:
    """Append the lines of a non-empty mapping or list at column `indent`; False when PyYAML
    must write it."""
    pad = " " * indent
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            return False
        for name in sorted(value):
            key = _str_scalar(name, True)
            if key is None:
                return False
            item = value[name]
            text = _scalar(item)
            if text is not None:
                out.append(f"{pad}{key}: {text}")
                continue
            out.append(f"{pad}{key}:")
            if type(item) not in (dict, list) or not _block(item, indent + 2, out):
                return False
        return True
    for item in value:
        text = _scalar(item)
        if text is not None:
            out.append(f"{pad}- {text}")
            continue
        first = len(out)
        if type(item) not in (dict, list) or not _block(item, indent + 2, out):
            return False
        out[first] = f"{pad}- {out[first][indent + 2 :]}"
    return True


def dump_yaml(data: Any) -> str:
    """YAML text of `data`: safe types only, sorted keys, no line folding."""
    if type(data) in (dict, list) and data:
        lines: list[str] = []
        if _block(data, 0, lines):
            return "\n".join(lines) + "\n"
    return _pyyaml_dump(data)


def _emit(nodes: list[Node], prefix: str, indent: int, out: list[str]) -> None:
    """Append the lines of `nodes` (with their `## @param` comments) to `out`."""
    pad = " " * indent
    for node in nodes:
        path = f"{prefix}{node.name}"
        if indent == 0:
            out.append("")
        out.append(f"{pad}## @param {path} {one_line(node.description)}")
        if isinstance(node, Group):
            if not node.children:
                out.append(f"{pad}{dump_yaml({node.name: {}}).rstrip()}")
                continue
            out.append(f"{pad}{dump_yaml({node.name: {'_': 0}}).splitlines()[0]}")
            _emit(node.children, f"{path}.", indent + 2, out)
            continue
        text = dump_yaml({node.name: node.default}).rstrip("\n")
        lines = text.split("\n")
        comment = one_line(node.comment)
        if comment and len(lines) == 1:
            lines[0] += f"  # {comment}"
        elif comment:
            out.append(f"{pad}# {comment}")
        out.extend(f"{pad}{line}" if line else line for line in lines)


def emit_values(nodes: list[Node], header: str) -> str:
    """values.yaml text for the tree, headed by a comment block."""
    out = [f"## {one_line(line)}" if line else "##" for line in header.splitlines()]
    _emit(nodes, "", 0, out)
    return "\n".join(out) + "\n"


# --- values.schema.json -----------------------------------------------------------------


def _schema_of(node: Node) -> JsonSchema:
    """JSON schema of one node."""
    if isinstance(node, Param):
        return {"description": one_line(node.schema_description or node.description), **node.schema}
    schema: JsonSchema = {
        "type": "object",
        "description": one_line(node.schema_description or node.description),
        "properties": {child.name: _schema_of(child) for child in node.children},
    }
    if node.strict:
        schema["additionalProperties"] = False
    return schema


DEFINITIONS = "definitions"
"""Where shared subschemas live (draft-07's keyword; `$ref` points at `#/definitions/<name>`)."""
_SUBSCHEMA_KEYS = ("items", "additionalProperties")
"""Keywords (besides `properties`) whose object value is a subschema of the generated schemas."""
_MIN_SHARED = 20
"""Smallest subschema (compact JSON characters) worth a definition: a `$ref` costs a lookup."""


def _body(schema: JsonSchema) -> JsonSchema:
    """A subschema without its own description (which stays where it is referenced)."""
    return {k: v for k, v in schema.items() if k != "description"}


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""Built once: json.dumps with options builds an encoder on every call."""


def _canonical(schema: JsonSchema) -> str:
    """A key equal for subschemas that differ at most in their own description."""
    return _KEY_ENCODER.encode(_body(schema))


def _children(schema: JsonSchema) -> list[tuple[str, JsonSchema]]:
    """The direct subschemas of a schema, each with the name its definition would take."""
    found = [(name, sub) for name, sub in schema.get("properties", {}).items()]
    found += [(key, schema[key]) for key in _SUBSCHEMA_KEYS if isinstance(schema.get(key), dict)]
    return found


def _replace_children(schema: JsonSchema, new: dict[int, JsonSchema]) -> JsonSchema:
    """The schema with each direct subschema `s` replaced by `new[id(s)]` where given."""
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {k: new.get(id(v), v) for k, v in schema["properties"].items()}
    for key in _SUBSCHEMA_KEYS:
        if isinstance(schema.get(key), dict):
            out[key] = new.get(id(schema[key]), schema[key])
    return out


def _definition_name(body: JsonSchema, labels: list[str], component: bool) -> str:
    """A readable name for a shared subschema: the key its uses share (the common end of their
    camelCase keys: livenessProbe, readinessProbe -> probe), "component" for top-level values,
    else its shape (stringMap, stringList, integer...)."""
    words = [
        re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])|[^A-Za-z0-9]+", label) for label in labels
    ]
    common: list[str] = []
    while all(len(w) > len(common) for w in words) and (
        len({w[-1 - len(common)] for w in words}) == 1
    ):
        common.insert(0, words[0][-1 - len(common)])
    if common:
        name = "".join(common)
    elif component:
        name = "component"
    else:
        kind = body.get("type", "schema")
        kind = "Or".join(k.title() for k in kind) if isinstance(kind, list) else str(kind)
        inner = body.get("items", body.get("additionalProperties"))
        inner_kind = inner.get("type") if isinstance(inner, dict) else None
        if isinstance(inner_kind, str):
            kind = f"{inner_kind}{'List' if kind == 'array' else 'Map'}"
        name = kind
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return name[0].lower() + name[1:] if name else "schema"


def share_subschemas(schema: JsonSchema) -> JsonSchema:
    """The schema with every subschema that occurs more than once (components of one kind,
    their images, probes, ports, security contexts...) moved to `definitions` and referenced.

    Helm compiles values.schema.json on every install, upgrade and template; it compiles a
    definition once however often it is referenced, so the same values are checked for a
    fraction of the work. Equal means equal but for the subschema's own description, which stays
    beside the `$ref`, so no description is lost.
    """
    counts: dict[str, int] = {}
    canonical: dict[int, str] = {}  # by id(): each subschema encoded once for the three walks

    def count(node: JsonSchema) -> None:
        """Count every subschema occurrence, nested ones inside each occurrence too."""
        for _, sub in _children(node):
            key = canonical[id(sub)] = _canonical(sub)
            counts[key] = counts.get(key, 0) + 1
            count(sub)

    count(schema)
    # Uses once the repeats are shared: a subschema repeated only inside one repeated parent
    # is then used once, and stays inline.
    labels: dict[str, list[str]] = {}
    nested: set[str] = set()  # subschemas used below the top level

    def use(node: JsonSchema) -> None:
        """Record the uses (by key) of each repeated subschema, walking each body once."""
        for label, sub in _children(node):
            key = canonical[id(sub)]
            if counts[key] < 2 or len(key) < _MIN_SHARED:
                use(sub)
                continue
            labels.setdefault(key, []).append(label)
            if node is not schema:
                nested.add(key)
            if len(labels[key]) == 1:
                use(sub)

    use(schema)
    names: dict[str, str] = {}  # canonical -> definition name
    bodies: dict[str, JsonSchema] = {}  # definition name -> body

    def share(node: JsonSchema) -> JsonSchema:
        """The node with its shared subschemas replaced by references (recursively)."""
        new: dict[int, JsonSchema] = {}
        for _, sub in _children(node):
            key = canonical[id(sub)]
            if len(labels.get(key, ())) < 2:
                new[id(sub)] = share(sub)
                continue
            if key not in names:
                base = _definition_name(_body(sub), labels[key], key not in nested)
                name, n = base, 2
                while name in bodies:
                    name, n = f"{base}{n}", n + 1
                names[key] = name
                bodies[name] = {}  # taken before the body names its own definitions
                bodies[name] = share(_body(sub))
            ref: JsonSchema = {"$ref": f"#/{DEFINITIONS}/{names[key]}"}
            # Validators ignore a description beside $ref; readers and editors show it.
            new[id(sub)] = (
                {"description": sub["description"], **ref} if "description" in sub else ref
            )
        return _replace_children(node, new)

    result = share(schema)
    if bodies:
        result[DEFINITIONS] = bodies
    return result


def emit_schema(nodes: list[Node], title: str, *, share: bool = True) -> str:
    """values.schema.json text (draft-07) for the tree, repeated parts shared unless `share`
    is False (the same checks written out in full, which the tests compare against)."""
    schema: JsonSchema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": one_line(title),
        "type": "object",
        "properties": {node.name: _schema_of(node) for node in nodes},
        "additionalProperties": False,
    }
    if share:
        schema = share_subschemas(schema)
    out: list[str] = []
    _indented_json(schema, "\n", out)
    return "".join(out) + "\n"


_encode_str = json.encoder.encode_basestring


def _indented_json(value: Any, newline: str, out: list[str]) -> None:
    """Append exactly what json.dumps(value, indent=2, ensure_ascii=False) writes, without its
    pure-Python encoder (json's C encoder only serves unindented output); `newline` is a line
    break plus the current indentation."""
    kind = type(value)
    if kind is str:
        out.append(_encode_str(value))
    elif kind is dict and value:
        inner = newline + "  "
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(f"{',' if i else ''}{inner}{_encode_str(str(key))}: ")
            _indented_json(item, inner, out)
        out.append(newline + "}")
    elif kind is list and value:
        inner = newline + "  "
        out.append("[")
        for i, item in enumerate(value):
            out.append(f"{',' if i else ''}{inner}")
            _indented_json(item, inner, out)
        out.append(newline + "]")
    elif kind in (bool, int) or value is None or kind in (dict, list):
        out.append(json.dumps(value))
    else:
        out.append(json.dumps(value, indent=2, ensure_ascii=False).replace("\n", newline))


# --- README table -----------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|")


def _default_cell(value: Any) -> str:
    """A compact rendering of a default for the README."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    text = one_line(text, limit=80).replace("`", "'")
    return f"`{_cell(text)}`"


def table_rows(nodes: list[Node], prefix: str = "") -> list[tuple[str, str, str]]:
    """(parameter, description, default) rows for every key, in values.yaml order."""
    rows: list[tuple[str, str, str]] = []
    for node in nodes:
        path = f"{prefix}{node.name}"
        if isinstance(node, Group):
            rows.append((f"`{path}`", _cell(node.description), ""))
            rows.extend(table_rows(node.children, f"{path}."))
        else:
            rows.append((f"`{path}`", _cell(node.description), _default_cell(node.default)))
    return rows
