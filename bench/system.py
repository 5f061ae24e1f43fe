"""Issue 12's running-system figures: `autopilot up` end to end, against the same work done in one
warm process, measured in one run.

(e) latency, one process per service: examples/shop.yaml submitted to `autopilot up` with every
    gate auto-approved, submit -> published, against 1.5 x the in-process time + 100 ms per
    swarm hop (goal <= 1). Runs alternate: in process, then through the system, the ratio
    taken pair by pair; medians are printed.
(f) throughput, `autopilot up --replicas generator=2 --replicas validator=2` on this machine:
    N charts (the examples and a few real-world Compose files, in turn) kept C at a time in
    flight: charts per second, p50 and p95 of submit -> published, and the bottleneck.

In process (the denominator of (e)) is what the running system computes per chart, in one warm
process: intake, plan, generate, the generator's self-check (the runs proof: one render under a
foreign release name and the runs check), the validator's validation (with the validator's
result caches emptied first, as its own process sees the chart), and `helm package` at
publish. (An auto-approved deployment gate renders no diff, so none is counted.) It is also
printed without the self-check (the work a chart needs),
with a second ratio against that.

Every submission gets a chart name of its own (`shop-e1`, ...): no two charts are the same
content, no result is reused across them, and none has an earlier publication to diff against.

Submit is the client's clock just before the POST; published is the workflow's `finished_at`
(the gateway's clock; the same machine clock), read by polling GET /v1/workflows/{id} every
0.5 s, so the poll interval is not in the figure (in (f) a slot may idle up to 0.5 s before
its next submission; the polls are counted among the gateway's API calls). Swarm hops are the
swarm requests the workflow dispatched (planning, generation, validation, and two more per
fix-loop round), counted from its checkpoint history (GET /v1/workflows/{id}/history).

Where the time goes, per hop: queue = the gateway's dispatch checkpoint -> the swarm's first
checkpoint of that attempt (read from PostgreSQL; below zero when the swarm started before the
gateway's checkpoint of the dispatch was written); work = first -> last swarm checkpoint, split
by node; return = last swarm checkpoint -> the gateway's await checkpoint (the result event
published, taken up by the gateway, the workflow resumed). The gateway's own steps are the
times between its other checkpoints, plus accept (submit -> first checkpoint) and finish (last
checkpoint -> finished_at). CPU seconds per service process (and its children) come from /proc
over each phase, the machine's busy time from /proc/stat; checkpoint-write and request times
from each process's /metrics.

The system runs on embedded NATS and PostgreSQL in a fresh data dir on free ports (what
`autopilot up` does for a user), so nothing is shared with servers already on the machine.

    .venv/bin/python bench/system.py [--runs 5] [--charts 20] [--concurrency 4] [--only e,f]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOP = ROOT / "examples" / "shop.yaml"
MIX = [
    SHOP,
    ROOT / "examples" / "inference.yaml",
    ROOT / "examples" / "queue-worker.yaml",
    ROOT / "examples" / "compose" / "wordpress-mysql.yaml",
    ROOT / "tests" / "fixtures" / "realworld" / "ghost" / "docker-compose.yml",
    ROOT / "examples" / "compose" / "gitea-postgres.yaml",
    ROOT / "tests" / "fixtures" / "realworld" / "example-voting-app" / "docker-compose.yml",
]
"""The throughput run's inputs, submitted in turn: three specs and four Compose files."""
THROUGHPUT_REPLICAS = {"generator": 2, "validator": 2}
POLL_SECONDS = 0.5
"""How often a workflow is polled; the figures come from its finished_at, not from the poll."""
HOP_BUDGET = 0.1
"""Seconds the goal allows per swarm hop."""
FINAL = {"completed", "failed", "rejected", "cancelled"}
SWARMS = ("planning", "generation", "validation")
SERVICE_OF = {"planning": "planner", "generation": "generator", "validation": "validator"}


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Input:
    """One file to submit: its bytes, its folder (for a Compose file's .env) and base name."""

    path: Path
    data: bytes
    name: str
    dotenv: str | None

    @classmethod
    def load(cls, path: Path) -> Input:
        """Read a spec or Compose file as `autopilot submit` does (name, .env beside it)."""
        from services.cli.common import compose_chart_name

        data = path.read_bytes()
        dotenv_path = path.parent / ".env"
        dotenv = dotenv_path.read_text(errors="replace") if dotenv_path.is_file() else None
        name = compose_chart_name(str(path), data) or _spec_name(data)
        return cls(path, data, name, dotenv)

    def body(self, name: str) -> dict[str, Any]:
        """The POST body of `autopilot submit --yes --name <name>` for this file."""
        from services.cli.commands.submit import request_body

        return request_body(self.data, yes=True, name=name, dotenv=self.dotenv)


