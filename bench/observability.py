"""What metrics and tracing cost on end-to-end workflow latency: on vs off, one run, a ratio.

Two systems (`autopilot up`, embedded NATS and PostgreSQL each) run side by side:

- on:  Prometheus metrics on (the default) and LangSmith tracing on (`LANGSMITH_TRACING=true`),
       its endpoint a local HTTP sink this script serves on 127.0.0.1, so nothing leaves the
       machine; every LangGraph run (supervisor graph and swarm subgraphs) is traced, not only
       model calls, so tracing costs something even in offline mode;
- off: `AUTOPILOT_METRICS_ENABLED=false`, `LANGSMITH_TRACING=false`.

The same example goes through both, alternating on/off workflow by workflow (after one warm-up
each) so drift and noise hit both sides alike; every gate auto-approved. Prints the medians and
the on/off ratio, and what the trace sink received (proof that tracing really ran).

    .venv/bin/python bench/observability.py [--runs 5] [--example examples/shop.yaml]
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.cli.commands.submit import submit  # noqa: E402
from services.cli.demo import System, scratch_dir, start_system, stop_system  # noqa: E402


class TraceSink(http.server.ThreadingHTTPServer):
    """Accepts whatever the LangSmith client sends and counts it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where LANGSMITH_ENDPOINT points."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    """200 with an empty JSON object for every request; bodies are read and counted."""

    server: TraceSink

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests += 1
            self.server.bytes += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_PUT = _answer  # noqa: N815 (http.server's names)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def run_once(system: System, example: Path, out: Path) -> float:
    """Seconds from submit to the chart on disk; raises if the workflow did not complete."""
    lines: list[str] = []
    started = time.perf_counter()
    code = submit(example.read_bytes(), system.url, out, yes=True, echo=lines.append, timeout=300)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError("workflow failed:\n" + "\n".join(lines))
    return seconds


def scrape_size(system: System) -> int:
    """Bytes of the gateway's /metrics now (0 when metrics are off)."""
    return len(httpx.get(f"{system.url}/metrics", timeout=10).content)


def main() -> int:
    """Start both systems, alternate workflows, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured workflows per side")
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "shop.yaml")
    args = parser.parse_args()

    sink = TraceSink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    on_env = {
        "AUTOPILOT_METRICS_ENABLED": "true",
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_API_KEY": "bench-dummy-key",
        "LANGSMITH_ENDPOINT": sink.url,
        "LANGSMITH_PROJECT": "autopilot-bench",
    }
    off_env = {"AUTOPILOT_METRICS_ENABLED": "false", "LANGSMITH_TRACING": "false"}
    times: dict[str, list[float]] = {"on": [], "off": []}
    with (
        scratch_dir("autopilot-bench-on-") as on_dir,
        scratch_dir("autopilot-bench-off-") as off_dir,
    ):
        print("starting two systems (metrics+tracing on / off)...", flush=True)  # noqa: T201
        systems = {"on": start_system(on_dir, **on_env), "off": start_system(off_dir, **off_env)}
        try:
            with tempfile.TemporaryDirectory(prefix="autopilot-bench-out-") as tmp:
                for side, system in systems.items():  # warm-up: imports, pools, first compile
                    run_once(system, args.example, Path(tmp) / f"warm-{side}")
                for i in range(args.runs):
                    # Alternate which side goes first, so neither always follows the other.
                    order = ("on", "off") if i % 2 == 0 else ("off", "on")
                    for side in order:
                        out = Path(tmp) / f"{side}-{i}"
                        times[side].append(run_once(systems[side], args.example, out))
                    print(  # noqa: T201
                        f"run {i + 1}/{args.runs}: on {times['on'][-1]:.3f}s"
                        f"  off {times['off'][-1]:.3f}s",
                        flush=True,
                    )
                sizes = {side: scrape_size(system) for side, system in systems.items()}
        finally:
            for system in systems.values():
                stop_system(system)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"\nexample: {args.example.name}, {args.runs} workflows per side, gates auto-approved")  # noqa: T201
    print(f"median end-to-end, metrics+tracing on : {on:.3f}s  (min {min(times['on']):.3f}s)")  # noqa: T201
    print(f"median end-to-end, metrics+tracing off: {off:.3f}s  (min {min(times['off']):.3f}s)")  # noqa: T201
    print(f"ratio on/off: {on / off:.3f}  ({(on / off - 1) * 100:+.1f}%)")  # noqa: T201
    print(  # noqa: T201
        f"trace sink received {sink.requests} requests, {sink.bytes / 1024:.0f} KiB; "
        f"gateway /metrics: {sizes['on']} bytes on, {sizes['off']} bytes off"
    )
    sink.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
