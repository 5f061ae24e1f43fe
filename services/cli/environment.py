"""The CLI's environment without pydantic: what the daemon's fast path and child processes need.

`settings.py` (CliSettings, pydantic) is the CLI's settings class; this module is its light
half, so a `generate` handed to the warm daemon decides, and forwards the user's environment,
without importing pydantic. Both are the only CLI modules that read the environment.

    AUTOPILOT_DAEMON   1 (true/yes/on): `generate --yes` hands the run to the warm daemon
    XDG_RUNTIME_DIR    where the daemon's socket lives (else the cache directory)
    XDG_CACHE_HOME     the cache directory (default ~/.cache): the daemon's log
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def truthy(value: str) -> bool:
    """1, true, yes or on (any case, blanks around)."""
    return value.strip().lower() in ("1", "true", "yes", "on")


def cache_dir(cache_home: str) -> Path:
    """The CLI's cache directory: <cache_home>/autopilot, else ~/.cache/autopilot."""
    base = Path(cache_home) if cache_home else Path.home() / ".cache"
    return base / "autopilot"


def daemon_dir(runtime_dir: str, cache_home: str) -> Path:
    """The daemon's socket directory: <runtime_dir>/autopilot, else the cache dir's daemon/."""
    return Path(runtime_dir) / "autopilot" if runtime_dir else cache_dir(cache_home) / "daemon"


def daemon_places() -> tuple[bool, Path, Path]:
    """(AUTOPILOT_DAEMON is on, the daemon's socket directory, its log file), read now."""
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    return (
        truthy(os.environ.get("AUTOPILOT_DAEMON", "")),
        daemon_dir(os.environ.get("XDG_RUNTIME_DIR", ""), cache_home),
        cache_dir(cache_home) / "daemon.log",
    )


def shell_environment() -> dict[str, str]:
    """A copy of the user's shell environment: what fills a Compose file's `${VAR}` (and
    COMPOSE_PROFILES) when the CLI plans on the user's own machine, as `docker compose` does."""
    return dict(os.environ)


HELM_GOGC = "200"
"""GOGC for the processes this CLI starts that render charts (services, the daemon).

A Helm render (helm-python-sdk's Go runtime) allocates most of its memory for the values
schema check and drops it at once; at Go's default GOGC=100 the collector runs about once per
render. At 200 a shop render takes about 14% less time and 19% less CPU for about 4 MB more
memory (measured side by side). Go reads GOGC from the environment the process was started
with, so it can only be set for a child (and in the image, Dockerfile); a GOGC the user set
is kept."""


def child_environment(
    overrides: Mapping[str, str] | None = None,
    *,
    without: Iterable[str] = (),
    renders: bool = False,
) -> dict[str, str]:
    """The environment a child process runs with: this one, minus `without`, plus `overrides`;
    with `renders` (a process that renders charts) GOGC is HELM_GOGC unless already set."""
    dropped = set(without)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    if renders:
        env.setdefault("GOGC", HELM_GOGC)
    env.update(overrides or {})
    return env


@contextmanager
def request_environment(environ: Mapping[str, str]) -> Iterator[None]:
    """This process's environment replaced by `environ` for the block, then restored: the
    daemon runs one request at a time with the environment of the client that sent it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