def _spec_name(data: bytes) -> str:
    """A native spec's own `name`."""
    import yaml

    return str(yaml.safe_load(data)["name"])


# ----------------------------------------------------------------------------- in process


class InProcess:
    """What the running system computes per chart, step by step, in this (warm) process."""

    def __init__(self, out: Path) -> None:
        """Import everything and warm checkov and the schemas up, as a service does at start."""
        from services.validator.engine import warm_up

        self.out = out
        warm_up()

    def run(self, item: Input, name: str) -> dict[str, float]:
        """Seconds of each step for one chart under `name`; raises if it fails validation."""
        from services.cli.agentic import renamed
        from services.gateway.charts import package_chart
        from services.generator.engine import generate_chart
        from services.planner.engine import plan_chart
        from services.planner.intake import InputKind, intake
        from services.validator.engine import runs_proof, validate_chart
        from shared.files import read_tree

        steps: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(step: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            steps[step] = now - clock
            clock = now

        taken = intake(item.data, base_dir=item.path.parent, name=name, dotenv=item.dotenv)
        requirements = taken.requirements
        if taken.kind is InputKind.REQUIREMENTS:
            requirements = renamed(requirements, name)
        lap("intake")
        plan = plan_chart(requirements, notes=taken.notes)
        lap("plan")
        chart_dir = generate_chart(plan, self.out, force=True).chart_dir
        lap("generate")
        runs_proof(chart_dir)
        lap("self_check")
        _forget_validation_results()  # nor has the validator's
        clock = time.perf_counter()
        report = validate_chart(chart_dir)
        lap("validate")
        if not report.passed:
            raise SystemExit(f"{item.path.name} as {name} fails validation; the figure is void")
        files = read_tree(chart_dir, skip=(".autopilot/",))
        package_chart({k: v.encode() for k, v in files.items()}, name)
        lap("package")
        return steps


def _forget_validation_results() -> None:
    """Empty the validator's in-process result caches and whole-report memo (what another
    process has not got)."""
    from services.validator.engine import clear_caches

    clear_caches()


# ----------------------------------------------------------------------------- the system


@dataclass
class System:
    """A running `autopilot up` with embedded servers, and what the bench reads of it."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    database_url: str = ""
    metrics: dict[str, str] = field(default_factory=dict)
    """Process name -> its /metrics URL, as `up` printed them."""

    def pids(self) -> dict[str, int]:
        """Process name -> pid: the services, their replicas, nats, postgres, and `up`."""
        found = {"up": self.process.pid}
        for path in (self.data_dir / "pids").glob("*.pid"):
            found[path.stem] = int(path.read_text())
        return found


@contextmanager
def running(replicas: dict[str, int]) -> Iterator[System]:
    """`autopilot up [--replicas ...]` in a fresh data dir on free ports, stopped afterwards."""
    from services.cli.demo import scratch_dir, wait_ready
    from shared.infra.embedded import free_port

    flags = [f"--replicas={service}={count}" for service, count in replicas.items()]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPILOT_")}
    with scratch_dir("autopilot-bench-system-") as data_dir:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *flags,
        ]
        log = data_dir / "up.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=environ, stdout=out, stderr=subprocess.STDOUT)
        system = System(proc, data_dir, f"http://127.0.0.1:{port}")
        try:
            wait_ready(system.url, seconds=180, process=proc)
            _wait_swarms(system, replicas)
            text = log.read_text(errors="replace")
            found = re.search(r"embedded PostgreSQL ready at (\S+)", text)
            if found is None:
                raise RuntimeError("up.log does not name the embedded PostgreSQL")
            system.database_url = found.group(1)
            system.metrics = dict(re.findall(r"^\s+(\S+)\s+(http://\S+/metrics)$", text, re.M))
            yield system
        except BaseException:
            sys.stderr.write(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_swarms(system: System, replicas: dict[str, int], seconds: float = 180) -> None:
    """Until every swarm process answers /readyz (started, NATS and Postgres reachable)."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = (system.data_dir / "up.log").read_text(errors="replace")
        urls = re.findall(
            r"^\s+(planner\S*|generator\S*|validator\S*)\s+(http://\S+)/metrics$", text, re.M
        )
        expected = sum(replicas.get(SERVICE_OF[s], 1) for s in SWARMS)
        if len(urls) >= expected and all(_ready(url) for _, url in urls):
            return
        time.sleep(0.5)
    raise TimeoutError(f"swarm services not ready after {seconds:.0f}s:\n{text[-2000:]}")


def _ready(url: str) -> bool:
    """Whether a service's /readyz answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Done:
    """One workflow through the system."""

    id: str
    name: str
    status: str
    latency: float
    """Seconds from just before the POST to the workflow's finished_at."""
    submitted: float
    finished: float
    """Both wall-clock epoch seconds."""
    error: str = ""


def submit_and_wait(client: httpx.Client, body: dict[str, Any], timeout: float = 600) -> Done:
    """POST one workflow and poll it until it ends; its latency from server timestamps."""
    submitted = time.time()
    resp = client.post("/v1/workflows", json=body)
    if resp.status_code != 202:
        raise SystemExit(f"submit refused: {resp.status_code} {resp.text[:500]}")
    wf = str(resp.json()["id"])
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/v1/workflows/{wf}").json()
        if view["status"] in FINAL:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"workflow {wf} did not finish in {timeout:.0f}s: {view}")
        time.sleep(POLL_SECONDS)
    finished = datetime.fromisoformat(view["finished_at"]).timestamp()
    name = str(view.get("name") or "")
    error = str((view.get("error") or {}).get("message") or "")
    return Done(wf, name, view["status"], finished - submitted, submitted, finished, error)


