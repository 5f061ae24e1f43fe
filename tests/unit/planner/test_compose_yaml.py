"""The hardened YAML loader reads through libyaml when it can: the same data and the same
errors as the pure-Python loader it falls back to, with the same limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.planner.compose import load
from services.planner.compose.load import MAX_ALIASES, MAX_DEPTH, parse_yaml
from shared.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = sorted(
    [
        *ROOT.glob("tests/fixtures/realworld/*/*compose*.y*ml"),
        *ROOT.glob("examples/*.yaml"),
        *ROOT.glob("examples/compose/*.yaml"),
    ]
)


def _answer(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    """parse_yaml's data or error message, with libyaml or without it."""
    if not fast:
        monkeypatch.setattr(load, "_FastLoader", None)
    try:
        return parse_yaml(text)
    except InputError as exc:
        return f"InputError: {exc}"
    finally:
        monkeypatch.undo()


def test_libyaml_is_used_here() -> None:
    assert load._FastLoader is not None  # otherwise every test below compares the slow path


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_document_reads_the_same_both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text()
    fast = _answer(text, fast=True, monkeypatch=monkeypatch)
    assert not isinstance(fast, str), fast
    assert fast == _answer(text, fast=False, monkeypatch=monkeypatch)


CASES = {
    "yaml 1.2 scalars": "a: on\nb: yes\nc: 22:22\nd: 0o17\ne: 0x1F\nf: True\ng: 1_000\nh: 010\n",
    "merge keys": "x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  b: 3\n",
    "tags": "services:\n  a:\n    ports: !reset []\n    environment: !override {A: '1'}\n"
    "    command: !override sleep\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "duplicate in a nested map": "s:\n  x:\n    k: 1\n    k: 2\n",
    "syntax": "a: b: c\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "tab indent": "a:\n\tb: 1\n",
    "unknown tag": "a: !python/object:os.system ls\n",
    "depth at the limit": "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1),
    "scalar one below the limit": "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH,
    "depth over the limit": "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    "mapping depth": "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 1)),
    "aliases at the limit": "a: &a 1\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n",
    "aliases over the limit": "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n",
    "bomb": "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
    + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)
    ),
    "control character": "a: \x07b\n",
    "empty": "",
    "plain": "just text",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_corner_cases_read_and_fail_the_same_both_ways(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _answer(text, fast=True, monkeypatch=monkeypatch)
    assert fast == _answer(text, fast=False, monkeypatch=monkeypatch)


def test_the_limits_are_met_on_the_fast_path_before_libyaml_composes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    composed: list[str] = []
    real = load._FastLoader

    class Spy(real):  # type: ignore[misc,valid-type]
        def get_single_data(self) -> object:
            composed.append("composed")
            return super().get_single_data()

    monkeypatch.setattr(load, "_FastLoader", Spy)
    for name in ("depth over the limit", "aliases over the limit"):
        with pytest.raises(InputError, match="too complex"):
            parse_yaml(CASES[name])
    assert composed == []
    parse_yaml(CASES["depth at the limit"])
    assert composed == ["composed"]


def test_a_duplicate_key_names_the_key_and_line() -> None:
    with pytest.raises(InputError, match=r"line 3, column 1: found the key 'a' twice"):
        parse_yaml(CASES["duplicate key"])


def test_a_character_yaml_refuses_is_a_clear_input_error() -> None:
    with pytest.raises(InputError, match="not valid YAML.*unacceptable character #x0007"):
        parse_yaml(CASES["control character"])
