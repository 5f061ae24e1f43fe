"""`autopilot up`'s process supervision: keys, pid files, restarts, clean stop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from services.cli.local import Launcher, aes_key
from shared.infra.embedded import Servers


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
        watcher = asyncio.create_task(launcher.watch())
        for _ in range(60):
            await asyncio.sleep(0.1)
            pid = int((tmp_path / "pids" / "short.pid").read_text())
            if pid not in seen:
                seen.append(pid)
            if len(seen) >= 3:
                break
        launcher.stopping = True
        watcher.cancel()
        return seen

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
            watcher = asyncio.create_task(launcher.watch_servers())
            await asyncio.sleep(0.2)
            assert int((tmp_path / "pids" / "nats.pid").read_text()) == first
            os.kill(first, 9)
            for _ in range(100):
                await asyncio.sleep(0.1)
                if nats.pid not in (None, first):
                    break
            launcher.stopping = True
            await watcher
            return nats.pid

        second = asyncio.run(run())
        assert second not in (None, first) and nats.port == port
        assert int((tmp_path / "pids" / "nats.pid").read_text()) == second
        launcher.stop(timeout=5)
        assert not (tmp_path / "pids" / "nats.pid").exists()
