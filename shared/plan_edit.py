"""A reviewer's edit of a plan: addressed by name, validated like a spec, the same everywhere.

The gateway (`POST .../decisions` with `decision: edit`), the terminal's `e` and
`autopilot edit ID` all go through `edit_plan`. Two forms of `changes` are accepted:

- RFC 6902 JSON Patch, a list of operations. In a path, a segment that is not a number selects
  the list item of that name (a component by `spec.name`, anything else by `name`):
  `[{"op": "replace", "path": "/components/worker/replicas", "value": 3}]`. A number still
  selects by position and `-` appends.
- A JSON merge patch (RFC 7386) in which `components` and `secrets` are objects keyed by name:
  `{"components": {"worker": {"replicas": 3}}}`; `null` removes a key, a component or a secret.
  A whole list (the older form) is accepted only when it leaves no component or secret out: a
  removal is always written by name.

The edited plan is checked by the plan model, then by the spec's reference rules with the
field named (a secret still referenced cannot be removed, a serviceRef or dependsOn must name a
component), then by the spec model itself. Errors are InputError naming the field as a dotted
path with names, e.g. `components.worker.replicas`.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from shared.errors import InputError
from shared.models.plan import ChartPlan
from shared.models.requirements import ChartRequirements, SecretRef, ServiceRef

NAMED_LISTS = ("components", "secrets")
"""Top-level plan lists whose items are addressed by name in either form."""

OPS = ("add", "remove", "replace", "move", "copy", "test")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def item_name(item: Any) -> str | None:
    """A list item's name: a component plan's `spec.name`, else its `name`."""
    if not isinstance(item, dict):
        return None
    spec = item.get("spec")
    name = spec.get("name") if isinstance(spec, dict) else item.get("name")
    return name if isinstance(name, str) else None


def _names(items: list[Any]) -> list[str]:
    return [n for n in (item_name(i) for i in items) if n]


# --------------------------------------------------------------------------- JSON Patch


def _tokens(path: Any, field: str) -> list[str]:
    """RFC 6901 pointer -> its reference tokens."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise InputError(
            f"{path!r} is not a JSON pointer (write it like /components/web/replicas)", field=field
        )
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]] if path else []


def _index(items: list[Any], token: str, *, adding: bool, where: str, field: str) -> int:
    """A list position from a name, a number or `-` (append, only when adding)."""
    for i, item in enumerate(items):
        if item_name(item) == token:
            return i
    if token == "-" and adding:
        return len(items)
    if token.isdigit() and int(token) < len(items) + (1 if adding else 0):
        return int(token)
    if adding and not token.isdigit():
        return len(items)  # add /components/<new-name>: appended
    have = ", ".join(_names(items)) or f"{len(items)} items"
    raise InputError(f"{where} has no item {token!r} (it has: {have})", field=field)


def _locate(doc: Any, tokens: list[str], *, adding: bool, field: str) -> tuple[Any, str | int]:
    """The container of the pointer's last token and the key or index in it."""
    node = doc
    for depth, token in enumerate(tokens):
        where = "/" + "/".join(tokens[:depth]) if depth else "the plan"
        last = depth == len(tokens) - 1
        if isinstance(node, dict):
            if last:
                return node, token
            if token not in node:
                raise InputError(f"{where} has no key {token!r}", field=field)
            node = node[token]
        elif isinstance(node, list):
            index = _index(node, token, adding=adding and last, where=where, field=field)
            if last:
                return node, index
            node = node[index]
        else:
            raise InputError(f"{where} is a value, not an object or a list", field=field)
    raise InputError("the whole plan cannot be replaced; address a part of it", field=field)