# ----------------------------------------------------------------------------- where time goes


@dataclass
class Hop:
    """One swarm request of a workflow and where its time went."""

    swarm: str
    attempt: int
    queue: float
    work: float
    back: float
    nodes: dict[str, float]


def gateway_steps(client: httpx.Client, wf: str) -> list[tuple[str, float]]:
    """(node, epoch seconds its checkpoint was written), oldest first, from /history."""
    history = client.get(f"/v1/workflows/{wf}/history").json()["checkpoints"]
    steps = []
    for entry in reversed(history):
        for node in entry.get("node") or []:
            steps.append((node, datetime.fromisoformat(entry["created_at"]).timestamp()))
    return steps


async def swarm_timelines(
    system: System, wf: str, attempts: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """(swarm, attempt) -> [(node that ran next or "end", epoch seconds of the checkpoint)]."""
    import importlib

    from shared.config import Settings
    from shared.events import Swarm, thread_id
    from shared.infra.checkpoint import open_checkpointer, serializer

    key = (system.data_dir / "aes.key").read_text().strip()
    serde = serializer(Settings(LANGGRAPH_AES_KEY=key))
    found: dict[tuple[str, int], list[tuple[str, float]]] = {}
    async with open_checkpointer(system.database_url, serde=serde, setup=False) as saver:
        for swarm, attempt in attempts:
            module = importlib.import_module(f"services.{SERVICE_OF[swarm]}.graph")
            graph = module.build_graph().compile(checkpointer=saver)
            config: Any = {"configurable": {"thread_id": thread_id(wf, Swarm(swarm), attempt)}}
            snaps = [s async for s in graph.aget_state_history(config)]
            found[(swarm, attempt)] = [
                (s.next[0] if s.next else "end", datetime.fromisoformat(s.created_at).timestamp())
                for s in reversed(snaps)
                if s.created_at
            ]
    return found


def gateway_own(steps: Sequence[tuple[str, float]], done: Done) -> dict[str, float]:
    """Seconds of the gateway's own steps (node -> time since the previous checkpoint, summed;
    a hop's await is left out), plus `accept` (submit -> first checkpoint) and `finish` (last
    checkpoint -> finished_at)."""
    own: dict[str, float] = defaultdict(float)
    if not steps:
        return own
    own["accept"] = steps[0][1] - done.submitted
    for (_, before), (node, at) in itertools.pairwise(steps):
        if not node.startswith("await_"):
            own[node] += at - before
    own["finish"] = done.finished - steps[-1][1]
    return dict(own)


def hops(
    client: httpx.Client,
    system: System,
    wf: str,
    steps: Sequence[tuple[str, float]] | None = None,
) -> list[Hop]:
    """Every swarm hop of a finished workflow: queue, work (by node) and return seconds."""
    steps = gateway_steps(client, wf) if steps is None else steps
    counters: dict[str, int] = defaultdict(int)
    pairs: list[tuple[str, int, float, float]] = []
    for i, (node, at) in enumerate(steps):
        if not node.startswith("dispatch_"):
            continue
        swarm = node.removeprefix("dispatch_")
        counters[swarm] += 1
        back = next((t for n, t in steps[i + 1 :] if n == f"await_{swarm}"), at)
        pairs.append((swarm, counters[swarm], at, back))
    lines = asyncio.run(swarm_timelines(system, wf, [(s, a) for s, a, _, _ in pairs]))
    found = []
    for swarm, attempt, dispatched, resumed in pairs:
        line = lines.get((swarm, attempt)) or []
        if len(line) < 2:
            continue
        nodes = {
            node: later - at
            for (node, at), (_, later) in itertools.pairwise(line)
            if node not in ("end", "__start__")
        }
        start, end = line[0][1], line[-1][1]
        found.append(Hop(swarm, attempt, start - dispatched, end - start, resumed - end, nodes))
    return found


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, reaped children included) of each root pid's process tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        spent[pid] = sum(int(v) for v in fields[11:15]) / ticks
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parent.items():
        children[ppid].append(pid)

    def tree(pid: int) -> float:
        return spent.get(pid, 0.0) + sum(tree(c) for c in children.get(pid, []))

    services = {n: p for n, p in roots.items() if n != "up"}
    totals = {name: tree(pid) for name, pid in services.items()}
    if "up" in roots:  # `up` itself, without the services and servers it started
        up = roots["up"]
        totals["up"] = spent.get(up, 0.0) + sum(
            tree(c) for c in children.get(up, []) if c not in services.values()
        )
    return totals


