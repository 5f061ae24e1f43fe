"""`autopilot up`'s process supervision: keys, pid files, restarts, clean stop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from services.cli.local import Launcher, aes_key
from shared.infra.embedded import Servers
from tests.support.polling import eventually_async


def test_aes_key_is_generated_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANGGRAPH_AES_KEY", raising=False)
    key = aes_key(tmp_path)
    assert len(key.encode()) == 32
    assert aes_key(tmp_path) == key
    assert (tmp_path / "aes.key").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("LANGGRAPH_AES_KEY", "k" * 16)
    assert aes_key(tmp_path) == "k" * 16


def test_a_dying_service_is_restarted_and_stop_cleans_up(tmp_path: Path) -> None:
    servers = Servers(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1:1/x")

    def command(name: str) -> list[str]:
        # "short" exits at once; "long" runs until stopped.
        code = "import time; time.sleep(0.05)" if name == "short" else "import time; time.sleep(60)"
        return [sys.executable, "-c", code]

    launcher = Launcher(servers, tmp_path, 0, "k" * 32, services=("short", "long"), command=command)

    async def run() -> list[int]:
        seen: list[int] = []
        pid_file = tmp_path / "pids" / "short.pid"

        def pids() -> list[int]:
            """Every pid the short service's pid file has named so far."""
            text = pid_file.read_text() if pid_file.exists() else ""
            if text.strip() and int(text) not in seen:
                seen.append(int(text))
            return seen

        watcher = asyncio.create_task(launcher.watch())
        try:
            return await eventually_async(
                pids,
                until=lambda seen: len(seen) >= 3,
                timeout=15,
                message="the exiting service was not restarted twice",
            )
        finally:
            launcher.stopping = True
            watcher.cancel()

    pids = asyncio.run(run())
    assert len(pids) >= 3, "the exiting service was restarted at least twice"
    long_proc = next(c.process for c in launcher.children if c.name == "long")
    assert long_proc is not None and long_proc.poll() is None
    env = launcher.children[0]
    assert env.log_path.exists()
    launcher.stop(timeout=5)
    assert long_proc.poll() is not None
    assert not list((tmp_path / "pids").iterdir())
    with pytest.raises(ProcessLookupError):
        os.kill(long_proc.pid, 0)


def test_a_second_up_on_a_held_data_dir_exits_at_once_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from services.cli.local import DataDirLock
    from services.cli.main import main

    with DataDirLock(tmp_path):
        start = time.monotonic()
        assert main(["up", "--data-dir", str(tmp_path)]) == 3
        assert time.monotonic() - start < 5
        err = capsys.readouterr().err.strip()
        assert f"pid {os.getpid()}, since " in err and "\n" not in err
        assert not (tmp_path / "nats").exists() and not (tmp_path / "postgres").exists()
    # Released: the next holder takes it and the file names the new one.
    with DataDirLock(tmp_path) as lock:
        assert lock.path.read_text().split()[0] == str(os.getpid())


def test_a_killed_embedded_nats_is_restarted_on_the_same_port(tmp_path: Path) -> None:
    from shared.infra.embedded import EmbeddedNats

    with EmbeddedNats(tmp_path / "nats") as nats:
        servers = Servers(nats_url=nats.url, database_url="postgresql://x@127.0.0.1:1/x", nats=nats)
        launcher = Launcher(servers, tmp_path, 0, "k" * 32, services=())
        port, first = nats.port, nats.pid
        assert first is not None

        async def run() -> int | None:
            pid_file = tmp_path / "pids" / "nats.pid"
            watcher = asyncio.create_task(launcher.watch_servers())
            await eventually_async(
                lambda: pid_file.exists() and pid_file.read_text() == f"{first}\n",
                timeout=10,
                message="the watcher did not record the running server's pid",
            )
            os.kill(first, 9)
            await eventually_async(
                lambda: nats.pid not in (None, first),
                timeout=10,
                message="the killed server was not restarted",
            )
            launcher.stopping = True
            await watcher
            return nats.pid

        second = asyncio.run(run())
        assert second not in (None, first) and nats.port == port
        assert int((tmp_path / "pids" / "nats.pid").read_text()) == second
        launcher.stop(timeout=5)
        assert not (tmp_path / "pids" / "nats.pid").exists()