def _get(container: Any, key: str | int, field: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise InputError(f"no key {key!r} to change", field=field)
        return container[key]
    return container[int(key)]


def _remove(container: Any, key: str | int, field: str) -> Any:
    value = _get(container, key, field)
    if isinstance(container, dict):
        del container[key]
    else:
        del container[int(key)]
    return value


def _add(container: Any, key: str | int, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        container.insert(int(key), value)


def apply_json_patch(
    doc: dict[str, Any], ops: list[Any], prefix: str = "changes"
) -> dict[str, Any]:
    """RFC 6902 over a copy of `doc`, list items addressable by name; InputError per operation."""
    doc = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        field = f"{prefix}.{i}"
        if not isinstance(op, dict) or op.get("op") not in OPS or "path" not in op:
            raise InputError(
                f"an operation is {{'op': one of {', '.join(OPS)}, 'path': '/components/<name>/...'"
                ", 'value': ...}",
                field=field,
            )
        kind = op["op"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise InputError(f"'{kind}' needs a 'value'", field=f"{field}.value")
        tokens = _tokens(op["path"], f"{field}.path")
        container, key = _locate(
            doc, tokens, adding=kind in ("add", "move", "copy"), field=f"{field}.path"
        )
        if kind == "add":
            _add(container, key, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(container, key, f"{field}.path")
        elif kind == "replace":
            _get(container, key, f"{field}.path")
            container[key] = copy.deepcopy(op["value"])
        elif kind == "test":
            if _get(container, key, f"{field}.path") != op["value"]:
                raise InputError(f"test failed: {op['path']} is not {op['value']!r}", field=field)
        else:
            source = _tokens(op.get("from"), f"{field}.from")
            src, src_key = _locate(doc, source, adding=False, field=f"{field}.from")
            value = _get(src, src_key, f"{field}.from")
            if kind == "move":
                _remove(src, src_key, f"{field}.from")
                container, key = _locate(doc, tokens, adding=True, field=f"{field}.path")
            _add(container, key, copy.deepcopy(value))
    return doc


# --------------------------------------------------------------------------- merge by name


def _merge_named(
    items: list[Any], patch: Any, what: str, prefix: str
) -> tuple[list[Any], list[str]]:
    """A named list with a merge patch applied: (the new list, names removed)."""
    names = _names(items)
    field = f"{prefix}.{what}"
    if isinstance(patch, list):
        kept = _names(patch)
        if left := [n for n in names if n not in kept]:
            one = left[0]
            raise InputError(
                f"the list leaves out {', '.join(left)}; address {what} by name and remove one "
                f'with null, e.g. {{"{what}": {{"{one}": null}}}}',
                field=field,
            )
        return patch, []
    if not isinstance(patch, dict):
        raise InputError(
            f'{what} is an object keyed by name, e.g. {{"{names[0] if names else "web"}": '
            "{...}}",
            field=field,
        )
    out = list(items)
    removed: list[str] = []
    for name, change in patch.items():
        where = f"{field}.{name}"
        at = names.index(name) if name in names else None
        if change is None:
            if at is None:
                raise InputError(f"there is no {what[:-1]} {name!r} to remove", field=where)
            removed.append(name)
            continue
        if at is not None:
            out[at] = merge_patch(out[at], change)
            continue
        whole = isinstance(change, dict) and ("spec" in change if what == "components" else True)
        if not whole:
            raise InputError(
                f"there is no {what[:-1]} {name!r} (the plan has: {', '.join(names) or 'none'}); "
                f"a new {what[:-1]} needs its whole plan"
                + (" (spec, kind, replicas)" if what == "components" else ""),
                field=where,
            )
        new = copy.deepcopy(change)
        holder = new["spec"] if what == "components" else new
        if isinstance(holder, dict):
            holder.setdefault("name", name)
        out.append(new)
    return [i for i in out if item_name(i) not in removed], removed


def apply_merge(
    doc: dict[str, Any], patch: dict[str, Any], prefix: str = "changes"
) -> dict[str, Any]:
    """A merge patch with `components` and `secrets` keyed by name; derived links pruned."""
    rest = {k: v for k, v in patch.items() if k not in NAMED_LISTS}
    out: dict[str, Any] = merge_patch(copy.deepcopy(doc), rest)
    for what in NAMED_LISTS:
        if what not in patch:
            continue
        if patch[what] is None:
            removed = _names(out.get(what) or [])
            out[what] = []
        else:
            out[what], removed = _merge_named(out.get(what) or [], patch[what], what, prefix)
        if what == "components" and removed:
            _prune(out, set(removed))
    return out


def _prune(plan: dict[str, Any], removed: set[str]) -> None:
    """What the planner derived from removed components' own calls goes with them."""
    plan["references"] = [r for r in plan.get("references") or [] if r.get("caller") not in removed]
    for comp in plan.get("components") or []:
        policy = comp.get("networkPolicy")
        if isinstance(policy, dict) and isinstance(policy.get("allowFrom"), list):
            policy["allowFrom"] = [
                p
                for p in policy["allowFrom"]
                if not isinstance(p, dict) or p.get("component") not in removed
            ]


def apply_edit(doc: dict[str, Any], changes: Any, prefix: str = "changes") -> dict[str, Any]:
    """Either form of `changes` applied to a plan's JSON (not validated)."""
    if isinstance(changes, list):
        return apply_json_patch(doc, changes, prefix)
    if isinstance(changes, dict) and changes:
        return apply_merge(doc, changes, prefix)
    raise InputError(
        'an edit needs \'changes\': a JSON Patch ([{"op": "replace", "path": '
        '"/components/<name>/replicas", "value": 3}]) or a merge keyed by name '
        '({"components": {"<name>": {"replicas": 3}}})',
        field=prefix,
    )


# --------------------------------------------------------------------------- validation


def field_path(loc: tuple[Any, ...] | list[Any], data: Any) -> str:
    """A pydantic location as a dotted path, list items named instead of numbered."""
    parts: list[str] = []
    node = data
    for part in loc:
        name = (
            item_name(node[part])
            if isinstance(part, int) and isinstance(node, list) and part < len(node)
            else None
        )
        parts.append(name or str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _refused(message: str, field: str) -> InputError:
    return InputError(message, field=field)


def check_references(plan: ChartPlan) -> None:
    """The spec's reference rules on a plan, naming the field that breaks one."""
    names = [c.spec.name for c in plan.components]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise _refused(f"component names must be unique ({', '.join(dup)} twice)", "components")
    secrets = {s.name for s in plan.secrets}
    have = ", ".join(sorted(secrets)) or "none"

    def secret(ref: str, field: str) -> None:
        if ref not in secrets:
            raise _refused(
                f"refers to secret {ref!r}, which is not in the plan's secrets (it has: {have}); "
                "a secret that is still referenced cannot be removed",
                field,
            )

    def component(ref: str, field: str, how: str) -> None:
        if ref not in names:
            raise _refused(
                f"{how} unknown component {ref!r} (the plan has: {', '.join(names)})", field
            )

    for comp in plan.components:
        base = f"components.{comp.spec.name}"
        sec = comp.spec.security
        if sec.capabilities.add and not sec.has_exception("capabilities"):
            raise _refused(
                "added capabilities need a security exception 'capabilities' with a reason",
                f"{base}.spec.security.capabilities.add",
            )
        for var, value in comp.spec.env.items():
            where = f"{base}.spec.env.{var}"
            if isinstance(value, SecretRef):
                secret(value.secret, f"{where}.secret")
            elif isinstance(value, ServiceRef):
                for callee, _ in value.links():
                    component(callee, f"{where}.serviceRef", "names")
                for key in value.secrets():
                    secret(key, f"{where}.format")
        for i, file in enumerate(comp.spec.secretFiles):
            secret(file.secret, f"{base}.spec.secretFiles.{i}.secret")
        for i, cfg in enumerate(comp.spec.configFiles):
            for callee, _ in cfg.links():
                component(callee, f"{base}.spec.configFiles.{i}.content", "names")
        for dep in comp.spec.dependsOn:
            component(dep, f"{base}.spec.dependsOn", "depends on")
        for dep in [*comp.waitFor, *comp.waitForJobs]:
            component(dep, f"{base}.waitFor", "waits for")
        for peer in comp.networkPolicy.allowFrom:
            component(peer.component, f"{base}.networkPolicy.allowFrom", "admits")
    for i, ref in enumerate(plan.references):
        component(ref.caller, f"references.{i}.caller", "is called by")
        component(ref.callee, f"references.{i}.callee", "calls")


def validate_plan(data: Any) -> ChartPlan:
    """An edited plan's JSON checked like a spec: the plan model, references, the spec model."""
    if not isinstance(data, dict):
        raise InputError("the edited plan must be a mapping", field="plan")
    try:
        plan = ChartPlan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(message, field=field_path(tuple(err["loc"]), data) or "plan") from exc
    check_references(plan)
    spec = {
        "name": plan.name,
        "chartVersion": plan.chartVersion,
        "components": [c.spec.dump() for c in plan.components],
        "secrets": [s.dump() for s in plan.secrets],
    }
    try:
        ChartRequirements.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(
            message, field=field_path(tuple(err["loc"]), spec) or "components"
        ) from exc
    return plan


def edit_plan(plan: ChartPlan, changes: Any, prefix: str = "changes") -> ChartPlan:
    """The plan with `changes` applied and validated; errors name `<prefix>.<field>`."""
    edited = apply_edit(plan.dump(), changes, prefix)
    try:
        return validate_plan(edited)
    except InputError as exc:
        field = f"{prefix}.{exc.field}" if prefix and exc.field else exc.field or prefix
        raise InputError(exc.message, field=field) from exc


def plan_changes(old: dict[str, Any], new: Any) -> dict[str, Any]:
    """The merge patch keyed by name that turns plan JSON `old` into `new` (what a client sends
    after a person edited the whole plan); {} when nothing changed."""
    if not isinstance(new, dict):
        raise InputError("the edited plan must be a mapping", field="plan")
    before, after = copy.deepcopy(old), copy.deepcopy(new)
    for doc in (before, after):
        for what in NAMED_LISTS:
            items = doc.get(what)
            if isinstance(items, list):
                doc[what] = {item_name(i) or str(n): i for n, i in enumerate(items)}
    patch = _diff(before, after)
    return patch if isinstance(patch, dict) else {}


def _diff(old: Any, new: Any) -> Any:
    """RFC 7386 patch from `old` to `new` (lists replaced whole)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = _diff(old[key], value)
    return patch