@dataclass
class CpuUse:
    """CPU seconds over a phase: per process tree, and the whole machine's busy time."""

    processes: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    """Busy CPU seconds of every core together (anything running, not only the system)."""


def machine_busy() -> float:
    """Busy CPU seconds of all cores since boot, from /proc/stat (idle and iowait left out)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_meter(system: System) -> Iterator[CpuUse]:
    """CPU seconds each process (and the machine) spent while the block ran, filled in at its end;
    `bench` is this process (in-process runs and polling)."""
    pids = system.pids()
    before = cpu_seconds(pids)
    self_before = time.process_time()
    machine_before = machine_busy()
    use = CpuUse()
    yield use
    after = cpu_seconds(pids)
    use.processes.update({name: after[name] - before.get(name, 0.0) for name in after})
    use.processes["bench (this)"] = time.process_time() - self_before
    use.machine = machine_busy() - machine_before


def scrape(system: System) -> dict[str, dict[str, float]]:
    """Process name -> {sample name with labels: value} of the autopilot_ metrics it exports."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, float]] = {}
    for name, url in system.metrics.items():
        try:
            text = httpx.get(url, timeout=5).text
        except httpx.HTTPError:
            continue
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("autopilot_") and sample.name.endswith(
                    ("_sum", "_count", "_total")
                ):
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    samples[f"{sample.name}{{{labels}}}"] = sample.value
        found[name] = samples
    return found


def metric_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], prefix: str
) -> dict[str, float]:
    """Per service (replicas summed): how much the samples starting with `prefix` grew."""
    grew: dict[str, float] = defaultdict(float)
    for process, samples in after.items():
        service = process.split("-")[0]
        for key, value in samples.items():
            if key.startswith(prefix):
                grew[service] += value - before.get(process, {}).get(key, 0.0)
    return dict(grew)


