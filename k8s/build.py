"""Build the project's own chart: k8s/autopilot.yaml (generator input) + k8s/overlay/ -> k8s/autopilot/.

    make k8s                       # or: .venv/bin/python k8s/build.py [--root DIR] [--no-validate]

1. `autopilot generate <root>/autopilot.yaml --force` into a fresh directory (nothing of the
   previous build survives, so no `*.autopilot-new` or `.autopilot/pending/`), without the
   generator's `.autopilot/` bookkeeping;
2. every overlay file except values.yaml and values.schema.json is copied to the same path in
   the chart (the overlay adds files; replacing a generated one is refused);
3. overlay/values.yaml (each key documented with `## @param`) is appended to the generated
   values.yaml, overlay/values.schema.json's properties join the generated schema, and the
   overlay's parameters join the README's tables (a top-level key the generator already
   writes is refused);
4. the result replaces <root>/<chart>/ and is validated (`autopilot validate`).

Never edit k8s/autopilot/ by hand: change the spec (what the native spec can say) or the overlay.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SPEC = "autopilot.yaml"
OVERLAY = "overlay"
VALUES = "values.yaml"
SCHEMA = "values.schema.json"
MANIFEST = Path(".autopilot") / "manifest.json"
_PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")
_REGENERATING = """\
This chart is built, never edited: `make k8s` (k8s/build.py in the K8s Autopilot repository)
generates it from `k8s/autopilot.yaml` and adds `k8s/overlay/` (the migration hook Job, the
ServiceMonitor, the KEDA ScaledObjects, the flow NetworkPolicies and their values). Change the
spec or the overlay and run `make k8s`; the tests check that the committed chart is exactly
that build's output.
"""


class BuildError(Exception):
    """The overlay does not fit the generated chart, or a step failed."""


def _run(args: list[str]) -> None:
    """Run the autopilot CLI with this interpreter; its output goes to the terminal."""
    done = subprocess.run([sys.executable, "-m", "services.cli", *args], check=False)
    if done.returncode != 0:
        raise BuildError(f"autopilot {args[0]} failed (exit {done.returncode})")


def generate(spec: Path, out: Path) -> Path:
    """The generator's chart for `spec`, written under `out` (a fresh directory)."""
    _run(["generate", str(spec), "-o", str(out), "--yes", "--force", "--quiet"])
    name = str(yaml.safe_load(spec.read_text(encoding="utf-8"))["name"])
    chart = out / name
    manifest = json.loads((chart / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("pending"):
        raise BuildError(f"the generator left pending files: {manifest['pending']}")
    # Bookkeeping for merging hand edits, which this chart has none of (and it names the input
    # by absolute path); without it a plain `autopilot generate` into k8s/ asks for --force.
    shutil.rmtree(chart / MANIFEST.parent)
    return chart


def documented(text: str) -> dict[str, str]:
    """`## @param path description` lines of a values file, in order."""
    return {m[1]: m[2].strip() for line in text.splitlines() if (m := _PARAM.match(line))}


def _check_documented(values: dict[str, Any], params: dict[str, str], prefix: str = "") -> None:
    """Every key at a level where any key is documented has its own `## @param`."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path not in params:
            raise BuildError(f"overlay {VALUES}: {path} has no '## @param {path} ...' comment")
        if isinstance(value, dict) and any(p.startswith(f"{path}.") for p in params):
            _check_documented(value, params, f"{path}.")


def merge_values(generated: str, overlay: str) -> str:
    """The generated values.yaml with the overlay's values (and their comments) appended."""
    ours = yaml.safe_load(generated) or {}
    theirs = yaml.safe_load(overlay) or {}
    clash = sorted(set(ours) & set(theirs))
    if clash:
        raise BuildError(f"overlay {VALUES} redefines generated keys {clash}: use the spec")
    params = documented(overlay)
    _check_documented(theirs, params)
    missing = [p for p in params if _lookup(theirs, p) is _MISSING]
    if missing:
        raise BuildError(f"overlay {VALUES} documents keys it does not set: {missing}")
    return generated.rstrip("\n") + "\n\n" + overlay.strip("\n") + "\n"


def merge_schema(generated: str, fragment: str) -> str:
    """The generated values.schema.json with the fragment's properties (and required) added."""
    schema = json.loads(generated)
    extra = json.loads(fragment)
    props: dict[str, Any] = schema["properties"]
    clash = sorted(set(props) & set(extra.get("properties", {})))
    if clash:
        raise BuildError(f"overlay {SCHEMA} redefines generated properties {clash}")
    props.update(extra.get("properties", {}))
    if extra.get("required"):
        schema["required"] = [*schema.get("required", []), *extra["required"]]
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


_MISSING = object()


def _lookup(values: Any, path: str) -> Any:
    """The value at a dotted path, or _MISSING."""
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return _MISSING
        values = values[part]
    return values


def _cell(text: str) -> str:
    """Text safe in one Markdown table cell."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _default(value: Any) -> str:
    """A default as the generator's README shows it: compact JSON, cut at 80 characters."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"`{_cell(text.replace('`', chr(39)))}`"


def merge_readme(generated: str, overlay: str) -> str:
    """The README with the build's regeneration note and the overlay's parameter tables."""
    head, sep, rest = generated.partition("## Regenerating\n")
    after = rest.find("\n## ")
    if not sep or after < 0:
        raise BuildError("the generated README has no '## Regenerating' section to replace")
    text = f"{head}{sep}\n{_REGENERATING}{rest[after:]}".rstrip("\n") + "\n"
    values = yaml.safe_load(overlay) or {}
    params = documented(overlay)
    for top in values:
        rows = []
        for path, description in params.items():
            if path != top and not path.startswith(f"{top}."):
                continue
            group = any(p.startswith(f"{path}.") for p in params)
            shown = "" if group else _default(_lookup(values, path))
            rows.append(f"| `{path}` | {_cell(description)} | {shown} |")
        header = ["", f"### `{top}` (overlay)", "", _cell(params[top]), ""]
        table = ["| Parameter | Description | Default |", "| --- | --- | --- |", *rows]
        text += "\n".join(header + table) + "\n"
    return text


def apply_overlay(chart: Path, overlay: Path) -> None:
    """Copy the overlay's files into the chart and merge its values, schema and README rows."""
    for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
        rel = source.relative_to(overlay)
        if rel in (Path(VALUES), Path(SCHEMA)):
            continue
        target = chart / rel
        if target.exists():
            raise BuildError(f"overlay file {rel} would replace a generated file: use the spec")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    values = (overlay / VALUES).read_text(encoding="utf-8")
    merges: dict[str, Callable[[str], str]] = {
        VALUES: lambda text: merge_values(text, values),
        SCHEMA: lambda text: merge_schema(text, (overlay / SCHEMA).read_text(encoding="utf-8")),
        "README.md": lambda text: merge_readme(text, values),
    }
    for name, merge in merges.items():
        path = chart / name
        path.write_text(merge(path.read_text(encoding="utf-8")), encoding="utf-8")


def build(root: Path, *, validate: bool = True) -> Path:
    """Build <root>/<chart>/ from <root>/autopilot.yaml and <root>/overlay/; return its path."""
    with tempfile.TemporaryDirectory(prefix="autopilot-chart-") as tmp:
        chart = generate(root / SPEC, Path(tmp))
        apply_overlay(chart, root / OVERLAY)
        target = root / chart.name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(chart, target)
    if validate:
        _run(["validate", str(target)])
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: build the chart, exit 1 with a message when the overlay does not fit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=HERE, help="folder with autopilot.yaml and overlay/"
    )
    parser.add_argument("--no-validate", action="store_true", help="skip validating the result")
    args = parser.parse_args(argv)
    try:
        target = build(args.root, validate=not args.no_validate)
    except BuildError as exc:
        sys.stderr.write(f"make k8s: {exc}\n")
        return 1
    sys.stderr.write(f"built {target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
