"""The controlling terminal: ask a human at a gate even when stdin carries the input.

/dev/tty is opened twice, once to read and once to write: a terminal is not seekable, so
one read-write text stream (`open("/dev/tty", "r+")`) fails on a real pty.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import IO, TextIO

from services.cli.settings import CliSettings

NO_TERMINAL = "a human gate is waiting and there is no terminal; pass --yes"


def colour_enabled(stream: IO[str]) -> bool:
    """Colour only on a terminal, never with NO_COLOR set or TERM=dumb."""
    if not CliSettings().colour_allowed:
        return False
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


class Terminal:
    """A conversation with the person at the controlling terminal."""

    def __init__(self, reader: TextIO, writer: TextIO) -> None:
        """Talk through `reader` and `writer`; colour when the writer is a terminal that allows it."""
        self.reader = reader
        self.writer = writer
        self.colour = colour_enabled(writer)

    @classmethod
    def open(cls) -> Terminal:
        """The controlling terminal, or AutopilotError naming --yes when there is none."""
        from shared.errors import AutopilotError

        try:
            reader = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            raise AutopilotError(NO_TERMINAL, field="--yes") from exc
        try:
            writer = open("/dev/tty", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            reader.close()
            raise AutopilotError(NO_TERMINAL, field="--yes") from exc
        return cls(reader, writer)

    def __enter__(self) -> Terminal:
        """The terminal itself, closed at the end of the block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close both streams."""
        self.close()

    def close(self) -> None:
        """Close both streams."""
        for stream in (self.writer, self.reader):
            try:
                stream.close()
            except OSError:
                pass

    def say(self, text: str) -> None:
        """Write text (with a final newline) and flush."""
        self.writer.write(text if text.endswith("\n") else text + "\n")
        self.writer.flush()

    def ask(self, question: str) -> str:
        """One answer line; a closed terminal is an error, not an empty answer."""
        from shared.errors import AutopilotError

        self.writer.write(question)
        self.writer.flush()
        line = self.reader.readline()
        if not line:
            raise AutopilotError("the terminal closed while a gate was waiting", field="--yes")
        return line.strip()

    def page(self, text: str) -> None:
        """Show text through $PAGER (default `less -R`); print it when no pager runs."""
        command = shlex.split(CliSettings().pager_command)
        if command:
            try:
                subprocess.run(
                    command,
                    input=text,
                    text=True,
                    stdout=self.writer,
                    stderr=self.writer,
                    check=False,
                )
                return
            except OSError:
                pass
        self.say(text)

    def edit(self, text: str, suffix: str = ".yaml") -> str:
        """Open $VISUAL / $EDITOR (default vi) on text in a temp file; returns the result."""
        from shared.errors import AutopilotError

        editor = CliSettings().editor_command
        with tempfile.TemporaryDirectory(prefix="autopilot-edit-") as tmp:
            path = Path(tmp) / f"plan{suffix}"
            path.write_text(text, encoding="utf-8")
            try:
                subprocess.run(
                    [*shlex.split(editor), str(path)],
                    stdin=self.reader,
                    stdout=self.writer,
                    check=True,
                )
            except (OSError, subprocess.CalledProcessError) as exc:
                raise AutopilotError(
                    f"the editor {editor!r} failed: {exc}", field="EDITOR"
                ) from exc
            return path.read_text(encoding="utf-8")


def ask(text: str, *questions: str) -> list[str]:
    """Show `text` on the terminal, ask each question in turn, return the answers."""
    with Terminal.open() as term:
        if text:
            term.say(text)
        return [term.ask(q) for q in questions]
