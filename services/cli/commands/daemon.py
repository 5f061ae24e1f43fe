"""`autopilot daemon start|stop|status`: the warm per-user daemon `generate --yes` can hand
its run to (--daemon or AUTOPILOT_DAEMON=1); see services/cli/daemon.py."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_UNAVAILABLE = 3


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    cmd = sub.add_parser(
        "daemon",
        help="start, stop or show the warm daemon that `generate --yes --daemon` uses",
        description="A per-user daemon with the planner, generator and validator loaded: "
        "`generate --yes` with --daemon or AUTOPILOT_DAEMON=1 runs in it. It exits after "
        "AUTOPILOT_DAEMON_IDLE seconds without work (default 900).",
    )
    cmd.add_argument(
        "action",
        choices=["start", "stop", "status", "run"],
        help="start (in the background), stop, status; run: serve in the foreground",
    )
    cmd.add_argument(
        "-o", "--output", choices=["table", "json", "yaml"], default="table", help="format"
    )
    cmd.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start, stop, show or run the daemon of this code."""
    from services.cli import daemon
    from services.cli.settings import CliSettings

    settings = CliSettings()
    directory = settings.daemon_dir
    if args.action == "run":
        return daemon.Daemon(directory, settings.daemon_idle_seconds).serve()
    daemon.private_dir(directory)
    code = daemon.fingerprint()
    current = daemon.status(directory, code)
    if args.action == "status":
        _show(current, args.output)
        return 0 if current else EXIT_UNAVAILABLE
    if args.action == "stop":
        return _stop(directory, args.output)
    if current is not None:
        _say({"running": True, "message": f"already running (pid {current['pid']})"}, args.output)
        return 0
    log = settings.cache_dir / "daemon.log"
    pid = daemon.spawn(log)
    deadline = time.monotonic() + daemon.START_TIMEOUT
    while time.monotonic() < deadline:
        current = daemon.status(directory, code) or _by_pid(directory, pid)
        if current is not None:
            message = f"daemon started (pid {current['pid']}, socket {current['socket']})"
            _say({"running": True, "message": message, **current}, args.output)
            return 0
        time.sleep(0.1)
    print(f"error: the daemon (pid {pid}) did not answer; see {log}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def _by_pid(directory: Path, pid: int) -> dict[str, object] | None:
    """The status of the daemon with this pid (a file edited while it warmed up gives it
    another fingerprint than the one this process computed)."""
    from services.cli import daemon

    for path in daemon.running(directory):
        answer = daemon.call(path, {"op": "status"}, timeout=10)
        if answer.get("pid") == pid:
            return answer
    return None


def _stop(directory: Path, fmt: str) -> int:
    """Stop every daemon under `directory` (those of older code too) and wait for each."""
    from services.cli import daemon

    stopped = []
    for path in daemon.running(directory):
        try:
            stopped.append(daemon.call(path, {"op": "stop"}, timeout=10)["pid"])
        except (OSError, KeyError, daemon.DaemonError):
            continue  # it went away on its own
        deadline = time.monotonic() + 30
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    message = f"stopped daemon {', '.join(map(str, stopped))}" if stopped else "no daemon running"
    _say({"running": False, "message": message, "stopped": stopped}, fmt)
    return 0


def _show(current: dict[str, object] | None, fmt: str) -> None:
    """`daemon status` in the chosen format."""
    body: dict[str, object] = {"running": current is not None, **(current or {})}
    if fmt != "table":
        print(_dump(body, fmt))
    elif current is None:
        print("no daemon running for this code")
    else:
        print("\n".join(f"{key + ':':22}{value}" for key, value in body.items()))


def _say(body: dict[str, object], fmt: str) -> None:
    """A start or stop result: its message, or the whole object with -o json|yaml."""
    print(body["message"] if fmt == "table" else _dump(body, fmt))


def _dump(body: dict[str, object], fmt: str) -> str:
    """-o json / -o yaml."""
    if fmt == "json":
        return json.dumps(body, indent=2)
    import yaml

    return str(yaml.safe_dump(body, sort_keys=False)).rstrip()
