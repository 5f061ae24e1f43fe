"""Drive a command in a real pseudo-terminal: the pty is the child's controlling terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PtySession:
    """One child process on a fresh pty (pty.fork: setsid + the slave as its ctty)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: its /dev/tty is this pty
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.raw = b""
        self.seen = 0  # how much of the screen `expect` already matched
        self.code: int | None = None

    @property
    def text(self) -> str:
        """Everything the child wrote, ANSI sequences removed, newlines normalised."""
        return ANSI.sub("", self.raw.decode(errors="replace")).replace("\r\n", "\n")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the pty
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, needle: str, timeout: float = 60.0) -> str:
        """Wait until `needle` appears after the last match; returns the text up to it."""
        deadline = time.monotonic() + timeout
        while True:
            at = self.text.find(needle, self.seen)
            if at >= 0:
                self.seen = at + len(needle)
                return self.text[:at]
            if time.monotonic() > deadline or not self._read(0.2):
                if self.text.find(needle, self.seen) >= 0:
                    continue
                raise AssertionError(f"{needle!r} not seen; the screen:\n{self.text[-3000:]}")

    def send(self, line: str) -> None:
        """Type a line and Enter."""
        os.write(self.fd, (line + "\r").encode())

    def wait(self, timeout: float = 120.0) -> int:
        """Read until the child exits; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            alive = self._read(0.2)
            if done:
                while self._read(0.05) and self._read(0):
                    pass
                self.code = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.code
            if not alive:
                _, status = os.waitpid(self.pid, 0)
                self.code = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.code
        self.kill()
        raise AssertionError(f"the command did not finish; the screen:\n{self.text[-3000:]}")

    def kill(self) -> None:
        """Stop the child if it still runs."""
        if self.code is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            try:
                os.close(self.fd)
            except OSError:
                pass
