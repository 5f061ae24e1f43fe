"""Habits of the layout that a test can hold cheaply (issue 13): one exception tree, test
support under tests/ only, and the error table naming classes that exist.

Each check reads the source; no service is imported (only shared.errors and, for its table,
psycopg and nats).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
from pathlib import Path

from shared import errors

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("services", "shared")

EXCEPTIONS_OUTSIDE_THE_TREE = {
    "services/cli/daemon.py:DaemonError": "the daemon's client decides before it imports "
    "anything heavy, and shared/errors.py imports the pydantic models; every DaemonError is "
    "caught where it is raised (the client falls back in process) or answered by main() in one "
    "line",
    "services/planner/compose/load.py:_LimitExceeded": "a yaml.YAMLError raised inside PyYAML's "
    "composer to stop an alias bomb and caught by the loader beside it; it never leaves load.py",
    "services/validator/kube_schema.py:_Unresolvable": "control flow of the $ref resolver: "
    "caught in kube_schema.py, where a schema that cannot be resolved falls back; never an error",
    "services/validator/lint.py:Unsure": "a signal, not an error: Python's lint cannot be sure, "
    "so the validator's engine catches it and asks `helm lint` instead",
}
"""Classes deriving from Exception that are not under AutopilotError, with the reason each may."""


@functools.cache
def _sources() -> list[tuple[str, ast.Module]]:
    """Every production module as (path relative to the checkout, parsed tree)."""
    found = []
    for top in PRODUCTION:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            found.append((rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)))
    return found


def _base_name(node: ast.expr) -> str:
    """The last name of a base class expression (`yaml.YAMLError` -> `YAMLError`)."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Subscript):
        return _base_name(node.value)
    return ""


def _looks_like_exception(name: str) -> bool:
    """A builtin exception, or a library's by its conventional name."""
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        return True
    return name.endswith(("Error", "Exception"))


def test_every_exception_class_is_in_the_one_tree() -> None:
    """Outside shared/errors.py an exception class derives from a class of the tree (so it has
    a row in TABLE: an HTTP status and an ErrorCode), or is allow-listed with its reason."""
    tree = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.AutopilotError)
    }
    classes = [
        (f"{rel}:{node.name}", node.name, [_base_name(b) for b in node.bases])
        for rel, module in _sources()
        if rel != "shared/errors.py"
        for node in ast.walk(module)
        if isinstance(node, ast.ClassDef)
    ]
    grown = True
    while grown:  # subclasses of the services' own subclasses are in the tree too
        grown = False
        for _, name, bases in classes:
            if name not in tree and any(b in tree for b in bases):
                tree.add(name)
                grown = True
    outside = sorted(
        where
        for where, name, bases in classes
        if name not in tree and any(_looks_like_exception(b) for b in bases)
    )
    assert outside == sorted(EXCEPTIONS_OUTSIDE_THE_TREE), (
        "derive these from a class of shared/errors.py (and give a new parent its TABLE row), "
        f"or allow-list them here with the reason: {outside}"
    )


def test_production_code_never_imports_tests() -> None:
    """Fakes and fixtures live under tests/; no module of services/ or shared/ imports them."""
    offending = []
    for rel, module in _sources():
        for node in ast.walk(module):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offending += [f"{rel}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offending == []


def test_foreign_rows_name_exceptions_that_exist() -> None:
    """A misspelled name in FOREIGN would silently never match: each names an exception class."""
    for name in errors.FOREIGN:
        module, _, attr = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attr, None)
        assert isinstance(cls, type) and issubclass(cls, BaseException), name
    statuses = {status for status, _ in errors.FOREIGN.values()}
    for status in statuses:
        assert len(errors.foreign_classes(status)) == sum(
            row[0] == status for row in errors.FOREIGN.values()
        )


def test_the_table_answers_503_for_postgres_and_nats_away_only() -> None:
    """The gateway's 503 + Retry-After comes from FOREIGN: these six (PoolTimeout through its
    OperationalError base) and not the transient hiccups that stay a plain 500."""
    import nats.errors
    import psycopg
    import psycopg_pool

    away = (
        psycopg.OperationalError(),
        psycopg.InterfaceError(),
        psycopg_pool.PoolTimeout(),
        nats.errors.ConnectionClosedError(),
        nats.errors.NoServersError(),
        nats.errors.TimeoutError(),
    )
    assert [errors.http_status(exc) for exc in away] == [503] * len(away)
    others = (TimeoutError(), ConnectionError(), nats.errors.NoRespondersError(), KeyError("x"))
    assert [errors.http_status(exc) for exc in others] == [500] * len(others)
    assert errors.http_status(errors.TooLarge("x")) == 413
    assert not errors.is_transient(psycopg.InterfaceError())