def test_replicas_parse_from_repeated_or_comma_separated_flags() -> None:
    """Repeated flags and comma lists give one service -> count mapping."""
    from services.cli.local import parse_replicas

    assert parse_replicas([]) == {}
    assert parse_replicas(["generator=2", "validator=3"]) == {"generator": 2, "validator": 3}
    assert parse_replicas(["generator=2, validator = 1", "planner=16"]) == {
        "generator": 2,
        "validator": 1,
        "planner": 16,
    }


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("gateway=2", "'gateway' cannot be replicated (one process only); one of planner, "),
        ("notifier=2", "'notifier' cannot be replicated (one process only)"),
        ("nope=2", "'nope' cannot be replicated; one of planner, generator, validator"),
        ("generator", "'generator' is not SERVICE=N"),
        ("=2", "'=2' is not SERVICE=N"),
        ("generator=0", "the count must be a whole number from 1 to 16"),
        ("generator=17", "the count must be a whole number from 1 to 16"),
        ("generator=-1", "the count must be a whole number from 1 to 16"),
        ("generator=two", "the count must be a whole number from 1 to 16"),
        ("generator=2,generator=3", "generator is given twice"),
    ],
)
def test_bad_replicas_are_one_line_exit_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, says: str
) -> None:
    """A bad --replicas is `error: --replicas: ...` on one line, exit 2, and nothing started."""
    from services.cli.main import main

    assert main(["up", "--data-dir", str(tmp_path / "data"), "--replicas", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --replicas: ") and says in err and err.count("\n") == 1
    assert not (tmp_path / "data").exists(), "nothing was started or created"


def test_up_help_names_the_replicas_option(capsys: pytest.CaptureFixture[str]) -> None:
    """`autopilot up --help` shows the option, an example and the allowed counts."""
    from services.cli.local import MAX_REPLICAS
    from services.cli.main import main

    with pytest.raises(SystemExit):
        main(["up", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--replicas SERVICE=N" in text and "generator=2" in text
    assert f"N from 1 to {MAX_REPLICAS}" in text


def test_replicas_run_as_processes_of_their_own_sharing_the_service_command(
    tmp_path: Path,
) -> None:
    """Each replica is a process of its own (name, /metrics port, pid file, log) running its
    service's command; stop ends them all."""
    servers = Servers(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1:1/x")
    asked: list[str] = []

    def command(name: str) -> list[str]:
        asked.append(name)
        return [sys.executable, "-c", "import time; time.sleep(60)"]

    launcher = Launcher(
        servers,
        tmp_path,
        4321,
        "k" * 32,
        services=("planner", "generator", "validator", "gateway"),
        command=command,
        replicas={"generator": 2, "validator": 3},
    )
    names = [c.name for c in launcher.children]
    assert names == [
        "planner",
        "generator",
        "generator-2",
        "validator",
        "validator-2",
        "validator-3",
        "gateway",
    ]
    assert [c.service for c in launcher.children] == [
        "planner",
        "generator",
        "generator",
        "validator",
        "validator",
        "validator",
        "gateway",
    ]
    ports = [c.port for c in launcher.children]
    assert ports[-1] == 4321 and len(set(ports)) == len(ports), "a /metrics port per replica"
    try:
        for child in launcher.children:
            launcher.start(child)
        assert asked == [c.service for c in launcher.children]
        pids = {p.stem: int(p.read_text()) for p in (tmp_path / "pids").glob("*.pid")}
        assert set(pids) == set(names) and len(set(pids.values())) == len(names)
        assert (tmp_path / "logs" / "validator-3.log").exists()
    finally:
        launcher.stop(timeout=5)
    assert not list((tmp_path / "pids").iterdir())


def test_a_live_postmaster_pid_is_running_without_asking_pg_ctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The once-a-second check trusts a postmaster pid that answers signal 0; a dead or missing
    pid falls back to the server's own check (pg_ctl status)."""
    import subprocess

    from services.cli import local
    from shared.infra.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path / "pg")
    server.data_dir.mkdir()
    asked: list[str] = []
    monkeypatch.setattr(EmbeddedPostgres, "running", property(lambda self: asked.append("pg_ctl")))
    (server.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data_dir}\n")
    assert local._is_running(server) is True and asked == []

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (server.data_dir / "postmaster.pid").write_text(f"{gone.pid}\n")
    assert not local._is_running(server) and asked == ["pg_ctl"]
    (server.data_dir / "postmaster.pid").unlink()
    assert not local._is_running(server) and asked == ["pg_ctl", "pg_ctl"]