# ----------------------------------------------------------------------------- printing


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds."""
    return f"{seconds * 1000:.0f} ms"


def print_hops(found: Sequence[Hop], label: str) -> dict[str, dict[str, float]]:
    """Medians per swarm of queue, work, return and each node; returns them."""
    by_swarm: dict[str, list[Hop]] = defaultdict(list)
    for hop in found:
        by_swarm[hop.swarm].append(hop)
    print(f"  where a hop's time goes ({label}; medians per swarm):")
    summary: dict[str, dict[str, float]] = {}
    for swarm in SWARMS:
        these = by_swarm.get(swarm) or []
        if not these:
            continue
        med = {
            "queue": statistics.median(h.queue for h in these),
            "queue_p95": percentile([h.queue for h in these], 95),
            "work": statistics.median(h.work for h in these),
            "back": statistics.median(h.back for h in these),
        }
        nodes = {n for h in these for n in h.nodes}
        node_med = {n: statistics.median(h.nodes.get(n, 0.0) for h in these) for n in nodes}
        med.update({f"node:{n}": v for n, v in node_med.items()})
        summary[swarm] = med
        split = ", ".join(f"{n} {ms(v)}" for n, v in sorted(node_med.items(), key=lambda x: -x[1]))
        print(
            f"    {swarm:<11} queue {ms(med['queue']):>8} (p95 {ms(med['queue_p95'])})  "
            f"work {ms(med['work']):>8} [{split}]  return {ms(med['back'])}  x{len(these)}"
        )
    return summary


def print_cpu(use: CpuUse, wall: float, charts: int) -> None:
    """CPU seconds per process over a phase, per chart, and how busy the machine was."""
    cores = os.cpu_count() or 1
    spent = use.processes
    total = sum(spent.values())
    print(
        f"  CPU over {wall:.1f} s wall ({cores} cores): the machine "
        f"{use.machine / (wall * cores):.0%}"
        f" busy, these processes {total / (wall * cores):.0%}; per chart:"
    )
    for name, seconds in sorted(spent.items(), key=lambda x: -x[1]):
        if seconds >= 0.005 * charts:
            print(f"    {name:<14} {ms(seconds / charts):>9}  {seconds / total:6.1%}")


# ----------------------------------------------------------------------------- the figures


def latency(runs: int, work: InProcess) -> None:
    """(e) shop through the system, one process per service, against in process."""
    shop = Input.load(SHOP)
    names = (f"shop-e{i}" for i in itertools.count())
    with running({}) as system, httpx.Client(base_url=system.url, timeout=30) as client:
        # One chart each way first: imports and first-use costs a warm service has paid.
        work.run(shop, next(names))
        submit_and_wait(client, shop.body(next(names)))
        before = scrape(system)
        pairs: list[tuple[dict[str, float], Done]] = []
        started = time.monotonic()
        in_process_cpu = 0.0
        with cpu_meter(system) as spent:
            for _ in range(runs):
                cpu = time.process_time()
                steps = work.run(shop, next(names))
                in_process_cpu += time.process_time() - cpu
                done = submit_and_wait(client, shop.body(next(names)))
                if done.status != "completed":
                    raise SystemExit(f"workflow {done.id} ended {done.status}: {done.error}")
                pairs.append((steps, done))
        wall = time.monotonic() - started
        after = scrape(system)
        rows: list[tuple[float, float, float, Done, dict[str, float]]] = []
        found: list[Hop] = []
        own: list[dict[str, float]] = []
        for steps, done in pairs:
            history = gateway_steps(client, done.id)
            these = hops(client, system, done.id, history)
            found.extend(these)
            own.append(gateway_own(history, done))
            full = sum(steps.values())
            needed = full - steps["self_check"]
            budget = HOP_BUDGET * len(these)
            rows.append(
                (
                    done.latency / (1.5 * full + budget),
                    done.latency / (1.5 * needed + budget),
                    full,
                    done,
                    steps,
                )
            )
    ratio = statistics.median(r[0] for r in rows)
    ratio_needed = statistics.median(r[1] for r in rows)
    measured = statistics.median(r[3].latency for r in rows)
    full = statistics.median(r[2] for r in rows)
    steps = {k: statistics.median(r[4][k] for r in rows) for k in rows[0][4]}
    hop_count = round(len(found) / len(rows))
    print(f"(e) latency, shop, one process per service, {runs} runs (medians):")
    print(
        f"  in process              {ms(full):>9}  = "
        + " + ".join(f"{k} {ms(v)}" for k, v in steps.items())
    )
    print(f"  submit -> published     {ms(measured):>9}  swarm hops {hop_count}")
    print(
        f"  overhead of the system  {ms(measured - full):>9}  "
        f"({(measured - full) / hop_count * 1000:.0f} ms per hop)"
    )
    print(f"  ratio measured / (1.5 x in process + 100 ms x hops)          {ratio:6.2f}  goal <= 1")
    print(
        f"  the same without the self-check in the denominator           {ratio_needed:6.2f}  "
        "(the self-check counted as overhead)"
    )
    print_hops(found, "shop")
    nodes = {n for o in own for n in o}
    gateway = {n: statistics.median(o.get(n, 0.0) for o in own) for n in nodes}
    print(
        f"  the gateway's own steps {ms(sum(gateway.values())):>9}  = "
        + " + ".join(f"{n} {ms(v)}" for n, v in sorted(gateway.items(), key=lambda x: -x[1]))
    )
    checkpoint = metric_delta(before, after, "autopilot_checkpoint_write_seconds_sum")
    writes = metric_delta(before, after, "autopilot_checkpoint_write_seconds_count")
    print(
        "  checkpoint writes per chart: "
        + ", ".join(
            f"{s} {writes[s] / runs:.0f} ({ms(checkpoint.get(s, 0.0) / runs)})"
            for s in sorted(writes)
            if writes[s]
        )
    )
    calls = metric_delta(before, after, "autopilot_http_request_duration_seconds_count")
    serving = metric_delta(before, after, "autopilot_http_request_duration_seconds_sum")
    print(
        f"  gateway API calls per chart (this bench's polls included): "
        f"{calls.get('gateway', 0.0) / runs:.0f} ({ms(serving.get('gateway', 0.0) / runs)})"
    )
    print_cpu(spent, wall, runs)
    system_cpu = sum(v for k, v in spent.processes.items() if not k.startswith("bench"))
    print(
        f"  CPU per chart (robust to other load on the machine): in process "
        f"{ms(in_process_cpu / runs)}, the system's processes {ms(system_cpu / runs)} "
        f"({system_cpu / in_process_cpu:.2f} x)"
    )
    print(
        f"(e) RATIO {ratio:.3f} LATENCY_MS {measured * 1000:.0f} IN_PROCESS_MS {full * 1000:.0f} "
        f"HOPS {hop_count}"
    )


def throughput(charts: int, concurrency: int) -> None:
    """(f) charts per second with two generator and two validator replicas."""
    inputs = [Input.load(p) for p in MIX]
    jobs = [
        (inputs[i % len(inputs)], f"{inputs[i % len(inputs)].name}-f{i}") for i in range(charts)
    ]
    with (
        running(THROUGHPUT_REPLICAS) as system,
        httpx.Client(
            base_url=system.url, timeout=60, limits=httpx.Limits(max_connections=concurrency + 2)
        ) as client,
    ):
        # Each replica's first request pays first-use costs; a warm-up round per replica.
        warm = [(item, f"{item.name}-warm{i}") for i, item in enumerate(inputs[: 2 * concurrency])]
        _fan_out(client, warm[:concurrency], concurrency)
        before = scrape(system)
        with cpu_meter(system) as spent:
            started = time.time()
            done = _fan_out(client, jobs, concurrency)
        after = scrape(system)
        wall = max(d.finished for d in done) - started
        failed = [d for d in done if d.status != "completed"]
        found: list[Hop] = []
        for d in done:
            found.extend(hops(client, system, d.id))
    latencies = [d.latency for d in done if d.status == "completed"]
    rate = len(latencies) / wall
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    replicas = ", ".join(f"{k} x{v}" for k, v in THROUGHPUT_REPLICAS.items())
    print(
        f"\n(f) throughput, {charts} charts ({len(MIX)} inputs in turn), {concurrency} in flight, "
        f"{replicas}, planner x1:"
    )
    print(
        f"  {rate:.3f} charts/s over {wall:.1f} s; submit -> published p50 {ms(p50)}, "
        f"p95 {ms(p95)}; {len(failed)} not published"
    )
    summary = print_hops(found, "all charts")
    busy = metric_delta(before, after, "autopilot_swarm_duration_seconds_sum")
    print(
        "  request seconds per replica-second (busy share of each swarm's processes): "
        + ", ".join(
            f"{s} {busy.get(s, 0.0) / (wall * _replicas(s)):.0%}"
            for s in ("planner", "generator", "validator")
        )
    )
    print_cpu(spent, wall, len(done))
    print("  " + bottleneck(summary, spent, wall))
    print(
        f"(f) CHARTS_PER_S {rate:.3f} P50_MS {p50 * 1000:.0f} P95_MS {p95 * 1000:.0f} "
        f"FAILED {len(failed)}"
    )


def _replicas(service: str) -> int:
    """Processes of a service in the throughput run."""
    return THROUGHPUT_REPLICAS.get(service, 1)


def _fan_out(
    client: httpx.Client, jobs: Sequence[tuple[Input, str]], concurrency: int
) -> list[Done]:
    """Submit the jobs, at most `concurrency` in flight; a slot submits its next when one ends."""
    lock = threading.Lock()
    queue = iter(jobs)
    done: list[Done] = []

    def slot() -> None:
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return
            item, name = job
            result = submit_and_wait(client, item.body(name))
            with lock:
                done.append(result)

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(slot) for _ in range(concurrency)]:
            future.result()
    return done


def bottleneck(summary: dict[str, dict[str, float]], use: CpuUse, wall: float) -> str:
    """One sentence naming the bottleneck: the CPU or not, the longest wait (a swarm's queue or
    the gateway taking swarm results up), the longest step and the service using most CPU."""
    if not summary:
        return "bottleneck: no hops measured"
    cores = os.cpu_count() or 1
    busy = use.machine / (wall * cores)
    ours = sum(use.processes.values()) / (wall * cores)
    cpu = (
        f"the CPU (the machine {busy:.0%} busy, {ours:.0%} of it these processes)"
        if busy > 0.85
        else f"not the CPU (the machine {busy:.0%} busy)"
    )
    queues = {f"the {swarm} queue": medians["queue"] for swarm, medians in summary.items()}
    queues["the gateway taking swarm results up"] = statistics.median(
        m["back"] for m in summary.values()
    )
    waits = max(queues, key=lambda q: queues[q])
    nodes = [
        (f"{SERVICE_OF[swarm]}:{key.removeprefix('node:')}", seconds)
        for swarm, medians in summary.items()
        for key, seconds in medians.items()
        if key.startswith("node:")
    ]
    step, seconds = max(nodes, key=lambda x: x[1])
    by_service: dict[str, float] = defaultdict(float)
    for name, cpu_seconds_spent in use.processes.items():
        if name.startswith("bench"):
            continue
        by_service[name.split("-")[0]] += cpu_seconds_spent
    hungriest = max(by_service, key=lambda k: by_service[k])
    share = by_service[hungriest] / sum(by_service.values())
    return (
        f"bottleneck: {cpu}; the longest wait is {waits} (median {ms(queues[waits])} a hop); "
        f"the longest step is {step} ({ms(seconds)} median); "
        f"the {hungriest} processes use {share:.0%} of the CPU"
    )


def main() -> None:
    """Print each figure with the commands that reproduce it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="shop runs each way for (e)")
    parser.add_argument("--charts", type=int, default=20, help="charts submitted for (f)")
    parser.add_argument("--concurrency", type=int, default=4, help="charts in flight for (f)")
    parser.add_argument("--only", default="e,f", help="which figures, e.g. f")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped, too
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start\n")
    if "e" in only:
        with tempfile.TemporaryDirectory(prefix="autopilot-bench-") as tmp:
            latency(args.runs, InProcess(Path(tmp)))
    if "f" in only:
        throughput(args.charts, args.concurrency)
    print("\nreproduce (from the repository root):")
    argv = [
        sys.executable,
        "bench/system.py",
        "--runs",
        str(args.runs),
        "--charts",
        str(args.charts),
        "--concurrency",
        str(args.concurrency),
    ]
    print("  " + shlex.join(argv))
    print("  # by hand: autopilot up --replicas generator=2 --replicas validator=2, then")
    print("  # autopilot submit examples/shop.yaml -o X --yes --gateway http://127.0.0.1:<port>")


if __name__ == "__main__":
    main()
