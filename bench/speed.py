"""Issue 12's speed ratios, each measured side by side (A and B in turn, the ratio pair by pair).

(a) warm, in process: plan + generate + validate of examples/shop.yaml / one Helm render of that
    chart (goal <= 3). Every run changes one env value of the spec, so no two runs validate the
    same chart: "iterating" keeps the per-object result caches (objects that did not change are
    not scanned again), "first sight" empties them before each run.
(b) cold CLI: `autopilot generate examples/shop.yaml -o X --yes` / `autopilot --version`
    (goal <= 3); each run gets shop.yaml with one env value changed (as (a)), so a warm
    daemon's report memo cannot answer it
(b') the same generate handed to a warm `autopilot daemon` (AUTOPILOT_DAEMON=1; the daemon is
    started, on a temporary runtime dir, and given one run before timing; stopped after)
(c) cold CLI: the 57-service sentry-self-hosted stack / the shop example (goal < 3)
(d) per rendered object: the shop chart's render / a `helm create` scaffold's (goal <= 2)

Two floors are printed with (a) and (b), each measured side by side like the figures:
(a) floor: the renders the rules require (every values set, plus the install without the
    required secrets), one after another / one render; and the same renders on one thread
    each / one after another (helm-python-sdk runs one render at a time in a process, so
    threads do not shorten them)
(b) floor: a cold process that only loads checkov's checks / `autopilot --version`

Medians of the pair ratios are printed with the median times.

    .venv/bin/python bench/speed.py [--runs 3] [--warm-runs 7] [--only a,b,c,d]
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOP = ROOT / "examples" / "shop.yaml"
STACK = ROOT / "tests" / "fixtures" / "realworld" / "sentry-self-hosted" / "docker-compose.yml"
CLI = [sys.executable, "-m", "services.cli"]
"""The `autopilot` command of this tree (the installed script runs the same main())."""


def _paired(
    a: Callable[[], float], b: Callable[[], float], runs: int
) -> tuple[float, float, float]:
    """Median A seconds, median B seconds, median of the pairwise A/B ratios."""
    times_a, times_b, ratios = [], [], []
    for _ in range(runs):
        ta, tb = a(), b()
        times_a.append(ta)
        times_b.append(tb)
        ratios.append(ta / tb)
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def _timed_command(argv: Sequence[str], env: dict[str, str] | None = None) -> Callable[[], float]:
    """A function that runs argv (output discarded, a fresh -o folder each time), in seconds."""

    def run() -> float:
        with tempfile.TemporaryDirectory(prefix="autopilot-bench-") as tmp:
            spec = Path(tmp) / "spec" / SHOP.name
            spec.parent.mkdir()
            spec.write_bytes(_edited_shop())
            places = {"{out}": str(Path(tmp) / "out"), "{spec}": str(spec)}
            args = [places.get(a, a) for a in argv]
            start = time.perf_counter()
            done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=False)
            took = time.perf_counter() - start
        if done.returncode not in (0, 1):  # 1 is a chart that failed validation: still timed
            raise SystemExit(f"{shlex.join(args)} failed:\n{done.stderr.decode()[-2000:]}")
        return took

    return run


RENDERS_PER_SAMPLE = 20
"""(d) times this many renders per sample: the scaffold's 4 objects render in under a
millisecond, so with fewer a single Go garbage collection landing in the window or not swung
its figure by 40% (165 vs 240 µs an object)."""

_EDITS = itertools.count()


def _edited_shop() -> bytes:
    """examples/shop.yaml with one env value changed, a new one each call: no run validates
    a chart an earlier run validated (a warm daemon's report memo cannot answer it)."""
    return SHOP.read_bytes().replace(b"LOG_LEVEL: info", f"LOG_LEVEL: info-{next(_EDITS)}".encode())


def _row(label: str, a: float, b: float, ratio: float, goal: str, scale: float = 1000) -> None:
    """One figure: A and B in ms (µs per object for d), their ratio and the goal."""
    print(f"{label:58} {a * scale:9.1f} {b * scale:9.1f} {ratio:7.2f}  {goal}")


def warm(runs: int, *, first_sight: bool) -> None:
    """(a) plan + generate + validate in a warm process against one render of the chart.

    Each run changes one env value of the spec (a person iterating), so the chart differs
    from every earlier one and no whole-report result can be reused. With `first_sight` the
    per-object result caches are also emptied before each run: the figure for a chart none of
    whose objects was seen before.
    """
    import helm_python

    from services.generator.engine import generate_chart
    from services.planner.engine import plan_chart
    from services.planner.intake import intake
    from services.validator.engine import clear_caches, validate_chart
    from services.validator.helm import with_placeholders

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def full() -> float:
            data = _edited_shop()
            if first_sight:
                clear_caches()
            start = time.perf_counter()
            taken = intake(data, base_dir=SHOP.parent, name=SHOP.stem)
            plan = plan_chart(taken.requirements, notes=taken.notes)
            chart_dir = generate_chart(plan, out, force=True).chart_dir
            report = validate_chart(chart_dir)
            took = time.perf_counter() - start
            if not report.passed:
                raise SystemExit("the shop chart failed validation; the figure would be void")
            return took

        full()  # imports, checkov's set-up, schema compilation: what a service pays once
        chart_dir = out / "shop"
        values = with_placeholders(chart_dir, None)
        with helm_python.Chart.load(chart_dir) as chart:

            def render() -> float:
                start = time.perf_counter()
                chart.render(values, name="rel", namespace="bench", is_install=True)
                return time.perf_counter() - start

            render()
            a, b, ratio = _paired(full, render, runs)
            label = "first sight" if first_sight else "iterating"
            _row(
                f"(a) warm plan+generate+validate ({label}) / one render", a, b, ratio, "goal <= 3"
            )
            if not first_sight:
                required_renders(chart, chart_dir, render, runs)


def required_renders(chart: Any, chart_dir: Path, render: Callable[[], float], runs: int) -> None:
    """(a)'s floor: the renders a validation must make, serially and on threads."""
    from concurrent.futures import ThreadPoolExecutor

    import helm_python

    from services.validator.helm import load_values_sets

    sets, _ = load_values_sets(chart_dir)

    def one(values: dict[str, Any] | None) -> None:
        try:
            chart.render(values, name="rel", namespace="bench", is_install=True)
        except helm_python.HelmError:
            pass  # the install without the required secrets fails, as it must

    every = [vs.values for vs in sets] + [None]

    def serial() -> float:
        start = time.perf_counter()
        for values in every:
            one(values)
        return time.perf_counter() - start

    with ThreadPoolExecutor(len(every)) as pool:

        def threaded() -> float:
            start = time.perf_counter()
            list(pool.map(one, every))
            return time.perf_counter() - start

        a, b, ratio = _paired(serial, render, runs)
        _row(f"    floor: the {len(every)} required renders / one render", a, b, ratio, "")
        a, b, ratio = _paired(threaded, serial, runs)
        _row(f"    the {len(every)} renders on threads / one after another", a, b, ratio, "")


def per_object(runs: int) -> None:
    """(d) render time per object: the shop chart against a `helm create` scaffold."""
    import helm_python

    from services.generator.engine import generate_chart
    from services.planner.engine import plan_chart
    from services.planner.intake import intake
    from services.validator.helm import with_placeholders

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        taken = intake(SHOP.read_bytes(), base_dir=SHOP.parent, name=SHOP.stem)
        chart_dir = generate_chart(plan_chart(taken.requirements), out).chart_dir
        helm_python.Chart.create("scaffold", tmp).close()
        ours = helm_python.Chart.load(chart_dir)
        scaffold = helm_python.Chart.load(out / "scaffold")
        values = with_placeholders(chart_dir, None)

        def timer(chart: helm_python.Chart, vals: dict[str, object] | None) -> Callable[[], float]:
            count = _objects(chart.render(vals, name="rel", namespace="bench", is_install=True))

            def run() -> float:
                start = time.perf_counter()
                for _ in range(RENDERS_PER_SAMPLE):
                    chart.render(vals, name="rel", namespace="bench", is_install=True)
                return (time.perf_counter() - start) / RENDERS_PER_SAMPLE / count

            return run

        with ours, scaffold:
            a, b, ratio = _paired(timer(ours, values), timer(scaffold, None), runs)
    _row("(d) render µs per object: shop / `helm create` scaffold", a, b, ratio, "goal <= 2", 1e6)


def _objects(manifests: dict[str, str]) -> int:
    """Kubernetes objects in a render (NOTES.txt and empty documents not counted)."""
    import yaml

    from shared.libyaml import SafeLoader

    return sum(
        1
        for name, text in manifests.items()
        if not name.endswith("NOTES.txt")
        for doc in yaml.load_all(text, Loader=SafeLoader)
        if doc
    )


def daemon_row(shop: list[str], version: list[str], runs: int) -> None:
    """(b') the shop generate through a warm daemon (started and used once before timing, on
    a temporary runtime dir; stopped after) against `autopilot --version`."""
    import json
    import os

    with tempfile.TemporaryDirectory(prefix="apb", dir="/tmp") as runtime:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "AUTOPILOT_DAEMON": "1"}
        subprocess.run(
            [*CLI, "daemon", "start"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
        )
        try:
            _timed_command(shop, env)()  # the daemon's first request compiles schemas
            a, b, ratio = _paired(_timed_command(shop, env), _timed_command(version), runs)
            status = subprocess.run(
                [*CLI, "daemon", "status", "-o", "json"], cwd=ROOT, env=env, capture_output=True
            )
            served = json.loads(status.stdout or b"{}").get("served", 0)
        finally:
            subprocess.run(
                [*CLI, "daemon", "stop"], cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL
            )
    label = "(b') generate shop, warm daemon (started first) / --version"
    _row(label, a, b, ratio, "goal <= 3")
    if served != runs + 1:  # the tree changed under the daemon: runs went in process
        print(f"     (the daemon served {served} of {runs + 1} runs; the figure is void)")


def main() -> None:
    """Print each ratio with its median times and the commands that reproduce it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="pairs of cold CLI runs")
    parser.add_argument("--warm-runs", type=int, default=7, help="pairs of in-process runs")
    parser.add_argument("--only", default="a,b,c,d", help="which figures, e.g. a,d")
    args = parser.parse_args()
    only = set(args.only.split(","))
    shop = [*CLI, "generate", "{spec}", "-o", "{out}", "--yes", "-q"]
    stack = [*CLI, "generate", str(STACK.relative_to(ROOT)), "-o", "{out}", "--yes", "-q"]
    version = [*CLI, "--version"]
    checkov = [sys.executable, "-c", "from services.validator import security; security.warm_up()"]
    print(f"{'figure':58} {'A ms':>9} {'B ms':>9} {'A/B':>7}")
    if "a" in only:
        warm(args.warm_runs, first_sight=False)
        warm(args.warm_runs, first_sight=True)
    if "b" in only:
        a, b, ratio = _paired(_timed_command(shop), _timed_command(version), args.runs)
        _row("(b) cold `autopilot generate shop` / `autopilot --version`", a, b, ratio, "goal <= 3")
        a, b, ratio = _paired(_timed_command(checkov), _timed_command(version), args.runs)
        _row("    floor: a process that only loads checkov / --version", a, b, ratio, "")
        daemon_row(shop, version, args.runs)
    if "c" in only:
        a, b, ratio = _paired(_timed_command(stack), _timed_command(shop), args.runs)
        _row("(c) cold CLI: sentry-self-hosted (57 services) / shop", a, b, ratio, "goal < 3")
    if "d" in only:
        per_object(args.warm_runs)
    print("\nreproduce (from the repository root; X is any empty folder):")
    print(f"  {sys.executable} bench/speed.py --runs {args.runs} --warm-runs {args.warm_runs}")
    for argv in (shop, version, stack):
        print("  " + shlex.join(argv).replace("{out}", "X").replace("{spec}", "examples/shop.yaml"))


if __name__ == "__main__":
    main()
