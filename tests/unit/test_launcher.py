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
