"""Step progress with timings: a line that updates in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from services.cli.summaries import Style
from services.cli.terminal import colour_enabled


class Progress:
    """Prints each step as it starts and ends, with how long it took (to stderr)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        """Report to `stream` (stderr by default); nothing at all when quiet."""
        self.stream = stream or sys.stderr
        self.quiet = quiet
        try:
            self.live = self.stream.isatty()
        except (ValueError, OSError):
            self.live = False
        self.style = Style(colour_enabled(self.stream))

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Time one step; on a terminal the running step shows until it ends."""
        if self.quiet:
            yield
            return
        start = time.monotonic()
        if self.live:
            self.stream.write(f"  ... {label}")
            self.stream.flush()
        try:
            yield
        except BaseException:
            if self.live:
                self.stream.write(f"\r\033[K  {self.style('failed', 'red')} {label}\n")
                self.stream.flush()
            raise
        took = time.monotonic() - start
        if self.live:
            done = self.style("done", "green")
            self.stream.write(f"\r\033[K  {done} {label}  {self.style(f'{took:.1f}s', 'dim')}\n")
        else:
            self.stream.write(f"  {label}: {took:.1f}s\n")
        self.stream.flush()
